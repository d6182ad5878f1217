"""What an evaluation measures and with which settings (no TensorFlow: the command line reads it)."""

from __future__ import annotations

import dataclasses

from keras_gen.utils.errors import UserError

MAX_SAMPLES = 1 << 20  # seeds are seed * 2**20 + index, so runs with different --seed never share one


@dataclasses.dataclass(frozen=True)
class MetricSpec:
    """One figure: how it is named, read and compared."""

    key: str
    label: str
    better: str  # "lower", "higher", or "real": closest to the real test set's own figure
    kind: str  # "sample" (every model; has a floor), "likelihood" (VAEs), "training" (from history.csv)
    fmt: str = ".4g"
    unit: str = ""
    bounded: bool = False  # a fraction in [0, 1]: compared by difference, not by ratio
    description: str = ""


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("fid", "FID", "lower", "sample", ".3f",
               description="Fréchet distance between Gaussians fitted to the samples' and the test images' features "
                           "(Heusel et al. 2017); FID-like with a domain classifier"),
    MetricSpec("kid", "KID", "lower", "sample", ".4f",
               description="unbiased MMD² with the cubic polynomial kernel, mean ± std over subsets "
                           "(Bińkowski et al. 2018); 0 for samples of the test distribution"),
    MetricSpec("precision", "precision", "higher", "sample", ".3f", bounded=True,
               description="share of samples inside the real images' k-NN manifold: fidelity "
                           "(Kynkäänniemi et al. 2019)"),
    MetricSpec("recall", "recall", "higher", "sample", ".3f", bounded=True,
               description="share of real images inside the samples' k-NN manifold: diversity; near 0 when the "
                           "generator collapses (Kynkäänniemi et al. 2019)"),
    MetricSpec("density", "density", "higher", "sample", ".3f",
               description="mean number of real k-NN balls holding a sample, over k: fidelity robust to outliers "
                           "(Naeem et al. 2020); about 1 for real images"),
    MetricSpec("coverage", "coverage", "higher", "sample", ".3f", bounded=True,
               description="share of real images whose k-NN ball holds a sample: diversity (Naeem et al. 2020)"),
    MetricSpec("classifier_score", "classifier score", "higher", "sample", ".3f",
               description="exp E KL(p(y|x) || p(y)), the Inception Score formula on the extractor's classes "
                           "(Salimans et al. 2016): confident and varied predictions score high"),
    MetricSpec("classes_covered", "classes covered", "higher", "sample", "d",
               description="classes receiving at least a tenth of their fair share of the samples: modes "
                           "(Srivastava et al. 2017)"),
    MetricSpec("class_entropy", "class entropy", "higher", "sample", ".3f", unit="nats",
               description="entropy of the predicted-class histogram; log(classes) when uniform, 0 when collapsed"),
    MetricSpec("sharpness", "sharpness", "real", "sample", ".4f",
               description="mean variance of the Laplacian (Pech-Pacheco et al. 2000): below the test set's means "
                           "blurrier than real images"),
    MetricSpec("nn_distance", "nearest-training distance", "real", "sample", ".3f",
               description="mean feature distance from a sample to its nearest training image; clearly below the "
                           "test set's means copying the training set (memorization)"),
    MetricSpec("elbo", "test ELBO", "higher", "likelihood", ".2f", unit="nats",
               description="evidence lower bound on log p(x) per test image (Kingma & Welling 2014)"),
    MetricSpec("iwae_nll_bound", "IWAE NLL bound", "lower", "likelihood", ".2f", unit="nats",
               description="importance-weighted upper bound on the test negative log-likelihood with k samples "
                           "(Burda et al. 2016)"),
    MetricSpec("reconstruction_mse", "reconstruction MSE", "lower", "likelihood", ".5f",
               description="mean squared error per pixel of reconstructions of test images, in [0, 1]"),
    MetricSpec("seconds_per_epoch", "seconds per epoch", "lower", "training", ".1f", unit="s",
               description="median wall time of a training epoch (history.csv; a VAE's includes its "
                           "validation pass over the test set)"),
    MetricSpec("images_per_sec", "training images/s", "higher", "training", ".1f",
               description="median training throughput (history.csv)"),
)
METRIC = {m.key: m for m in METRICS}


# --------------------------------------------------------------------------- settings
def kid_subset_size(n: int) -> int:
    """KID's default subset size for ``n`` images: 1,000 (Binkowski et al. 2018), or half of ``n``
    below 2,000: subsets of all ``n`` images would all be the same one, and measure no spread."""
    return min(1000, max(2, n // 2))


@dataclasses.dataclass(frozen=True)
class EvalSettings:
    """What an evaluation computes; two evaluations with equal settings give comparable figures."""

    samples: int = 10_000
    extractor: str = "domain"
    seed: int = 0
    pr_k: int = 3
    dc_k: int = 5
    kid_subsets: int = 100
    kid_subset_size: int | None = None  # None: kid_subset_size(feature samples)
    iwae_k: int = 64
    likelihood_images: int = 1000
    # fid-inception only: how many of the samples (and as many test and training images) go through
    # the network, for FID, KID, precision/recall, density/coverage and the nearest-training distance;
    # None: every sample. The network costs ~0.1-0.3 s per image on 2 CPU cores.
    fid_images: int | None = None
    # GANs: sample with the truncation trick at this psi in [0, 1] (None: plain samples).
    truncation: float | None = None

    def __post_init__(self):
        if self.truncation is not None and (isinstance(self.truncation, bool) or
                                            not isinstance(self.truncation, (int, float))
                                            or not 0.0 <= self.truncation <= 1.0):
            raise UserError(f"--truncation must be a number in [0, 1], got {self.truncation!r}")
        for name in ("samples", "pr_k", "dc_k", "kid_subsets", "iwae_k", "likelihood_images"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UserError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}")
        if self.samples > MAX_SAMPLES:
            raise UserError(f"--samples must be at most {MAX_SAMPLES:,}, got {self.samples:,}")
        if self.fid_images is not None:
            if isinstance(self.fid_images, bool) or not isinstance(self.fid_images, int) or self.fid_images < 1:
                raise UserError(f"--fid-images must be a positive integer, got {self.fid_images!r}")
            if self.extractor != "fid-inception":
                raise UserError(f"--fid-images applies to --extractor fid-inception, not {self.extractor}; "
                                "drop it or pass --extractor fid-inception")
        n, what = self.feature_samples, ("--samples" if self.feature_samples == self.samples else "--fid-images")
        if self.kid_subset_size is None:  # half the samples below 2,000, so subsets differ and KID has a spread
            object.__setattr__(self, "kid_subset_size", kid_subset_size(n))
        if self.kid_subset_size < 2:
            raise UserError(f"--kid-subset-size must be at least 2, got {self.kid_subset_size}")
        if self.kid_subset_size > n:
            raise UserError(f"--kid-subset-size {self.kid_subset_size} needs at least that many samples, got "
                            f"{what} {n}; pass more samples or a smaller --kid-subset-size")
        k = max(self.pr_k, self.dc_k)
        if n <= k:
            raise UserError(f"k={k} nearest neighbours need more than {k} samples, got {what} {n}; "
                            "pass more samples or a smaller --pr-k/--dc-k")

    @property
    def feature_samples(self) -> int:
        """Samples whose features the figures use: ``min(samples, fid_images)``, or every sample."""
        return self.samples if self.fid_images is None else min(self.samples, self.fid_images)

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        for key in ("fid_images", "truncation"):  # as written before these options: earlier metrics.json stay reusable
            if out[key] is None:
                del out[key]
        return out
