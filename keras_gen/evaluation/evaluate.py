"""``keras-gen evaluate``: the numbers behind the reports' judgements by eye, for one trained model.

``PATH`` is a run directory (its latest checkpoint, or ``--checkpoint best|N``) or an export
(``saved_models/<model>_<dataset>[/<version>]``, loaded with ``tf.saved_model.load`` alone).
:func:`evaluate` draws ``samples`` images from fixed seeds, pushes them through a feature
extractor (:mod:`keras_gen.evaluation.extractors`) and computes every figure of :data:`METRICS` with the
pure functions of :mod:`keras_gen.evaluation.metrics`:

* against a random subset of the real **test** split of the same size: FID, KID,
  precision/recall, density/coverage, sharpness (the "blurry VAE" claim);
* on the samples alone: classifier score and the class histogram (mode collapse);
* against every real **training** image: the nearest-neighbour distance (memorization);
* for VAEs evaluated from a run: test ELBO, the IWAE bound on test NLL and the reconstruction
  error (exports: the reconstruction error only, since the likelihood needs the decoder's logits).

The standard FID network (``--extractor fid-inception``) manages a few images a second on a CPU,
so with it only the images used go through the network: ``min(samples, fid_images)`` samples, as
many random test images and as many random training images (the floor's training side and the
nearest-neighbour set); it has no classes, so no classifier score or class histogram.

Beside every sample figure stands the same figure for the real test set against real training
images the extractor never saw: the **floor** a perfect model reaches with this many samples. It
depends only on the extractor, dataset and settings, so it is computed once and cached beside
the extractor. Results go to ``metrics.json`` (every figure with its floor, direction and the
extractor that produced it) and ``samples.png`` in ``--out`` (default ``<run>/evaluation/``, or
``evaluations/<model>_<dataset>-v<version>/`` for an export), and a table is printed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import statistics
import time
from pathlib import Path
from typing import Callable

import numpy as np
import tensorflow as tf

from keras_gen import __version__
from keras_gen.evaluation import metrics
from keras_gen.evaluation.settings import (  # noqa: F401
    MAX_SAMPLES,
    METRIC,
    METRICS,
    EvalSettings,
    MetricSpec,
)
from keras_gen.serving.runtime import check_truncation
from keras_gen.utils.errors import UserError
from keras_gen.utils.fileio import display_path, write_json
from keras_gen.utils.progress import Progress

METRICS_FILE = "metrics.json"
SAMPLES_FILE = "samples.png"
SAMPLE_BATCH = 500
GRID = 64  # samples.png: the first 64 samples, 8x8


# --------------------------------------------------------------------------- subjects
def _training_figures(run_dir: Path | None, up_to_epoch: int | None) -> dict:
    """Training time and throughput from a run's history.csv (epochs 1..``up_to_epoch``)."""
    from keras_gen.rundir.history import read_history

    if run_dir is None or not (run_dir / "history.csv").is_file():
        return {}
    rows = read_history(run_dir / "history.csv")
    if up_to_epoch is not None:
        rows = [r for r in rows if int(float(r["epoch"])) <= up_to_epoch]
    seconds = [float(r["epoch_seconds"]) for r in rows if r.get("epoch_seconds")]
    speed = [float(r["images_per_sec"]) for r in rows if r.get("images_per_sec")]
    # images an epoch trains on (throughput x training time): what makes two runs' epochs comparable
    sizes = [float(r["images_per_sec"]) * float(r["train_seconds"]) for r in rows
             if r.get("images_per_sec") and r.get("train_seconds")]
    if not seconds:
        return {}
    return {"epochs": len(rows), "seconds": round(sum(seconds), 1),
            "seconds_per_epoch": statistics.median(seconds),
            "images_per_sec": statistics.median(speed) if speed else None,
            "images_per_epoch": round(statistics.median(sizes)) if sizes else None}


