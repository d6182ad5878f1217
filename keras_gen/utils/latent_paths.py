"""Paths between two latents, in NumPy: what ``GenerativeModel.interpolate``, an export's
``LoadedExport.interpolate`` and the latent explorer (explorer.js mirrors the slerp) draw."""

from __future__ import annotations

import numpy as np


def spherical_interpolation(z0: np.ndarray, z1: np.ndarray, t: np.ndarray) -> np.ndarray:
    """slerp from ``z0`` to ``z1`` ([latent] each) at fractions ``t`` ([S]) -> ``[S, latent]``; the
    great-circle path (Shoemake 1985), scaled like White 2016; linear where the two are parallel."""
    n0, n1 = np.linalg.norm(z0), np.linalg.norm(z1)
    cos = float(np.dot(z0, z1) / max(n0 * n1, 1e-12))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if np.sin(omega) < 1e-6:
        return linear_interpolation(z0, z1, t)
    t = t[:, None]
    return (np.sin((1.0 - t) * omega) * z0 + np.sin(t * omega) * z1) / np.sin(omega)


def linear_interpolation(z0: np.ndarray, z1: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``(1 - t) z0 + t z1``: ``[latent], [latent], [S] -> [S, latent]``."""
    t = t[:, None]
    return (1.0 - t) * z0 + t * z1


def check_steps(steps) -> int:
    """The number of images on a path: an integer of at least 2, else a ValueError."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 2:
        raise ValueError(f"steps must be an integer of at least 2, got {steps!r}")
    return int(steps)


def latent_path(z0: np.ndarray, z1: np.ndarray, steps, *, spherical: bool = False) -> np.ndarray:
    """``steps`` latents ``[steps, latent]`` (float64) from ``z0`` to ``z1``, linear or spherical."""
    t = np.linspace(0.0, 1.0, check_steps(steps), dtype=np.float64)
    z0, z1 = np.asarray(z0, np.float64), np.asarray(z1, np.float64)
    return (spherical_interpolation if spherical else linear_interpolation)(z0, z1, t)
