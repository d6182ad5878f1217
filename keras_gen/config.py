"""One frozen, validated configuration per training run.

:func:`resolve_config` starts from the defaults of the report the model mirrors (its zoo entry),
applies the user's overrides (unknown or mistyped names are rejected with a suggestion, as
nanoGPT's configurator does), checks every value, and returns a :class:`RunConfig`. The config
is printed at the start of a run and saved, with the package version, into the run directory and
beside every checkpoint.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from pathlib import Path

from keras_gen import __version__
from keras_gen.utils.errors import UserError
from keras_gen.utils.mixture import COVARIANCES

STRATEGIES = ("default", "mirrored", "multiworker")

# What may change when a run is resumed; everything else is fixed by the run being continued.
RESUMABLE_OVERRIDES = frozenset({"download", "learning_rate", "epochs", "steps_per_epoch", "export_dir", "export",
                                 "jit_compile", "steps_per_execution", "keep_checkpoints", "verbose", "eval_every",
                                 "eval_samples", "keep_best", "time_limit", "publish",
                                 "latent_sampler", "sampler_covariance", "lr_schedule"})
# keras_gen.evaluation.extractors.EXTRACTORS, without importing TensorFlow
EVAL_EXTRACTORS = ("domain", "inception", "fid-inception")
KEEP_BEST = ("fid",)
# keras_gen.families.augment.POLICIES, without importing TensorFlow
DIFFAUGMENT_POLICIES = ("translation", "cutout", "color")
# keras_gen.export.publish: serve the export if it measures at least as well as the served version
# (auto), always (--publish) or never (--no-publish)
PUBLISH_MODES = ("auto", "always", "never")
# --lr-schedule: keras_gen.training.callbacks.CosineLearningRate
LR_SCHEDULES = ("cosine",)


@dataclasses.dataclass(frozen=True)
class RunConfig:
    model: str
    dataset: str
    epochs: int
    batch_size: int
    optimizer: dict  # {"name": ..., "learning_rate": ..., ...}: the one home of the learning rate (--lr)
    image_shape: tuple[int, int, int]
    latent_dim: int | None = None
    steps_per_epoch: int | None = None
    seed: int = 0
    data_dir: str | None = None
    download: bool = False  # fetch a dataset missing here through TensorFlow Datasets (never by surprise)
    limit: int | None = None
    subset: str | None = None  # dataset option: Char74K's fnt, hnd or img
    attribute: str | None = None  # dataset option: the CelebA attribute used as the class label
    run_dir: str | None = None
    export_dir: str = "saved_models"
    export: bool = True
    publish: str = "auto"  # PUBLISH_MODES: whether the export is served (keras_gen.export.publish)
    jit_compile: bool = False
    steps_per_execution: int = 1  # train steps per call of the compiled step (Keras' steps_per_execution)
    strategy: str = "default"
    mixed_precision: bool = False  # 16-bit compute, float32 weights and losses: training/distributed.mixed_policy
    keep_checkpoints: int = 3
    sample_grid: int = 64
    verbose: int | None = None
    eval_every: int | None = None  # epochs between FID evaluations (None: none; 1 when keep_best is set)
    eval_samples: int = 2000  # samples per FID evaluation during training
    eval_extractor: str = "domain"
    keep_best: str | None = None  # "fid": keep the checkpoint with the lowest FID as best.keras, and export it
    # minutes of training steps (history's train_seconds): stop after the epoch that reaches it
    time_limit: float | None = None
    # How every optimizer's learning rate moves over the run's epochs: None keeps --lr throughout
    # (the reports' setting); "cosine" decays it from --lr to 0 at the end of the last epoch.
    lr_schedule: str | None = None
    # GANs: the decay of a moving average of the generator's weights, which samples, grids,
    # evaluations and exports then use (None: off, the reports' setting); e.g. 0.999.
    ema: float | None = None
    # GANs: differentiable augmentation of what the discriminator sees (Zhao et al. 2020), a list of
    # "translation", "cutout", "color" (None: off, the reports' setting).
    diffaugment: list | None = None
    # VAEs: after training, fit a mixture of this many Gaussians to the encoder's means over the
    # training images and export the model sampling from it (keras-gen fit-sampler; None: the
    # N(0, I) prior, the reports' setting). Applied at the end, so --resume may change it.
    latent_sampler: int | None = None
    # ... with "full" covariances (Ghosh et al. 2020's choice) or "diag" ones. A run's config.json
    # written before this field existed fitted diagonal ones, and loads as "diag" (from_dict).
    sampler_covariance: str = "full"
    # The builder's own keyword arguments beyond latent size and image shape, e.g. {"d_steps": 5}
    # for mlp_gan (models_zoo: each builder's signature lists them; --option KEY=VALUE).
    model_options: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise UserError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}")
        if isinstance(self.steps_per_execution, bool) or not isinstance(self.steps_per_execution, int) \
                or self.steps_per_execution < 1:
            raise UserError(f"--steps-per-execution must be a positive integer, got {self.steps_per_execution!r}")
        for name in ("steps_per_epoch", "limit", "latent_dim", "eval_every", "latent_sampler"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
                raise UserError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}")
        if self.ema is not None and (isinstance(self.ema, bool) or not isinstance(self.ema, (int, float))
                                     or not 0.0 < self.ema < 1.0):
            raise UserError(f"--ema must be a decay between 0 and 1 (exclusive), e.g. 0.999, got {self.ema!r}")
        if self.diffaugment is not None:
            if not isinstance(self.diffaugment, (list, tuple)) or not self.diffaugment or \
                    any(p not in DIFFAUGMENT_POLICIES for p in self.diffaugment):
                raise UserError(f"--diffaugment takes a comma-separated list of {', '.join(DIFFAUGMENT_POLICIES)}, got "
                                f"{self.diffaugment!r}")
            object.__setattr__(self, "diffaugment", list(self.diffaugment))
        if self.time_limit is not None and (isinstance(self.time_limit, bool) or not self.time_limit > 0):
            raise UserError(f"time_limit must be a positive number of minutes, got {self.time_limit!r}")
        if not isinstance(self.model_options, dict) or not all(isinstance(k, str) for k in self.model_options):
            raise UserError(f"model_options must map option names to values, got {self.model_options!r}")
        for key, flag in (("image_shape", "--image-size"), ("latent_dim", "--latent-dim"),
                          ("num_classes", "the dataset")):
            if key in self.model_options:
                raise UserError(f"--option {key} is not a model option; {flag} sets it")
        if not isinstance(self.optimizer, dict) or "learning_rate" not in self.optimizer:
            raise UserError(f"optimizer must name its learning_rate, got {self.optimizer!r}")
        if isinstance(self.learning_rate, bool) or not isinstance(self.learning_rate, (int, float)) \
                or not self.learning_rate > 0:
            raise UserError(f"--lr must be positive, got {self.learning_rate!r}")
        if self.lr_schedule is not None and self.lr_schedule not in LR_SCHEDULES:
            raise UserError(f"--lr-schedule must be one of {', '.join(LR_SCHEDULES)}, got {self.lr_schedule!r}")
        if self.publish not in PUBLISH_MODES:
            raise UserError(f"publish must be one of {', '.join(PUBLISH_MODES)}, got {self.publish!r}")
        if self.sampler_covariance not in COVARIANCES:
            raise UserError(f"--sampler-covariance must be one of {', '.join(COVARIANCES)}, "
                            f"got {self.sampler_covariance!r}")
        if self.strategy not in STRATEGIES:
            raise UserError(f"--strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}")
        if not isinstance(self.mixed_precision, bool):
            raise UserError(f"mixed_precision must be true or false, got {self.mixed_precision!r}")
        if self.keep_checkpoints < 1:
            raise UserError(f"keep_checkpoints must be at least 1, got {self.keep_checkpoints}")
        if self.sample_grid < 1 or int(self.sample_grid ** 0.5) ** 2 != self.sample_grid:
            raise UserError(f"sample_grid must be a square number of images, got {self.sample_grid}")
        if isinstance(self.eval_samples, bool) or not isinstance(self.eval_samples, int) or self.eval_samples < 2:
            raise UserError(f"--eval-samples must be an integer of at least 2, got {self.eval_samples!r}")
        if self.eval_extractor not in EVAL_EXTRACTORS:
            raise UserError(f"--eval-extractor must be one of {', '.join(EVAL_EXTRACTORS)}, "
                            f"got {self.eval_extractor!r}")
        if self.keep_best is not None and self.keep_best not in KEEP_BEST:
            raise UserError(f"--keep-best must be one of {', '.join(KEEP_BEST)}, got {self.keep_best!r}")
        if self.keep_best is not None and self.eval_every is None:
            object.__setattr__(self, "eval_every", 1)  # the best needs a figure every epoch
        object.__setattr__(self, "image_shape", tuple(int(d) for d in self.image_shape))

    @property
    def learning_rate(self) -> float:
        """The learning rate of every optimizer (``--lr``), read from :attr:`optimizer`."""
        return self.optimizer["learning_rate"]

    def summary(self) -> str:
        """One line for the terminal; config.json holds everything."""
        h, w, c = self.image_shape
        epochs = "1 epoch" if self.epochs == 1 else f"{self.epochs} epochs"
        parts = [f"{self.model} on {self.dataset} ({h}x{w}x{c})", epochs, f"batch {self.batch_size}",
                 f"{self.optimizer.get('name', 'optimizer')} lr {self.learning_rate:g}"
                 + (f" ({self.lr_schedule} to 0)" if self.lr_schedule else "")]
        if self.latent_dim is not None:
            parts.append(f"latent {self.latent_dim}")
        if self.limit is not None:
            parts.append(f"first {self.limit:,} images")
        if self.strategy != "default":
            parts.append(f"strategy {self.strategy}")
        if self.mixed_precision:
            parts.append("mixed precision")
        if self.ema is not None:
            parts.append(f"generator EMA {self.ema:g}")
        if self.diffaugment:
            parts.append(f"DiffAugment {','.join(self.diffaugment)}")
        if self.latent_sampler:
            parts.append(f"a {self.latent_sampler}-component latent mixture fitted after training"
                         + (" (diagonal covariances)" if self.sampler_covariance == "diag" else ""))
        if self.eval_every:
            parts.append(f"FID every {self.eval_every} epoch(s)")
        if self.time_limit:
            parts.append(f"at most {self.time_limit:g} min")
        parts.extend(f"{key} {value}" for key, value in sorted(self.model_options.items()))
        return ", ".join(parts)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["image_shape"] = list(self.image_shape)
        return d

    def to_json(self) -> str:
        return json.dumps({**self.to_dict(), "keras_gen_version": __version__}, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        if "keras_gen_version" in d and "sampler_covariance" not in d:
            # a run's config.json lists every field (to_json): one without this field was written
            # before full covariances were added, and its sampler was a diagonal one
            d = {**d, "sampler_covariance": "diag"}
        d = {k: v for k, v in d.items() if k != "keras_gen_version"}
        return cls(**_with_learning_rate(check_keys(d)))

    @classmethod
    def load(cls, path: str | Path) -> "RunConfig":
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, ValueError) as err:
            raise UserError(f"cannot read run config {path}: {err}") from None

    def replace(self, **changes) -> "RunConfig":
        """A copy with ``changes``; ``learning_rate`` (``--lr``) goes into the optimizer."""
        changes = check_keys(changes)
        if "learning_rate" in changes:
            changes = {**changes, "optimizer": {**changes.get("optimizer", self.optimizer)}}
        return dataclasses.replace(self, **_with_learning_rate(changes))


def _with_learning_rate(d: dict) -> dict:
    """``d`` with a top-level ``learning_rate`` (``--lr``, or a config.json written before the
    optimizer was its one home) moved into its ``optimizer``."""
    if "learning_rate" not in d:
        return d
    d = dict(d)
    d["optimizer"] = {**d["optimizer"], "learning_rate": d.pop("learning_rate")}
    return d


# Every key a config takes: its fields, and learning_rate (--lr), which lives in the optimizer.
FIELDS = tuple(f.name for f in dataclasses.fields(RunConfig)) + ("learning_rate",)


def check_keys(overrides: dict) -> dict:
    """Reject unknown config keys, suggesting the closest known one."""
    for key in overrides:
        if key not in FIELDS:
            close = difflib.get_close_matches(key, FIELDS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(FIELDS)}"
            raise UserError(f"unknown config key {key!r}{hint}")
    return overrides


# A recipe's keys that belong to the machine it ran on, not to the recipe: ignored by --config
# (runs go to a new run directory, exports to saved_models/, data is found the usual way).
MACHINE_KEYS = ("keras_gen_version", "run_dir", "data_dir", "export_dir")


def read_recipe(path: str | Path) -> dict:
    """The config fields of a recipe file (``train.py --config FILE``): a finished run's
    ``config.json``, or a JSON object with some of its fields (keys starting with ``_`` are notes,
    such as ``"_measured"``). :data:`MACHINE_KEYS` are dropped; unknown keys are a UserError."""
    try:
        data = json.loads(Path(path).read_text())
    except OSError as err:
        raise UserError(f"cannot read --config {path}: {err.strerror or err}; pass a run's config.json or a "
                        "recipe from configs/") from None
    except ValueError as err:
        raise UserError(f"--config {path} is not valid JSON ({err}); fix the file or pass a run's config.json") \
            from None
    if not isinstance(data, dict):
        raise UserError(f"--config {path} must hold a JSON object of config fields, got a {type(data).__name__}")
    recipe = {k: v for k, v in data.items() if not k.startswith("_") and k not in MACHINE_KEYS}
    try:
        check_keys(recipe)
    except UserError as err:
        raise UserError(f"--config {path}: {err}") from None
    if isinstance(recipe.get("image_shape"), list):
        recipe["image_shape"] = tuple(recipe["image_shape"])
    return recipe


def _channels(spec, overrides: dict) -> int:
    """The dataset's channel count; for data whose channels vary (a folder), those of the data found."""
    if spec.channels is None:
        return spec.image_shape[2]
    from keras_gen.datasets import find_source

    options = {k: overrides.get(k) for k in ("subset", "attribute")}
    try:
        return find_source(spec.name, overrides.get("data_dir"), options=options).channels
    except UserError:  # not found: training will say so; a summary uses the spec's
        return spec.image_shape[2]


