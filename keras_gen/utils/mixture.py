"""A mixture of Gaussians fitted by EM (Dempster et al. 1977), for a VAE's ex-post latent sampler
(:meth:`keras_gen.families.VAE.fit_latent_sampler`).

Ghosh et al. 2020 (§4) fit scikit-learn's ``GaussianMixture`` with full covariances; this follows
it: k-means++ seeding, a few Lloyd steps, EM to a tolerance on the mean log-likelihood, a floor
added to each covariance's diagonal (scikit-learn's ``reg_covar``). ``covariance="full"`` (the
default) gives each component a full covariance, ``"diag"`` a diagonal one (what keras_gen fitted
before ``full`` was added; measured against it in docs/results/papers: the full one samples
Fashion-MNIST's codes better).

Written here rather than taken from scikit-learn: with scikit-learn installed, ``import keras``
imports ``sklearn.base`` for its wrappers, which added about 1.2 s to the start of every command
and test process on the 2-core machine this was measured on. ``benchmarks/mixture_fit.py`` times
this fit beside scikit-learn's on the same codes.
"""

from __future__ import annotations

import numpy as np

COVARIANCES = ("full", "diag")  # SciPy is imported by the fit: a model that only samples does not load it
ITERATIONS = 200  # EM iterations at most; a fit stops earlier once an iteration gains under tol


def _log_densities_diag(x, weights, means, variances) -> np.ndarray:
    """``log w_k + log N(x_n | mu_k, diag(var_k))``: ``[N, K]``, by matrix products (no [N, K, D] array)."""
    precision = 1.0 / variances  # [K, D]
    quadratic = (x ** 2) @ precision.T - 2.0 * x @ (means * precision).T + (means ** 2 * precision).sum(axis=1)
    return np.log(weights) - 0.5 * (np.log(2 * np.pi * variances).sum(axis=1) + quadratic)


_CHUNK = 1024  # points per block in the full fit: [chunk, K, D] whitened codes, 26 MB at K=100, D=32


def _log_densities_full(x, weights, means, trils) -> np.ndarray:
    """``log w_k + log N(x_n | mu_k, L_k L_k^T)``: ``[N, K]``. Each covariance's precision factor
    ``P_k = L_k^-T`` (so ``|(x - mu_k) P_k|^2`` is the Mahalanobis distance) goes into one ``[D, K*D]``
    matrix, and each block of points is whitened for every component by a single matrix product."""
    n, d = x.shape
    k = len(weights)
    eye = np.broadcast_to(np.eye(d), trils.shape)
    precisions = np.linalg.solve(trils, eye).transpose(0, 2, 1)  # [K, D, D]: L_k^-T
    stacked = precisions.transpose(1, 0, 2).reshape(d, k * d)  # [D, K*D]
    shift = np.einsum("kd,kde->ke", means, precisions)  # [K, D]: mu_k P_k
    constant = np.log(weights) - np.log(np.diagonal(trils, axis1=1, axis2=2)).sum(axis=1) - 0.5 * d * np.log(2 * np.pi)
    out = np.empty((n, k))
    for start in range(0, n, _CHUNK):
        white = (x[start:start + _CHUNK] @ stacked).reshape(-1, k, d) - shift  # [chunk, K, D]
        out[start:start + _CHUNK] = constant - 0.5 * np.einsum("nkd,nkd->nk", white, white)
    return out


def _scatter_full(x, responsibilities, means, mass) -> np.ndarray:
    """Each component's weighted covariance ``[K, D, D]``: ``sum_n r_nk y_n y_n^T / m_k - nu_k nu_k^T``
    with ``y = x - mean(x)``, ``nu_k = mu_k - mean(x)`` (centred, so the difference loses little), the
    second moments of every component from one ``[K, N] @ [N, D*D]`` product per block of points."""
    n, d = x.shape
    centre = x.mean(axis=0)
    second = np.zeros((len(mass), d * d))
    for start in range(0, n, _CHUNK):
        block = x[start:start + _CHUNK] - centre
        second += responsibilities[start:start + _CHUNK].T @ (block[:, :, None] * block[:, None, :]).reshape(-1, d * d)
    offset = means - centre
    spread = second.reshape(-1, d, d) / mass[:, None, None] - offset[:, :, None] * offset[:, None, :]
    # A component no point belongs to (every responsibility underflowed to 0) has no spread, as in the
    # per-component formula, rather than minus its offset's outer product, which no Cholesky factor has
    spread[~second.any(axis=1)] = 0.0
    return (spread + spread.transpose(0, 2, 1)) / 2  # exactly symmetric for the Cholesky factorisation


