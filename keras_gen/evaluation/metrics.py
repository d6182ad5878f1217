"""Sample-quality and likelihood metrics: the numbers behind the reports' judgements by eye.

Every sample metric is a pure function of feature arrays (``numpy`` in, ``float``/``numpy``
out); :mod:`keras_gen.evaluation.extractors` turns images into those features. Conventions:

* feature arrays are ``[N, D]`` (anything else is a :class:`~keras_gen.utils.errors.UserError`);
  statistics (FID, KID, scores) are computed in float64 whatever dtype the features arrive in;
* "real" is the reference set (test or training images), "fake" the model's samples;
* nearest-neighbour searches are exact, in float32 after centring (see :func:`_manifold_sweep`),
  in row blocks of at most 8M distances (32 MB), so 10,000 x 60,000 comparisons fit in memory;
* a set too small for the requested ``k`` or ``subset_size`` is a one-line ``UserError``.

Beside a model's figure, the evaluation prints the same figure for the real test set against the
real training set: the floor a perfect model reaches with this many samples (FID and KID are
biased for finite samples; precision/recall of real data are not 1).

The VAE metrics at the end (:func:`vae_test_metrics` and friends) work on a
:class:`keras_gen.families.VAE` and an iterable of image batches instead.
"""

from __future__ import annotations

import math
import weakref
from typing import Iterable

import keras
import numpy as np
import scipy.linalg
import scipy.special
import tensorflow as tf

from keras_gen.datasets.pipeline import to_unit_range
from keras_gen.utils.errors import UserError
from keras_gen.utils.probability import tfd

# Largest block of pairwise distances held at once: 8M float32 entries = 32 MB.
_MAX_BLOCK_ENTRIES = 8_000_000


# --------------------------------------------------------------------------- input checks
def _features(x, what: str, *, min_rows: int = 1) -> np.ndarray:
    """``x`` as a float64 ``[N, D]`` array, or a UserError naming ``what`` and the problem."""
    x = np.asarray(x)
    if x.ndim != 2:
        raise UserError(f"{what} must be a 2-D [samples, features] array, got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.number):
        raise UserError(f"{what} must be numeric, got dtype {x.dtype}")
    x = x.astype(np.float64, copy=False)
    if len(x) < min_rows:
        raise UserError(f"{what} has {len(x)} samples; at least {min_rows} are needed")
    if not np.all(np.isfinite(x)):
        raise UserError(f"{what} contains NaN or infinite values; check the model's outputs")
    return x


def _same_width(a: np.ndarray, b: np.ndarray, what_a: str, what_b: str) -> None:
    if a.shape[1] != b.shape[1]:
        raise UserError(
            f"{what_a} has {a.shape[1]} features but {what_b} has {b.shape[1]}; "
            "extract both with the same feature extractor"
        )


def _need_more_than_k(x: np.ndarray, k: int, what: str, func: str) -> None:
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise UserError(f"{func}: k must be a positive integer, got {k!r}")
    if len(x) <= k:
        raise UserError(
            f"{func}: k={k} needs more than {k} {what} samples, got {len(x)}; pass more samples or a smaller k"
        )


# --------------------------------------------------------------------------- Frechet distance
def feature_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``[D]`` and unbiased covariance ``[D, D]`` of ``[N, D]`` features (N >= 2)."""
    x = _features(features, "features", min_rows=2)
    return x.mean(axis=0), np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])


def _trace_sqrt_product(cov_a: np.ndarray, cov_b: np.ndarray) -> float:
    """``tr sqrt(cov_a @ cov_b)`` for symmetric PSD matrices, via two symmetric eigenproblems.

    With ``S = cov_a^{1/2}``, ``S cov_b S`` is symmetric PSD and has the same non-zero eigenvalues
    as ``cov_a cov_b``, so the trace is the sum of their square roots. Unlike ``sqrtm`` of the
    non-symmetric product, this never goes complex and tolerates singular covariances
    (fewer samples than features, dead ReLU units).
    """
    w, v = scipy.linalg.eigh(cov_a)
    sqrt_a = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    m = sqrt_a @ cov_b @ sqrt_a
    eig = scipy.linalg.eigvalsh((m + m.T) / 2.0)
    return float(np.sum(np.sqrt(np.clip(eig, 0.0, None))))


def frechet_distance_from_statistics(mean_a, cov_a, mean_b, cov_b) -> float:
    """Fréchet distance between N(mean_a, cov_a) and N(mean_b, cov_b):
    ``|mean_a - mean_b|^2 + tr(cov_a + cov_b - 2 (cov_a cov_b)^{1/2})`` (Dowson & Landau 1982).

    Use it with :func:`feature_statistics` to cache the reference set's statistics. Tiny
    negative results from rounding are clipped to 0.
    """
    mean_a, mean_b = np.asarray(mean_a, np.float64), np.asarray(mean_b, np.float64)
    cov_a, cov_b = np.asarray(cov_a, np.float64), np.asarray(cov_b, np.float64)
    d = mean_a.shape[0]
    if mean_b.shape != (d,) or cov_a.shape != (d, d) or cov_b.shape != (d, d):
        raise UserError(
            f"statistics do not match: means {mean_a.shape} and {mean_b.shape}, covariances {cov_a.shape} and "
            f"{cov_b.shape}; compute both with the same feature extractor"
        )
    diff = mean_a - mean_b
    value = diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * _trace_sqrt_product(cov_a, cov_b)
    return float(max(value, 0.0))


def frechet_distance(a, b) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets: FID when the features are
    Inception pool features (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule
    Converge to a Local Nash Equilibrium", NeurIPS), "FID-like" for a domain classifier's.

    ``a`` ``[N, D]`` and ``b`` ``[M, D]``, N, M >= 2. Lower is better; 0 only for identical
    statistics. Biased upwards for small N (Chong & Forsyth 2020): compare figures computed
    with the same number of samples.
    """
    a = _features(a, "first feature set", min_rows=2)
    b = _features(b, "second feature set", min_rows=2)
    _same_width(a, b, "first feature set", "second feature set")
    return frechet_distance_from_statistics(*feature_statistics(a), *feature_statistics(b))


# --------------------------------------------------------------------------- kernel distance
def _polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``k(x, y) = (x.y / d + 1)^3``: ``[n, d] x [m, d] -> [n, m]``."""
    k = x @ y.T
    k /= x.shape[1]
    k += 1.0
    cube = k * k
    cube *= k
    return cube


def mmd2_unbiased(x, y) -> float:
    """Unbiased estimate of MMD² between two equal-size samples with the cubic polynomial kernel
    (Gretton et al. 2012, "A Kernel Two-Sample Test", eq. 3; kernel as Binkowski et al. 2018)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    m = len(x)
    k_xx, k_yy, k_xy = _polynomial_kernel(x, x), _polynomial_kernel(y, y), _polynomial_kernel(x, y)
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2.0 * k_xy.mean())