class Subject:
    """A trained generator to evaluate, with what is known of its training.

    ``info`` holds model, family, dataset (and its options), image shape, classes, checkpoint,
    steps, parameters and training figures; :meth:`sample` draws images in [0, 1] from seeds.
    ``vae`` is the Keras VAE when its likelihood can be computed (runs), else None;
    :meth:`reconstruct` works for every VAE.
    """

    kind = "subject"
    vae = None

    def __init__(self, path: Path, info: dict):
        self.path = path
        self.info = info

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.info["image_shape"])

    @property
    def num_classes(self) -> int | None:
        return self.info.get("num_classes")

    @property
    def name(self) -> str:
        return self.info["name"]

    def sample(self, seeds: np.ndarray, labels: np.ndarray | None, truncation: float | None = None) -> np.ndarray:
        raise NotImplementedError

    def reconstruct(self, images: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
        raise NotImplementedError

    def default_out(self, settings: EvalSettings | None = None) -> Path:
        raise NotImplementedError


class ModelSubject(Subject):
    """A keras_gen model object (trained in Python, or loaded from a checkpoint)."""

    kind = "model"

    def __init__(self, model, *, name: str, dataset: str, path: Path | None = None, extra: dict | None = None):
        self.model = model
        if model.family == "vae":
            self.vae = model
        seeds = tf.TensorSpec([None], tf.int32)
        if model.conditional:
            self._sample = tf.function(lambda s, y: model.sample(s, y), input_signature=[seeds, seeds])
        else:
            self._sample = tf.function(lambda s: model.sample(s), input_signature=[seeds])
        info = {
            "name": name, "path": str(path) if path else None, "kind": self.kind, "model": name,
            "family": model.family, "dataset": dataset, "dataset_options": {}, "data_dir": None,
            "image_shape": list(model.image_shape), "latent_dim": model.latent_dim,
            "num_classes": model.num_classes, "value_range": model.value_range,
            "checkpoint": None, "checkpoint_label": "in memory", "epochs": None,
            "steps": int(model.steps_trained), "run_dir": None,
            "parameters": {net.name: int(net.count_params()) for net in model.sub_networks},
            "training": {},
            **(extra or {}),
        }
        super().__init__(path, info)

    def sample(self, seeds, labels, truncation=None):
        if truncation is not None:  # a rarer call: eager, since the compiled sampler takes seeds (and labels) only
            return self.model.sample(tf.constant(seeds, tf.int32), labels, truncation).numpy()
        out = self._sample(seeds) if labels is None else self._sample(seeds, labels)
        return out.numpy()

    def reconstruct(self, images, labels):
        return self.model.reconstruct(images, labels).numpy()

    def default_out(self, settings: EvalSettings | None = None) -> Path:
        return Path("evaluations") / evaluation_name(self.name, settings)


class RunSubject(ModelSubject):
    """A run directory: the Keras model of one of its checkpoints."""

    kind = "run"

    def __init__(self, run_dir: Path, checkpoint: str = "latest"):
        from keras_gen.config import RunConfig
        from keras_gen.rundir.checkpoints import find_checkpoint, load_checkpoint

        ckpt = find_checkpoint(run_dir, checkpoint)
        config = RunConfig.load(run_dir / "config.json")
        super().__init__(load_checkpoint(ckpt["path"]), name=f"{config.model}_{config.dataset}",
                         dataset=config.dataset, path=run_dir, extra={
                             "kind": self.kind, "model": config.model,
                             "dataset_options": _options(config.subset, config.attribute),
                             "data_dir": config.data_dir, "checkpoint": ckpt["path"],
                             "checkpoint_label": checkpoint, "epochs": ckpt["epoch"], "run_dir": str(run_dir),
                             "training": _training_figures(run_dir, ckpt["epoch"])})

    def default_out(self, settings: EvalSettings | None = None) -> Path:
        return self.path / evaluation_name("evaluation", settings)


class ExportSubject(Subject):
    """An export, used through its signatures alone (as a server would)."""

    kind = "export"

    def __init__(self, path: Path):
        from keras_gen.serving.runtime import load_export

        self.export = load_export(path)
        meta = self.export.metadata
        run_dir = Path(meta["run_dir"]) if meta.get("run_dir") else None
        value_range = {(-1.0, 1.0): "minus_one_one", (0.0, 1.0): "zero_one"}.get(
            tuple(meta.get("value_range", (0.0, 1.0))), "zero_one")
        info = {
            "name": self.export.name,
            "path": str(self.export.path), "kind": self.kind, "model": meta["model"], "family": meta["family"],
            "dataset": meta["dataset"], "dataset_options": meta.get("dataset_options", {}),
            "data_dir": meta.get("data_dir"), "image_shape": list(meta["image_shape"]),
            "latent_dim": int(meta["latent_dim"]), "num_classes": meta.get("num_classes"),
            "value_range": value_range, "checkpoint": str(self.export.path),
            "checkpoint_label": f"export version {self.export.path.name}", "epochs": meta.get("epochs"),
            "steps": int(meta.get("steps_trained", 0)), "run_dir": str(run_dir) if run_dir else None,
            "parameters": meta.get("parameters"),
            "training": _training_figures(run_dir, meta.get("epochs")),
        }
        super().__init__(self.export.path, info)

    def sample(self, seeds, labels, truncation=None):
        return self.export.sample(seeds, labels, truncation=truncation)

    def reconstruct(self, images, labels):
        inputs = {"images": np.asarray(images, np.float32)}
        if labels is not None:
            inputs["label"] = np.asarray(labels, np.int32)
        return self.export.run("reconstruct", inputs, "images")

    def default_out(self, settings: EvalSettings | None = None) -> Path:
        return Path("evaluations") / evaluation_name(f"{self.export.name}-v{self.export.path.name}", settings)


def evaluation_name(base: str, settings: EvalSettings | None) -> str:
    """The directory of one evaluation: ``base`` for the domain classifier, ``base-inception``,
    and ``base-fid-inception-N`` for the standard FID network on N images. Each extractor (and,
    for the costly one, each image count) keeps its own ``metrics.json``, reused by the next
    evaluation with the same settings: a 10,000-image Inception evaluation is hours of CPU that a
    one-minute domain evaluation must not replace. Other settings of one extractor share its
    directory (the newest evaluation is kept; a change of settings is never reused)."""
    if settings is not None and settings.truncation is not None:  # other samples: their own evaluation
        base = f"{base}-truncation{settings.truncation:g}"
    if settings is None or settings.extractor == "domain":
        return base
    if settings.extractor == "fid-inception":
        return f"{base}-fid-inception-{settings.feature_samples}"
    return f"{base}-{settings.extractor}"


def _options(subset, attribute) -> dict:
    return {k: v for k, v in (("subset", subset), ("attribute", attribute)) if v is not None}


def open_subject(path: str | Path, *, checkpoint: str = "latest") -> Subject:
    """A run directory or an export at ``path``; anything else is a UserError."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path} does not exist; pass a run directory (runs/<model>_<dataset>_<time>) or an "
                        "export (saved_models/<model>_<dataset>[/<version>])")
    if (path / "config.json").is_file():
        return RunSubject(path, checkpoint)
    if checkpoint != "latest":
        raise UserError(f"--checkpoint applies to run directories; {path} is not one (no config.json)")
    try:
        return ExportSubject(path)
    except UserError:
        raise UserError(f"{path} is neither a run directory (no config.json) nor an export (no saved_model.pb in "
                        "it or a numbered version under it); pass runs/<model>_<dataset>_<time> or "
                        "saved_models/<model>_<dataset>[/<version>]") from None


# --------------------------------------------------------------------------- figures
def sample_figures(real: dict, fake: dict, *, train_features: np.ndarray, num_classes: int | None,
                   settings: EvalSettings) -> dict:
    """Every sample figure of ``fake`` against ``real``: dicts of ``features`` [N, D], ``probs``
    [N, C] and ``images`` [N, H, W, C] in [0, 1]; ``train_features`` for the nearest neighbours;
    ``num_classes`` when the extractor's classes are the dataset's (class histogram)."""
    out = {"fid": metrics.frechet_distance(real["features"], fake["features"])}
    out["kid"], out["kid_std"] = metrics.kernel_distance(
        real["features"], fake["features"], subsets=settings.kid_subsets, subset_size=settings.kid_subset_size,
        seed=settings.seed)
    out.update(metrics.manifold_metrics(real["features"], fake["features"], pr_k=settings.pr_k,
                                        dc_k=settings.dc_k))
    if fake["probs"].shape[-1]:  # an extractor without classes (fid-inception) has no classifier score
        out["classifier_score"], out["classifier_score_std"] = metrics.classifier_score(
            fake["probs"], splits=min(10, len(fake["probs"])))
    if num_classes:
        histogram = metrics.class_histogram(fake["probs"], num_classes)
        out["classes_covered"] = histogram["classes_covered"]
        out["class_entropy"] = histogram["entropy"]
        out["class_counts"] = histogram["counts"]
        out["num_classes"] = num_classes
    out["sharpness"] = metrics.sharpness(fake["images"])
    out["nn_distance"] = float(metrics.nearest_neighbour_distance(fake["features"], train_features).mean())
    return out


@dataclasses.dataclass
class Reference:
    """The real side of an evaluation: ``test`` (features, probs, images, labels of a random test
    subset as large as the sample), every training image's features, and the cached floor."""

    test: dict
    train_features: np.ndarray
    floor: dict
    source: object


def load_reference(evaluator, source, *, image_shape, settings: EvalSettings,
                   log: Callable[[str], None] = lambda line: None) -> Reference:
    """Real test and training data of ``source`` seen through ``evaluator``, and the floor."""
    from keras_gen.evaluation.extractors import load_split

    if evaluator.kind == "fid-inception":
        return _costly_reference(evaluator, source, image_shape=image_shape, settings=settings, log=log)
    test = evaluator.dataset_features(source, "test", image_shape=image_shape)
    train = evaluator.dataset_features(source, "train", image_shape=image_shape)
    test_images, _ = load_split(source, "test", image_shape=image_shape)
    rng = np.random.default_rng(settings.seed)
    n_real = min(settings.samples, len(test_images))
    if n_real <= max(settings.pr_k, settings.dc_k) or n_real < settings.kid_subset_size:
        raise UserError(f"the {source.spec.name} test split has {len(test_images)} images, too few for "
                        f"k={max(settings.pr_k, settings.dc_k)} and --kid-subset-size {settings.kid_subset_size}; "
                        "lower them")
    index = np.sort(rng.permutation(len(test_images))[:n_real])  # random, never the first N
    real_test = {"features": test["features"][index], "probs": test["probs"][index],
                 "images": test_images[index].astype(np.float32) / 255.0, "labels": test["labels"][index]}
    floor = _floor(evaluator, source, real_test, train, image_shape=image_shape, settings=settings, log=log)
    return Reference(test=real_test, train_features=train["features"], floor=floor, source=source)


def _costly_reference(evaluator, source, *, image_shape, settings: EvalSettings, log) -> Reference:
    """:func:`load_reference` for an extractor too slow for whole splits (fid-inception, a few
    images/s on a CPU): features of only the images used, ``n = min(settings.feature_samples, test
    images)`` of each split, cached per subset: a random test subset (inside the one the samples'
    sharpness is compared with) and ``n`` random training images, which serve as both the floor's
    training side and the nearest-training-neighbour set."""
    from keras_gen.evaluation.extractors import load_split, subset_indices

    test_images, test_labels = load_split(source, "test", image_shape=image_shape)
    n_real = min(settings.samples, len(test_images))
    n = min(settings.feature_samples, n_real)
    if n <= max(settings.pr_k, settings.dc_k) or n < settings.kid_subset_size:
        raise UserError(f"the {source.spec.name} test split has {len(test_images)} images, too few for "
                        f"k={max(settings.pr_k, settings.dc_k)} and --kid-subset-size {settings.kid_subset_size}; "
                        "lower them")
    index = subset_indices(len(test_images), n_real, settings.seed)  # as load_reference draws it
    log(f"real images through {evaluator.name}: {n} test and {n} training images (once, then cached)")
    test = evaluator.dataset_features(source, "test", image_shape=image_shape, subset=n, seed=settings.seed)
    train = evaluator.dataset_features(source, "train", image_shape=image_shape, subset=n, seed=settings.seed + 1)
    real_test = {"features": test["features"], "probs": test["probs"],
                 "images": test_images[index].astype(np.float32) / 255.0, "labels": test_labels[index]}
    floor = _floor(evaluator, source, real_test, train, image_shape=image_shape, settings=settings, log=log)
    return Reference(test=real_test, train_features=train["features"], floor=floor, source=source)


def _floor(evaluator, source, real_test: dict, train: dict, *, image_shape, settings, log) -> dict:
    """Figures of the real test subset against as many training images the extractor never saw
    (cached beside the extractor: they depend on nothing the model does)."""
    n = len(real_test["features"])
    key = {"extractor": evaluator.name, "source": source.location, "options": source.options,
           "image_shape": list(image_shape), "n": n, **settings.to_dict(), "samples": None, "iwae_k": None,
           "likelihood_images": None, "version": 1}
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    path = None if evaluator.cache_dir is None else evaluator.cache_dir / f"floor-{source.spec.name}-{digest}.json"
    if path is not None and path.is_file():
        try:
            cached = json.loads(path.read_text())
            if cached.get("key") == key:
                return cached["figures"]
        except (OSError, ValueError):
            pass  # recompute and overwrite
    log(f"computing the real-vs-real floor for {source.spec.name} ({n} test images against {n} training images "
        "the extractor never saw; once, then cached)")
    held = evaluator.held_out_indices(len(train["features"]))
    pool = held if held is not None else np.arange(len(train["features"]))
    rng = np.random.default_rng(settings.seed + 1)
    pick = np.sort(rng.choice(pool, size=min(n, len(pool)), replace=False))
    real_train = {"features": train["features"][pick], "probs": train["probs"][pick]}
    figures = sample_figures(real_train, real_test, train_features=train["features"],
                             num_classes=_class_count(evaluator), settings=settings)
    figures["training_images"] = int(len(pick))
    figures["training_images_unseen_by_extractor"] = held is not None
    if path is not None:
        write_json(path, {"key": key, "figures": figures})
    return figures


def _class_count(evaluator) -> int | None:
    """The extractor's classes when they are the dataset's (a domain classifier), else None."""
    return evaluator.num_classes if evaluator.kind == "domain" else None


def _test_batches(subject: Subject, reference: Reference, count: int, batch: int = 250):
    """``(images in the model's value range, labels or None)`` batches of the first ``count``
    images of the reference test subset."""
    images = reference.test["images"][:count]
    labels = reference.test["labels"][:count]
    if subject.info["value_range"] == "minus_one_one":
        images = images * 2.0 - 1.0
    for start in range(0, len(images), batch):
        yield images[start:start + batch], (labels[start:start + batch] if subject.num_classes else None)


def likelihood_figures(subject: Subject, reference: Reference, settings: EvalSettings) -> dict:
    """VAE figures on the first ``likelihood_images`` images of the reference test subset."""
    count = min(settings.likelihood_images, len(reference.test["images"]))
    if subject.vae is not None:
        figures = metrics.vae_test_metrics(subject.vae, _test_batches(subject, reference, count),
                                           k=settings.iwae_k, seed=settings.seed)
        return {"elbo": figures["elbo"], "iwae_nll_bound": figures["iwae_nll_bound"],
                "reconstruction_nll": figures["reconstruction_nll"], "kl": figures["kl"],
                "reconstruction_mse": figures["reconstruction_mse"], "likelihood_images": figures["num_examples"],
                "iwae_k": settings.iwae_k}
    squared = 0.0
    for images, labels in _test_batches(subject, reference, count):
        target = images if subject.info["value_range"] == "zero_one" else (images + 1.0) / 2.0
        squared += float(np.sum(np.mean((subject.reconstruct(images, labels) - target) ** 2, axis=(1, 2, 3))))
    return {"reconstruction_mse": squared / count, "likelihood_images": count,
            "likelihood_note": "ELBO and IWAE need the decoder's likelihood: evaluate the run directory"}


def sample_batches(subject: Subject, count: int, seed: int = 0, truncation: float | None = None):
    """``(images in [0, 1], labels or None)`` batches of ``SAMPLE_BATCH``: ``count`` samples from
    seeds ``seed * 2**20 + i`` (labels cycling through the classes for conditional models), with
    a progress bar; ``truncation``: psi of the truncation trick (GANs). NaN or infinite pixels are
    a UserError."""
    if truncation is not None:
        check_truncation(truncation, subject.info["family"], subject.info["model"])
    seeds = ((np.arange(count, dtype=np.int64) + seed * MAX_SAMPLES) % (2**31 - 1)).astype(np.int32)
    labels = (np.arange(count) % subject.num_classes).astype(np.int32) if subject.num_classes else None
    with Progress(count, f"sampling {subject.name}") as bar:
        for i in range(0, count, SAMPLE_BATCH):
            part_labels = None if labels is None else labels[i:i + SAMPLE_BATCH]
            extra = {} if truncation is None else {"truncation": truncation}  # a Subject of one's own may not take it
            images = np.asarray(subject.sample(seeds[i:i + SAMPLE_BATCH], part_labels, **extra), np.float32)
            if not np.all(np.isfinite(images)):
                raise UserError(f"{subject.name} generates NaN or infinite pixels; its training diverged: evaluate an "
                                "earlier --checkpoint")
            bar.update(len(images))
            yield images, part_labels


def draw_samples(subject: Subject, settings: EvalSettings) -> tuple[np.ndarray, np.ndarray | None]:
    """``settings.samples`` images in [0, 1] and their labels (see :func:`sample_batches`)."""
    parts = list(sample_batches(subject, settings.samples, settings.seed, settings.truncation))
    labels = None if parts[0][1] is None else np.concatenate([p[1] for p in parts])
    return np.concatenate([p[0] for p in parts]), labels


def evaluate(subject: Subject, settings: EvalSettings, *, data_dir=None, train_extractor: bool = True,
             log: Callable[[str], None] = lambda line: None) -> tuple[dict, np.ndarray]:
    """Every figure of :data:`METRICS` for ``subject`` (see the module docstring).

    Returns ``(result, grid_images)``: the ``metrics.json`` contents and the first 64 samples.
    """
    from keras_gen.datasets import find_source
    from keras_gen.evaluation.extractors import get_evaluator

    info = subject.info
    seconds, start = {}, time.perf_counter()
    source = find_source(info["dataset"], data_dir or info.get("data_dir"), options=info.get("dataset_options"))
    evaluator = get_evaluator(info["dataset"], image_shape=subject.image_shape, extractor=settings.extractor,
                              data_dir=source.directory, options=source.options, train_if_missing=train_extractor,
                              log=log)
    reference = load_reference(evaluator, source, image_shape=subject.image_shape, settings=settings, log=log)
    seconds["reference"] = time.perf_counter() - start

    clock = time.perf_counter()
    images, _ = draw_samples(subject, settings)
    seconds["sampling"] = time.perf_counter() - clock
    clock = time.perf_counter()
    n_features = len(reference.test["features"]) if evaluator.kind == "fid-inception" else len(images)
    if n_features < len(images):
        log(f"features of {n_features} of the {len(images)} samples (--fid-images)")
    features, probs = evaluator.features_and_probs(  # i.i.d. seeds: the first n are a random n
        images[:n_features], progress=f"{evaluator.name} features of {subject.name}'s samples")
    seconds["features"] = time.perf_counter() - clock
    clock = time.perf_counter()
    figures = sample_figures(reference.test, {"features": features, "probs": probs, "images": images},
                             train_features=reference.train_features, num_classes=_class_count(evaluator),
                             settings=settings)
    seconds["sample_metrics"] = time.perf_counter() - clock
    if info["family"] == "vae":
        clock = time.perf_counter()
        log(f"VAE likelihood on {min(settings.likelihood_images, len(reference.test['images']))} test images "
            f"(IWAE k={settings.iwae_k})" if subject.vae is not None else "VAE reconstruction error")
        figures.update(likelihood_figures(subject, reference, settings))
        seconds["likelihood"] = time.perf_counter() - clock
    training = info.get("training") or {}
    for key in ("seconds_per_epoch", "images_per_sec", "images_per_epoch"):
        if training.get(key) is not None:
            figures[key] = training[key]
    seconds["total"] = time.perf_counter() - start

    result = {
        "keras_gen_version": __version__,
        "evaluated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "subject": info,
        "settings": settings.to_dict(),
        "extractor": evaluator.info(),
        "reference": {"dataset": source.spec.name, "source": display_path(source.location), "options": source.options,
                      "test_images": int(len(reference.test["images"])),
                      "feature_images": int(len(features)),
                      "training_images": int(len(reference.train_features)),
                      "floor_training_images": reference.floor.get("training_images"),
                      "floor_images_unseen_by_extractor": reference.floor.get("training_images_unseen_by_extractor")},
        "metrics": _metric_entries(figures, reference.floor, evaluator.name),
        "class_counts": figures.get("class_counts"),
        "floor_class_counts": reference.floor.get("class_counts"),
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
    }
    return result, images[:GRID]


def _metric_entries(figures: dict, floor: dict, extractor: str) -> dict:
    """``{key: {"value", "floor", "better", "extractor", ...}}`` for every figure computed."""
    entries = {}
    for spec in METRICS:
        if spec.key not in figures:
            continue
        entry = {"value": figures[spec.key], "better": spec.better, "label": spec.label}
        if spec.kind == "sample":
            entry["floor"] = floor.get(spec.key)
            entry["extractor"] = extractor
        if f"{spec.key}_std" in figures:
            entry["std"] = figures[f"{spec.key}_std"]
            entry["floor_std"] = floor.get(f"{spec.key}_std")
        if spec.kind == "likelihood":
            entry["extractor"] = None
            entry["images"] = figures.get("likelihood_images")
            if spec.key == "iwae_nll_bound":
                entry["k"] = figures.get("iwae_k")
            for extra in ("reconstruction_nll", "kl"):
                if spec.key == "elbo" and extra in figures:
                    entry[extra] = figures[extra]
        if spec.key == "classes_covered":
            entry["of"] = figures.get("num_classes")
        if spec.key == "seconds_per_epoch" and figures.get("images_per_epoch"):
            entry["images_per_epoch"] = figures["images_per_epoch"]
        entries[spec.key] = entry
    if "likelihood_note" in figures:
        entries["reconstruction_mse"]["note"] = figures["likelihood_note"]
    return entries


# --------------------------------------------------------------------------- output
def format_value(key: str, value, std=None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    spec = METRIC.get(key)
    text = format(value, spec.fmt if spec else ".4g")
    if std is not None:
        text += " ± " + format(std, spec.fmt if spec else ".4g")
    return text


def _better_text(spec: MetricSpec) -> str:
    return {"lower": "lower", "higher": "higher", "real": "closest to real"}[spec.better]


def format_table(result: dict) -> str:
    """The printed table: one row per figure, the model's value beside the real-vs-real floor."""
    info, extractor = result["subject"], result["extractor"]
    settings = result["settings"]
    accuracy = extractor.get("extractor_test_accuracy")
    lines = [
        f"{info['name']} ({info['kind']} {info['path']}, {info['checkpoint_label']}, "
        f"epoch {info.get('epochs') or '?'}, {info['steps']:,} steps)",
        f"{settings['samples']:,} samples against {result['reference']['test_images']:,} {info['dataset']} test "
        f"images; extractor {extractor['extractor']}" + (f" (test accuracy {accuracy:.4f})" if accuracy else "") +
        (f"; feature figures on {settings['fid_images']:,} of them (--fid-images)"
         if settings.get("fid_images") and settings["fid_images"] < settings["samples"] else ""),
        "",
        f"{'figure':28s} {'model':>18s} {'real test vs train':>20s}  better",
    ]
    for spec in METRICS:
        entry = result["metrics"].get(spec.key)
        if entry is None:
            continue
        value = format_value(spec.key, entry["value"], entry.get("std"))
        if spec.key == "classes_covered" and entry.get("of"):
            value += f"/{entry['of']}"
        floor = format_value(spec.key, entry.get("floor"), entry.get("floor_std")) if spec.kind == "sample" else ""
        label = spec.label + (f" ({spec.unit})" if spec.unit else "")
        if spec.key == "iwae_nll_bound" and entry.get("k"):
            label = f"IWAE NLL bound k={entry['k']} (nats)"
        lines.append(f"{label:28s} {value:>18s} {floor:>20s}  {_better_text(spec)}")
    note = result["metrics"].get("reconstruction_mse", {}).get("note")
    if note:
        lines.append(f"({note})")
    return "\n".join(lines)


def save_grid(path: Path, images: np.ndarray) -> None:
    from keras_gen.utils.images import image_grid, save_png

    save_png(path, image_grid(images, rows=int(math.ceil(math.sqrt(len(images))))))


def write_evaluation(out_dir: Path, result: dict, grid: np.ndarray) -> Path:
    """``metrics.json`` and ``samples.png`` in ``out_dir``, each written atomically."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        save_grid(out_dir / SAMPLES_FILE, grid)
        write_json(out_dir / METRICS_FILE, result)
    except OSError as err:
        raise UserError(f"cannot write the evaluation to {out_dir}: {err.strerror or err}; pass --out DIR") from None
    return out_dir / METRICS_FILE


def read_evaluation(out_dir: Path) -> dict | None:
    path = out_dir / METRICS_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def reusable(previous: dict | None, subject: Subject, settings: EvalSettings) -> bool:
    """Whether an earlier ``metrics.json`` is of the same checkpoint with the same settings."""
    return bool(previous) and previous.get("settings") == settings.to_dict() and \
        previous.get("subject", {}).get("checkpoint") == subject.info["checkpoint"] and \
        previous.get("subject", {}).get("steps") == subject.info["steps"] and \
        previous.get("keras_gen_version") == __version__


def evaluate_path(path, settings: EvalSettings, *, checkpoint: str = "latest", out: str | Path | None = None,
                  data_dir=None, train_extractor: bool = True, reuse: bool = False,
                  log: Callable[[str], None] = lambda line: None) -> tuple[dict, Path]:
    """Open (``path`` may be an opened :class:`Subject`), evaluate and write one subject; with
    ``reuse``, an up-to-date ``metrics.json`` is read instead. Returns ``(result, out_dir)``."""
    subject = path if isinstance(path, Subject) else open_subject(path, checkpoint=checkpoint)
    out_dir = Path(out) if out is not None else subject.default_out(settings)
    previous = read_evaluation(out_dir) if reuse else None
    if reusable(previous, subject, settings) and (out_dir / SAMPLES_FILE).is_file():
        log(f"{subject.name}: reusing {out_dir / METRICS_FILE}")
        return previous, out_dir
    result, grid = evaluate(subject, settings, data_dir=data_dir, train_extractor=train_extractor, log=log)
    write_evaluation(out_dir, result, grid)
    return result, out_dir