def _kmeans_start(x, k: int, rng) -> np.ndarray:
    """k-means++ seeding (Arthur & Vassilvitskii 2007), then ten Lloyd steps: the assignment ``[N]``."""
    n = len(x)
    means = [x[rng.integers(n)]]
    closest = ((x - means[0]) ** 2).sum(axis=1)
    for _ in range(1, k):
        probabilities = closest / closest.sum() if closest.sum() > 0 else np.full(n, 1.0 / n)
        means.append(x[rng.choice(n, p=probabilities)])
        closest = np.minimum(closest, ((x - means[-1]) ** 2).sum(axis=1))
    means = np.array(means)
    for _ in range(10):
        assign = ((x ** 2).sum(1)[:, None] - 2 * x @ means.T + (means ** 2).sum(1)[None, :]).argmin(axis=1)
        for j in range(k):
            if np.any(assign == j):
                means[j] = x[assign == j].mean(axis=0)
    return assign


def fit_gmm(x, components: int, *, covariance: str = "full", seed: int = 0, iterations: int = ITERATIONS,
            tol: float = 1e-5, variance_floor: float = 1e-6, progress=None) -> dict:
    """Fit ``components`` Gaussians to ``x`` ``[N, D]`` (N >= components). Returns ``{"weights" [K],
    "means" [K, D], "log_likelihood" (mean per point), "iterations", "covariance"}`` and, by
    ``covariance``, ``"variances" [K, D]`` (diag) or ``"scale_trils" [K, D, D]`` (full: the
    covariances' lower Cholesky factors). ``progress(iteration, mean log-likelihood)`` is called
    after each EM iteration (a 100-component full fit of 60,000 codes takes minutes)."""
    from scipy.special import logsumexp

    if covariance not in COVARIANCES:
        raise ValueError(f"covariance must be one of {', '.join(COVARIANCES)}, got {covariance!r}")
    x = np.asarray(x, np.float64)
    n, d = x.shape
    k = int(components)
    if n < k:
        raise ValueError(f"a {k}-component mixture needs at least {k} points, got {n}")
    full = covariance == "full"
    floor = variance_floor * np.eye(d) if full else variance_floor

    def m_step(responsibilities):  # [N, K] -> weights, means, variances [K, D] or scale_trils [K, D, D]
        mass = responsibilities.sum(axis=0) + 1e-12
        means = responsibilities.T @ x / mass[:, None]
        if full:
            return mass / n, means, np.linalg.cholesky(_scatter_full(x, responsibilities, means, mass) + floor)
        variances = np.maximum(responsibilities.T @ (x ** 2) / mass[:, None] - means ** 2, 0.0) + floor
        return mass / n, means, variances

    log_densities = _log_densities_full if full else _log_densities_diag
    assign = _kmeans_start(x, k, np.random.default_rng(seed))
    # Start from the k-means clusters: their sizes (+1, so none is empty), means and spreads (the
    # whole set's for a cluster of one point)
    counts = np.bincount(assign, minlength=k) + 1.0
    weights = counts / counts.sum()
    means = np.array([x[assign == j].mean(axis=0) if np.any(assign == j) else x.mean(axis=0) for j in range(k)])
    if full:
        spread = np.linalg.cholesky(np.array([np.cov(x[assign == j] if (assign == j).sum() > 1 else x, rowvar=False,
                                                     bias=True).reshape(d, d) for j in range(k)]) + floor)
    else:
        spread = np.array([x[assign == j].var(axis=0) if (assign == j).sum() > 1 else x.var(axis=0)
                           for j in range(k)]) + floor
    previous, mean_ll, done = -np.inf, -np.inf, 0
    for done in range(1, iterations + 1):
        log_p = log_densities(x, weights, means, spread)  # E step: [N, K]
        per_point = logsumexp(log_p, axis=1)
        mean_ll = float(per_point.mean())
        weights, means, spread = m_step(np.exp(log_p - per_point[:, None]))
        if progress is not None:
            progress(done, mean_ll)
        if mean_ll - previous < tol:
            break
        previous = mean_ll
    mean_ll = float(logsumexp(log_densities(x, weights, means, spread), axis=1).mean())
    return {"weights": weights, "means": means, ("scale_trils" if full else "variances"): spread,
            "log_likelihood": mean_ll, "iterations": done, "covariance": covariance}