def kernel_distance(a, b, *, subsets: int = 100, subset_size: int = 1000,
                    seed: int = 0) -> tuple[float, float | None]:
    """Kernel distance, KID (Binkowski et al. 2018, "Demystifying MMD GANs", ICLR): the unbiased
    MMD² with kernel ``k(x, y) = (x.y / d + 1)^3``, averaged over ``subsets`` random pairs of
    subsets of ``subset_size`` samples (drawn without replacement within a subset).

    Returns ``(mean, std)`` over the subsets (``std`` with ddof 0, as the reference code), with
    ``std`` None when ``subset_size`` is each whole set: every subset is then the same, so the
    spread is not measured (the mean is the full sets' MMD²). Unbiased: two samples of one
    distribution give values centred on 0 (single subsets can be negative). Needs at least
    ``subset_size`` samples in each set.
    """
    a = _features(a, "first feature set", min_rows=1)
    b = _features(b, "second feature set", min_rows=1)
    _same_width(a, b, "first feature set", "second feature set")
    if int(subsets) < 1:
        raise UserError(f"kernel_distance: subsets must be a positive integer, got {subsets!r}")
    if int(subset_size) < 2:
        raise UserError(f"kernel_distance: subset_size must be at least 2, got {subset_size!r}")
    smallest = min(len(a), len(b))
    if smallest < subset_size:
        raise UserError(
            f"kernel_distance: subset_size={subset_size} needs at least {subset_size} samples in each set, got "
            f"{len(a)} and {len(b)}; pass more samples or subset_size <= {smallest}"
        )
    if subset_size >= max(len(a), len(b)):  # one subset is all there is: no spread to measure
        return mmd2_unbiased(a, b), None
    rng = np.random.default_rng(seed)
    values = np.empty(int(subsets))
    for i in range(int(subsets)):
        x = a[rng.choice(len(a), subset_size, replace=False)]
        y = b[rng.choice(len(b), subset_size, replace=False)]
        values[i] = mmd2_unbiased(x, y)
    return float(values.mean()), float(values.std())


