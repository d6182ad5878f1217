"""Small shared pieces for the zoo's builders."""

from __future__ import annotations


def check_latent_dim(latent_dim: int) -> int:
    if int(latent_dim) <= 0:
        raise ValueError(f"latent_dim must be positive, got {latent_dim}")
    return int(latent_dim)


def check_divisible(image_shape, factor: int, what: str) -> tuple[int, int, int]:
    """Height and width must be multiples of ``factor`` for ``what`` to produce them exactly."""
    h, w, c = (int(d) for d in image_shape)
    if h % factor or w % factor or h <= 0 or w <= 0 or c not in (1, 3):
        raise ValueError(
            f"image shape {h}x{w}x{c} is not one {what} can produce: height and width must be "
            f"positive multiples of {factor} and channels 1 or 3"
        )
    return h, w, c