def resolve_config(model: str, **overrides) -> RunConfig:
    """The run config for ``model``: its report's defaults, then ``overrides`` (None = not given).

    ``image_size`` (an int) overrides the height and width of the report's image size; the
    channel count always comes from the dataset.
    """
    import models_zoo  # the zoo imports Keras; keep config importable without it until needed
    from keras_gen.datasets import get_dataset_spec

    entry = models_zoo.get(model)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    image_size = overrides.pop("image_size", None)
    if image_size is not None and (isinstance(image_size, bool) or not isinstance(image_size, int) or image_size <= 0):
        raise UserError(f"--image-size must be a positive integer, got {image_size!r}")
    check_keys(overrides)
    if overrides.get("data_dir"):  # absolute, so evaluating the run from another directory finds the data
        overrides["data_dir"] = str(Path(overrides["data_dir"]).expanduser().absolute())
    dataset = overrides.pop("dataset", entry.dataset)
    spec = get_dataset_spec(dataset)
    for key, value in entry.defaults_for(dataset).items():  # e.g. vae_deconv: latent 2 on MNIST, 300 elsewhere
        overrides.setdefault(key, value)
    h, w, _ = entry.image_shape
    if image_size is not None:
        h = w = image_size
    # The zoo's XLA and steps-per-execution choices were measured on one device; under a strategy
    # both broke on this project's CPU test (XLA cannot reach variables of other devices, Keras'
    # multi-step loop fails under MirroredStrategy), so there they apply only when asked for.
    single_device = overrides.get("strategy", "default") == "default"
    overrides.setdefault("jit_compile", entry.jit_compile if single_device else False)
    overrides.setdefault("steps_per_execution", entry.steps_per_execution if single_device else 1)
    optimizer = dict(overrides.pop("optimizer", entry.optimizer))
    if "learning_rate" in overrides:  # --lr: the report's optimizer at another rate
        optimizer["learning_rate"] = overrides.pop("learning_rate")
    return RunConfig(
        model=model,
        dataset=dataset,
        epochs=overrides.pop("epochs", entry.epochs),
        batch_size=overrides.pop("batch_size", entry.batch_size),
        optimizer=optimizer,
        image_shape=overrides.pop("image_shape", (h, w, _channels(spec, overrides))),
        **overrides,
    )