# --------------------------------------------------------------------------- classifier score
def _probabilities(probs, what: str = "probs") -> np.ndarray:
    p = _features(probs, what, min_rows=1)
    if np.any(p < 0) or not np.allclose(p.sum(axis=1), 1.0, atol=1e-3):
        raise UserError(f"{what} rows must be probabilities summing to 1 (softmax outputs), not logits")
    return p


def classifier_score(probs, *, splits: int = 10) -> tuple[float, float]:
    """The Inception Score formula ``exp(E_x KL(p(y|x) || p(y)))`` (Salimans et al. 2016,
    "Improved Techniques for Training GANs", NeurIPS) on a classifier's softmax outputs.

    ``probs`` ``[N, C]``; the samples are cut into ``splits`` equal parts, as in the paper's code,
    and ``(mean, std)`` of the per-split scores is returned. Ranges from 1 (every sample gets the
    same prediction: collapse, or no confident prediction) to C (confident and uniform over
    classes). With a domain classifier rather than Inception it is not comparable to published
    Inception Scores.
    """
    p = _probabilities(probs)
    splits = int(splits)
    if splits < 1 or len(p) < splits:
        raise UserError(f"classifier_score: splits={splits} needs at least {splits} samples, got {len(p)}")
    scores = []
    for part in np.array_split(p, splits):
        marginal = part.mean(axis=0, keepdims=True)  # p(y) [1, C]
        kl = scipy.special.rel_entr(part, marginal).sum(axis=1)  # [n]; 0 log 0 = 0
        scores.append(math.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


# --------------------------------------------------------------------------- class histogram
def class_histogram(probs_or_labels, num_classes: int, *, min_fraction: float | None = None) -> dict:
    """Mode collapse in numbers: how a classifier spreads the samples over classes.

    ``probs_or_labels`` is ``[N, C]`` softmax outputs (each sample counts for its arg-max class) or
    ``[N]`` integer labels. A class is *covered* when it receives at least ``min_fraction`` of the
    samples (default a tenth of its fair share, ``0.1 / num_classes``), so a few stray
    predictions do not count as a mode; the unconditional mode count of Srivastava et al. 2017
    (VEEGAN) and Metz et al. 2017 (Unrolled GANs), on one dataset's classes.

    Returns ``{"counts": [C] ints, "entropy": nats, "max_entropy": log C, "classes_covered": int,
    "num_classes": C}``; a uniform histogram has entropy log C, a collapsed one 0.
    """
    num_classes = int(num_classes)
    if num_classes < 1:
        raise UserError(f"class_histogram: num_classes must be positive, got {num_classes}")
    x = np.asarray(probs_or_labels)
    if x.ndim == 2:
        if x.shape[1] != num_classes:
            raise UserError(f"class_histogram: probabilities have {x.shape[1]} classes, expected {num_classes}")
        labels = _probabilities(x).argmax(axis=1)
    elif x.ndim == 1:
        if x.size and (not np.issubdtype(x.dtype, np.integer) or x.min() < 0 or x.max() >= num_classes):
            raise UserError(f"class_histogram: labels must be integers in [0, {num_classes}), got {x.dtype} values")
        labels = x
    else:
        raise UserError(f"class_histogram: expected [N, C] probabilities or [N] labels, got shape {x.shape}")
    if len(labels) == 0:
        raise UserError("class_histogram: no samples")
    counts = np.bincount(labels, minlength=num_classes)
    freq = counts / counts.sum()
    min_fraction = 0.1 / num_classes if min_fraction is None else float(min_fraction)
    covered = int(np.sum(counts >= max(1.0, min_fraction * counts.sum())))
    return {
        "counts": counts.tolist(),
        "entropy": float(scipy.special.entr(freq).sum()),
        "max_entropy": math.log(num_classes),
        "classes_covered": covered,
        "num_classes": num_classes,
    }


# --------------------------------------------------------------------------- sharpness
def _grey_images(images) -> np.ndarray:
    """``[N, H, W]`` or ``[N, H, W, C]`` (uint8, or float in [0, 1]) -> float64 ``[N, H, W]``."""
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3) or x.shape[1] < 3 or x.shape[2] < 3:
        raise UserError(f"expected images [N, H, W, 1 or 3] at least 3x3, got shape {x.shape}")
    x = x.astype(np.float64) / 255.0 if x.dtype == np.uint8 else x.astype(np.float64)
    if x.shape[-1] == 3:  # ITU-R BT.601 luma
        return x @ np.array([0.299, 0.587, 0.114])
    return x[..., 0]


def laplacian_variance(images) -> np.ndarray:
    """Per-image variance of the 4-neighbour Laplacian over the valid (non-border) pixels: ``[N]``.

    The focus measure of Pech-Pacheco et al. 2000 ("Diatom autofocusing in brightfield
    microscopy: a comparative study", ICPR), computed on grey levels in [0, 1]: a blurred image
    has weak second derivatives, hence a small variance.
    """
    x = _grey_images(images)  # [N, H, W]
    lap = (x[:, :-2, 1:-1] + x[:, 2:, 1:-1] + x[:, 1:-1, :-2] + x[:, 1:-1, 2:]
           - 4.0 * x[:, 1:-1, 1:-1])  # [N, H-2, W-2]
    return lap.reshape(len(lap), -1).var(axis=1)


def sharpness(images) -> float:
    """Mean variance of the Laplacian over ``images`` (see :func:`laplacian_variance`).

    Meaningful relative to the same figure for the real test set: a ratio well below 1 is the
    reports' "VAE samples are blurry", measured.
    """
    return float(laplacian_variance(images).mean())


# --------------------------------------------------------------------------- nearest neighbours
def _sq_norms(x: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", x, x)


def _row_blocks(n_rows: int, n_cols: int):
    step = max(1, _MAX_BLOCK_ENTRIES // max(1, n_cols))
    for start in range(0, n_rows, step):
        yield slice(start, min(n_rows, start + step))


def _sq_distances(a: np.ndarray, b: np.ndarray, a_sq: np.ndarray, b_sq: np.ndarray) -> np.ndarray:
    """``[n, d] x [m, d] -> [n, m]`` squared Euclidean distances, clipped at 0 (in place, one buffer)."""
    d2 = a @ b.T
    d2 *= -2.0
    d2 += a_sq[:, None]
    d2 += b_sq[None, :]
    return np.maximum(d2, 0.0, out=d2)


def _knn_sq_radii(x: np.ndarray, ks) -> dict[int, np.ndarray]:
    """Squared distance from each row of ``x`` to its k-th nearest *other* row, for each k: ``{k: [N]}``."""
    ks = sorted(set(int(k) for k in ks))
    x_sq = _sq_norms(x)
    radii = {k: np.empty(len(x), x.dtype) for k in ks}
    for rows in _row_blocks(len(x), len(x)):
        d2 = _sq_distances(x[rows], x, x_sq[rows], x_sq)
        d2[np.arange(d2.shape[0]), np.arange(rows.start, rows.stop)] = 0.0  # exactly 0 to itself
        d2 = np.partition(d2, ks, axis=1)  # index 0 is the row itself, index k its k-th neighbour
        for k in ks:
            radii[k][rows] = d2[:, k]
    return radii


def _manifold_sweep(real: np.ndarray, fake: np.ndarray, *, k_pr: int | None, k_dc: int | None) -> dict:
    """Precision/recall (with ``k_pr``) and density/coverage (with ``k_dc``) in one pass over the
    real-fake distances; each set's k-NN radii take one pass over its own distances.

    Balls are closed (distance <= radius). Distances are computed in float32 (twice as fast as
    float64) after centring both sets on the real mean, which changes no distance but keeps the
    ``|a|^2 + |b|^2 - 2 a.b`` expansion accurate to about 1e-6 relative.
    """
    centre = real.mean(axis=0)
    real, fake = (real - centre).astype(np.float32), (fake - centre).astype(np.float32)
    real_radii = _knn_sq_radii(real, [k for k in (k_pr, k_dc) if k is not None])
    fake_radii = _knn_sq_radii(fake, [k_pr])[k_pr] if k_pr is not None else None
    real_sq, fake_sq = _sq_norms(real), _sq_norms(fake)
    in_real_manifold = np.zeros(len(fake), dtype=bool)  # precision, per fake sample
    in_fake_manifold = np.zeros(len(real), dtype=bool)  # recall, per real sample
    balls_holding = np.zeros(len(fake), dtype=np.int64)  # density, per fake sample
    nearest_fake = np.full(len(real), np.inf)  # coverage, per real sample
    for rows in _row_blocks(len(fake), len(real)):
        d2 = _sq_distances(fake[rows], real, fake_sq[rows], real_sq)  # [m, N]
        if k_pr is not None:
            in_real_manifold[rows] = (d2 <= real_radii[k_pr][None, :]).any(axis=1)
            in_fake_manifold |= (d2 <= fake_radii[rows, None]).any(axis=0)
        if k_dc is not None:
            balls_holding[rows] = (d2 <= real_radii[k_dc][None, :]).sum(axis=1)
            np.minimum(nearest_fake, d2.min(axis=0), out=nearest_fake)
    out = {}
    if k_pr is not None:
        out["precision"] = float(in_real_manifold.mean())
        out["recall"] = float(in_fake_manifold.mean())
    if k_dc is not None:
        out["density"] = float(balls_holding.sum() / (k_dc * len(fake)))
        out["coverage"] = float(np.mean(nearest_fake <= real_radii[k_dc]))
    return out


def _manifold_inputs(real, fake, func: str, *, ks_real=(), ks_fake=()):
    real = _features(real, "real features")
    fake = _features(fake, "fake features")
    _same_width(real, fake, "real features", "fake features")
    for k in ks_real:
        _need_more_than_k(real, k, "real", func)
    for k in ks_fake:
        _need_more_than_k(fake, k, "fake", func)
    return real, fake


def precision_recall(real, fake, *, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019, "Improved Precision and Recall
    Metric for Assessing Generative Models", NeurIPS), with their k = 3.

    Each set's manifold is the union of closed balls around its samples reaching their k-th
    nearest neighbour in the same set. Precision: the fraction of fake samples inside the real
    manifold (sample quality). Recall: the fraction of real samples inside the fake manifold
    (coverage of the data; near 0 for a collapsed generator). Returns ``(precision, recall)``.
    """
    real, fake = _manifold_inputs(real, fake, "precision_recall", ks_real=(k,), ks_fake=(k,))
    out = _manifold_sweep(real, fake, k_pr=k, k_dc=None)
    return out["precision"], out["recall"]


def density_coverage(real, fake, *, k: int = 5) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for
    Generative Models", ICML), with their k = 5.

    Both use only the real manifold (closed balls around real samples reaching their k-th real
    neighbour), which makes them robust to fake outliers. Density: the mean number of real
    balls holding each fake sample, divided by k (about 1 for real-like samples; can exceed 1).
    Coverage: the fraction of real samples whose ball holds at least one fake sample.
    Returns ``(density, coverage)``.
    """
    real, fake = _manifold_inputs(real, fake, "density_coverage", ks_real=(k,))
    out = _manifold_sweep(real, fake, k_pr=None, k_dc=k)
    return out["density"], out["coverage"]


def manifold_metrics(real, fake, *, pr_k: int = 3, dc_k: int = 5) -> dict:
    """:func:`precision_recall` (k = ``pr_k``) and :func:`density_coverage` (k = ``dc_k``) together,
    sharing the distance computations (three N x N passes instead of seven): what an
    evaluation should call. Returns ``{"precision", "recall", "density", "coverage"}``."""
    real, fake = _manifold_inputs(real, fake, "manifold_metrics", ks_real=(pr_k, dc_k), ks_fake=(pr_k,))
    return _manifold_sweep(real, fake, k_pr=pr_k, k_dc=dc_k)


def nearest_neighbour_distance(fake, train, *, return_indices: bool = False):
    """Euclidean distance from each fake sample to its nearest training sample: ``[N]``
    (with the nearest training indices too when ``return_indices``).

    The memorization check of the GAN literature (e.g. Brock et al. 2019, BigGAN, appendix;
    Webster et al. 2019, "Detecting Overfitting of Deep Generative Networks via Latent
    Recovery"): compare the distribution with the same distances for held-out test images. A
    model that copies its training set yields fake distances clearly *below* the test set's.
    Works on features or on flattened pixels.
    """
    fake = _features(fake, "fake samples")
    train = _features(train, "training samples", min_rows=1)
    _same_width(fake, train, "fake samples", "training samples")
    centre = train.mean(axis=0)  # float32 after centring, as in _manifold_sweep
    fake, train = (fake - centre).astype(np.float32), (train - centre).astype(np.float32)
    fake_sq, train_sq = _sq_norms(fake), _sq_norms(train)
    dist, index = np.empty(len(fake), np.float32), np.empty(len(fake), dtype=np.int64)
    for rows in _row_blocks(len(fake), len(train)):
        d2 = _sq_distances(fake[rows], train, fake_sq[rows], train_sq)  # [m, T]
        index[rows] = d2.argmin(axis=1)
        dist[rows] = d2[np.arange(d2.shape[0]), index[rows]]
    dist = np.sqrt(dist.astype(np.float64))
    return (dist, index) if return_indices else dist


# --------------------------------------------------------------------------- Keras metric
def _frechet_from_statistics_tf(mean_a, cov_a, mean_b, cov_b):
    """TensorFlow twin of :func:`frechet_distance_from_statistics` (float64, graph-friendly)."""
    w, v = tf.linalg.eigh(cov_a)
    sqrt_a = tf.matmul(v * tf.sqrt(tf.maximum(w, 0.0))[None, :], v, transpose_b=True)
    m = sqrt_a @ cov_b @ sqrt_a
    eig = tf.linalg.eigvalsh((m + tf.transpose(m)) / 2.0)
    trace_sqrt = tf.reduce_sum(tf.sqrt(tf.maximum(eig, 0.0)))
    diff = mean_a - mean_b
    value = tf.reduce_sum(diff * diff) + tf.linalg.trace(cov_a) + tf.linalg.trace(cov_b) - 2.0 * trace_sqrt
    return tf.maximum(value, 0.0)


@keras.saving.register_keras_serializable(package="keras_gen")
class FrechetDistance(keras.metrics.Metric):
    """Streaming Fréchet distance (Heusel et al. 2017) for use during training.

    ``update_state(real_features, fake_features)`` accumulates sums and sums of outer products
    in float64 (either argument may be ``None``); ``result()`` fits Gaussians to everything seen
    and returns the distance (NaN until each side has 2 samples). With ``reference=(mean, cov)``
    (e.g. from :func:`feature_statistics` on the test set) the real side is fixed and only fake
    features need passing; ``reset_state`` keeps the reference.
    """

    def __init__(self, num_features: int, *, reference=None, name: str = "frechet_distance", **kwargs):
        kwargs.pop("dtype", None)
        super().__init__(name=name, dtype="float64", **kwargs)
        d = int(num_features)
        self.num_features = d
        self._accumulators = []
        for side in ("real", "fake"):
            count = self.add_variable(shape=(), initializer="zeros", dtype="float64", name=f"{side}_count")
            total = self.add_variable(shape=(d,), initializer="zeros", dtype="float64", name=f"{side}_sum")
            outer = self.add_variable(shape=(d, d), initializer="zeros", dtype="float64", name=f"{side}_outer")
            self._accumulators.append((count, total, outer))
        self.has_reference = reference is not None
        if self.has_reference:
            mean, cov = (np.asarray(t, np.float64) for t in reference)
            if mean.shape != (d,) or cov.shape != (d, d):
                raise UserError(f"FrechetDistance reference must be a [{d}] mean and a [{d}, {d}] covariance, "
                                f"got {mean.shape} and {cov.shape}")
            self.reference_mean = self.add_variable(shape=(d,), initializer="zeros", dtype="float64",
                                                    name="reference_mean")
            self.reference_cov = self.add_variable(shape=(d, d), initializer="zeros", dtype="float64",
                                                   name="reference_cov")
            self.reference_mean.assign(mean)
            self.reference_cov.assign(cov)

    def _accumulate(self, side: int, features):
        count, total, outer = self._accumulators[side]
        x = tf.cast(tf.reshape(features, [-1, self.num_features]), tf.float64)  # [B, D]
        count.assign_add(tf.cast(tf.shape(x)[0], tf.float64))
        total.assign_add(tf.reduce_sum(x, axis=0))
        outer.assign_add(tf.matmul(x, x, transpose_a=True))

    def update_state(self, real_features=None, fake_features=None, sample_weight=None):
        if sample_weight is not None:
            raise ValueError("FrechetDistance does not take sample weights")
        if real_features is not None:
            if self.has_reference:
                raise ValueError("this FrechetDistance has a fixed reference; pass real_features=None")
            self._accumulate(0, real_features)
        if fake_features is not None:
            self._accumulate(1, fake_features)

    @staticmethod
    def _statistics(count, total, outer):
        mean = total / tf.maximum(count, 1.0)
        cov = (outer - count * mean[:, None] * mean[None, :]) / tf.maximum(count - 1.0, 1.0)
        return mean, cov

    def result(self):
        fake_count = self._accumulators[1][0]
        fake_mean, fake_cov = self._statistics(*self._accumulators[1])
        if self.has_reference:
            real_mean, real_cov, enough = self.reference_mean, self.reference_cov, fake_count >= 2
        else:
            real_count = self._accumulators[0][0]
            real_mean, real_cov = self._statistics(*self._accumulators[0])
            enough = tf.logical_and(real_count >= 2, fake_count >= 2)
        value = _frechet_from_statistics_tf(real_mean, real_cov, fake_mean, fake_cov)
        return tf.where(enough, value, tf.constant(float("nan"), tf.float64))

    def reset_state(self):
        for variables in self._accumulators:
            for v in variables:
                v.assign(tf.zeros(v.shape, tf.float64))

    def get_config(self):
        config = {"name": self.name, "num_features": self.num_features}
        if self.has_reference:
            config["reference"] = (self.reference_mean.numpy().tolist(), self.reference_cov.numpy().tolist())
        return config


# --------------------------------------------------------------------------- VAE likelihoods
def _check_vae(model) -> None:
    if getattr(model, "family", None) != "vae" or not hasattr(model, "encode"):
        raise UserError(f"VAE metrics need a keras_gen VAE, got {type(model).__name__}; "
                        "ELBO and likelihood bounds do not exist for GANs")


def _vae_batches(model, batches: Iterable):
    """Yield ``(images float32 [B, H, W, C], labels or None)`` checked against ``model``."""
    expected = tuple(model.image_shape)
    for batch in batches:
        if isinstance(batch, (tuple, list)):
            images, labels = batch[0], (batch[1] if len(batch) > 1 else None)
        else:
            images, labels = batch, None
        images = tf.convert_to_tensor(images)
        if images.dtype == tf.uint8:
            raise UserError(f"VAE metrics need images scaled to the model's {model.value_range} range, got uint8; "
                            "build the batches with keras_gen.datasets.build_train_set")
        if tuple(images.shape[1:]) != expected:
            h, w, c = expected
            raise UserError(f"images are {'x'.join(map(str, images.shape[1:]))} but the VAE takes {h}x{w}x{c}; "
                            "evaluate on the dataset and image size it was trained on")
        if model.conditional and labels is None:
            raise UserError("this VAE is conditional: the batches must be (images, labels)")
        yield tf.cast(images, tf.float32), (tf.cast(labels, tf.int32) if model.conditional else None)


_VAE_PASSES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class _VaePass:
    """The traced pieces of :func:`vae_test_metrics` for one model (kept per model, so evaluating
    every epoch does not retrace).

    ``posterior(images, labels, seed)`` -> ``z_mean``, ``std`` ``[B, L]`` and per-example ``[B]``
    ``elbo`` (one reparameterised sample and the model's own KL: analytic when it trains with
    it), ``reconstruction_nll`` (-log p(x|z)), ``kl``, ``mse`` (decoder mean at the posterior mean,
    per pixel, images in [0, 1]). ``log_weights(images, labels, z_mean, std, seed, s)`` -> ``[s, B]``
    importance log-weights log p(x, z_i) - log q(z_i | x) for ``s`` fresh samples (traced once
    per chunk size ``s``).
    """

    def __init__(self, model):
        self.model = model
        self.posterior = tf.function(self._posterior, reduce_retracing=True)
        self.log_weights = tf.function(self._log_weights, reduce_retracing=True)

    def _posterior(self, images, labels, seed):
        model = self.model
        z_mean, z_log_var = model.encode(images, labels)  # [B, L] each
        std = tf.exp(0.5 * z_log_var)
        batch = tf.shape(images)[0]
        eps = tf.random.stateless_normal(tf.shape(z_mean), seed=seed)  # [B, L]
        z = z_mean + std * eps
        recon = -model.log_likelihood(images, model.decode_logits(z, labels))  # [B]
        kl = model.kl_divergence(z, z_mean, z_log_var)  # [B]
        recon_images = model.generate_unit(z_mean, labels)  # [B, H, W, C]
        target = to_unit_range(images, model.value_range)
        mse = tf.reduce_mean(tf.reshape(tf.square(recon_images - target), [batch, -1]), axis=-1)  # [B]
        return z_mean, std, {"elbo": -(recon + kl), "reconstruction_nll": recon, "kl": kl, "mse": mse}

    def _log_weights(self, images, labels, z_mean, std, seed, s: int):
        model = self.model
        batch = tf.shape(images)[0]
        eps = tf.random.stateless_normal(tf.concat([[s], tf.shape(z_mean)], 0), seed=seed)  # [s, B, L]
        zs = z_mean[None] + std[None] * eps  # [s, B, L]
        flat = tf.reshape(zs, [-1, model.latent_dim])  # [s*B, L], sample-major
        tiled = tf.tile(images, [s, 1, 1, 1])  # [s*B, H, W, C], the same order
        tiled_labels = None if labels is None else tf.tile(labels, [s])
        log_px = tf.reshape(model.log_likelihood(tiled, model.decode_logits(flat, tiled_labels)), [s, batch])
        posterior = tfd.MultivariateNormalDiag(loc=z_mean, scale_diag=std)  # batch shape [B]
        return log_px + model.prior().log_prob(zs) - posterior.log_prob(zs)  # [s, B]


def vae_test_metrics(model, batches: Iterable, *, k: int = 64, seed: int = 0, sample_chunk: int = 16) -> dict:
    """Test-set likelihood figures of a VAE in one pass over ``batches``, in nats per image.

    ``batches`` yields images ``[B, H, W, C]`` in the model's value range, or ``(images, labels)``
    (e.g. ``keras_gen.datasets.build_train_set(..., shuffle=False, drop_remainder=False)``).

    * ``elbo``: the evidence lower bound log p(x|z) - KL(q(z|x) || p(z)) with beta = 1 (Kingma
      & Welling 2014), one posterior sample per image;
    * ``iwae_nll_bound``: -(1/N) sum log (1/k) sum_i p(x, z_i) / q(z_i|x), z_i ~ q(z|x): the
      importance-weighted upper bound on the test negative log-likelihood (Burda et al. 2016,
      "Importance Weighted Autoencoders", ICLR; they use k = 5000); it tightens as k grows and,
      in expectation, lies below ``-elbo`` (k = 1 is the ELBO);
    * ``reconstruction_nll`` and ``kl``: the ELBO's two terms; ``reconstruction_mse``: mean
      squared error per pixel (images in [0, 1]) of the decoder mean at the posterior mean.

    With a Bernoulli decoder on grey-level MNIST the "likelihood" is a cross-entropy, not a
    density: figures compare models trained the same way, not published binarized-MNIST NLLs.
    Cost: k + 2 decoder passes per image, ``sample_chunk`` samples per image at a time. Draws are
    stateless from ``seed`` and the batch's position, so results are reproducible.
    """
    _check_vae(model)
    k, sample_chunk = int(k), max(1, int(sample_chunk))
    if k < 1:
        raise UserError(f"vae_test_metrics: k must be a positive integer, got {k!r}")
    if model not in _VAE_PASSES:
        _VAE_PASSES[model] = _VaePass(model)
    traced = _VAE_PASSES[model]
    sums = {"elbo": 0.0, "reconstruction_nll": 0.0, "kl": 0.0, "iwae": 0.0, "mse": 0.0}
    n = 0
    for index, (images, labels) in enumerate(_vae_batches(model, batches)):
        batch_seed = tf.constant([int(seed), index], tf.int32)
        fold = lambda i: tf.random.experimental.stateless_fold_in(batch_seed, i)  # noqa: E731
        z_mean, std, figures = traced.posterior(images, labels, fold(0))
        log_w = [traced.log_weights(images, labels, z_mean, std, fold(1 + i), min(sample_chunk, k - start))
                 for i, start in enumerate(range(0, k, sample_chunk))]  # [s, B] each
        figures["iwae"] = tf.reduce_logsumexp(tf.concat(log_w, axis=0), axis=0) - math.log(k)  # [B]
        for name, value in figures.items():
            sums[name] += float(tf.reduce_sum(tf.cast(value, tf.float64)))
        n += int(images.shape[0])
    if n == 0:
        raise UserError("vae_test_metrics: the batches are empty; pass at least one test image")
    return {
        "elbo": sums["elbo"] / n,
        "iwae_nll_bound": -sums["iwae"] / n,
        "iwae_k": k,
        "reconstruction_nll": sums["reconstruction_nll"] / n,
        "kl": sums["kl"] / n,
        "reconstruction_mse": sums["mse"] / n,
        "num_examples": n,
    }


def elbo(model, batches: Iterable, *, seed: int = 0) -> float:
    """Mean test-set ELBO in nats per image (see :func:`vae_test_metrics`)."""
    return vae_test_metrics(model, batches, k=1, seed=seed)["elbo"]


def iwae_nll_bound(model, batches: Iterable, *, k: int = 64, seed: int = 0) -> float:
    """Importance-weighted upper bound on the test negative log-likelihood, nats per image
    (Burda et al. 2016; see :func:`vae_test_metrics`)."""
    return vae_test_metrics(model, batches, k=k, seed=seed)["iwae_nll_bound"]


def reconstruction_error(model, batches: Iterable) -> float:
    """Mean squared error per pixel of the VAE's reconstructions (posterior mean), images in [0, 1]."""
    return vae_test_metrics(model, batches, k=1)["reconstruction_mse"]
