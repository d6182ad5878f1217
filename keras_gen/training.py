"""A training run: config -> data -> model -> ``fit`` with callbacks -> SavedModel export.

Layout of a run directory::

    config.json             the resolved RunConfig with the package version
    history.csv             one row per epoch: losses, epoch_seconds, images_per_sec
    loss_curves.png         history.csv drawn
    samples/epoch_NNNN.png  a fixed-seed sample grid per epoch (and samples/latest.png)
    checkpoints/            epoch-NNNN.keras (+ .json) written atomically, latest.json
    tensorboard/            TensorBoard logs (scalars and sample grids)
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import sys
import time
from pathlib import Path

import keras
import tensorflow as tf

import models_zoo
from keras_gen import callbacks as kg_callbacks
from keras_gen.config import RESUMABLE_OVERRIDES, RunConfig
from keras_gen.data import build_train_set, count_examples, find_source
from keras_gen.errors import UserError
from keras_gen.export import export_model, read_metadata
from keras_gen.fileio import write_text

RUNS_ROOT = Path("runs")


@dataclasses.dataclass
class RunResult:
    config: RunConfig
    run_dir: Path
    model: keras.Model
    epochs_done: int
    export_path: Path | None


def load_checkpoint(path: str | Path):
    """A ``.keras`` checkpoint, with every zoo family registered first (they register on import)."""
    models_zoo.names()  # imports every zoo module and so every family class they use
    return keras.saving.load_model(path)


def make_optimizer(spec: dict) -> keras.optimizers.Optimizer:
    spec = dict(spec)
    name = spec.pop("name")
    return keras.optimizers.get({"class_name": name, "config": spec})


def make_strategy(name: str) -> tf.distribute.Strategy:
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        if not os.environ.get("TF_CONFIG"):
            raise UserError("--strategy multiworker needs TF_CONFIG set on every worker (see the README)")
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def build_model(config: RunConfig, *, num_classes: int | None):
    """The zoo model for ``config``, uncompiled, sized to the config's image shape."""
    entry = models_zoo.get(config.model)
    overrides = {"image_shape": config.image_shape}
    if config.latent_dim is not None:
        overrides["latent_dim"] = config.latent_dim
    if entry.conditional:
        if num_classes is None:
            raise UserError(f"model {config.model} is conditional and needs class labels; dataset "
                            f"{config.dataset} has none: pick a labelled dataset (for celeba pass --attribute, e.g. Male)")
        overrides["num_classes"] = num_classes
    return entry.build(**overrides)


def steps_per_execution(config: RunConfig) -> int:
    """``config.steps_per_execution``, lowered to divide ``--steps-per-epoch`` when that is set: on
    a repeated dataset one execution runs all its steps, so an epoch would overshoot."""
    if config.steps_per_epoch is None:
        return config.steps_per_execution
    return math.gcd(config.steps_per_execution, config.steps_per_epoch)


def compile_model(model, config: RunConfig) -> None:
    optimizers = {slot: make_optimizer(config.optimizer) for slot in model.optimizer_slots}
    model.compile(**optimizers, jit_compile=config.jit_compile, steps_per_execution=steps_per_execution(config))


def apply_speed_settings(model, config: RunConfig) -> None:
    """XLA and steps per execution of ``config`` on a model restored from a checkpoint (its saved
    compile config holds the optimizers only: these may differ on resume)."""
    model.jit_compile = config.jit_compile
    model.steps_per_execution = steps_per_execution(config)


def print_summary(config: RunConfig, *, num_classes: int | None = None, out=print) -> None:
    model = build_model(config, num_classes=num_classes)
    entry = models_zoo.get(config.model)
    out(f"{config.model}: {entry.family}, {entry.report} {entry.section}")
    for net in model.sub_networks:
        net.summary(print_fn=lambda line, *a, **k: out(line), expand_nested=True)


def _check_writable(directory: Path, what: str) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise UserError(f"cannot write {what} {directory}: {err.strerror or err}; pass a writable "
                        f"directory") from None


def find_resume_dir(run_dir: str | None, model: str | None, dataset: str | None) -> Path:
    """The run to continue: ``--run-dir``, else the newest ``runs/<model>_<dataset>_*`` with a checkpoint."""
    if run_dir is not None:
        path = Path(run_dir)
        if kg_callbacks.latest_checkpoint(path / "checkpoints") is None:
            raise UserError(f"--resume: {path} has no checkpoint (checkpoints/latest.json); "
                            "start a new run without --resume")
        return path
    if model is None:
        raise UserError("--resume needs --run-dir DIR, or --model (and --dataset) to find the newest run")
    pattern = f"{model}_{dataset}_*" if dataset else f"{model}_*"
    candidates = sorted((p for p in RUNS_ROOT.glob(pattern)
                         if kg_callbacks.latest_checkpoint(p / "checkpoints") is not None),
                        key=lambda p: p.stat().st_mtime)
    if not candidates:
        raise UserError(f"--resume: no run of {model} with a checkpoint under {RUNS_ROOT}/; "
                        "start a new run without --resume")
    return candidates[-1]


def resume_config(run_dir: Path, overrides: dict) -> RunConfig:
    """The saved config of ``run_dir`` with the overrides a resumed run may change."""
    saved = RunConfig.load(run_dir / "config.json")
    changes = {}
    for key, value in overrides.items():
        if value is None or key == "run_dir":
            continue
        current = getattr(saved, key, None)
        if key in RESUMABLE_OVERRIDES:
            changes[key] = value
        elif key in ("model", "dataset") and value == current:
            continue
        else:
            raise UserError(f"cannot change {key} when resuming {run_dir} (it was {current!r}); "
                            "start a new run instead")
    return saved.replace(run_dir=str(run_dir), **changes)


def train(config: RunConfig, *, resume_from: Path | None = None, out=print) -> RunResult:
    """Run (or continue) the training ``config`` describes and export the result."""
    strategy = make_strategy(config.strategy)
    source = find_source(config.dataset, config.data_dir,
                         options={"subset": config.subset, "attribute": config.attribute})
    train_source = source.load("train")  # reads and validates the files before anything is written
    spec = source.spec
    n_train = count_examples(train_source, config.limit)
    images_per_step = config.batch_size

    checkpoint = None
    if resume_from is not None:
        run_dir = resume_from
        checkpoint = kg_callbacks.latest_checkpoint(run_dir / "checkpoints")
    else:
        run_dir = Path(config.run_dir) if config.run_dir else \
            RUNS_ROOT / f"{config.model}_{config.dataset}_{time.strftime('%Y%m%d-%H%M%S')}"
        if (run_dir / "config.json").exists():
            raise UserError(f"run directory {run_dir} already holds a run; pass --resume to continue it "
                            "or another --run-dir")
        config = config.replace(run_dir=str(run_dir))

    with strategy.scope():
        if checkpoint is not None:
            model = load_checkpoint(checkpoint["path"])
            apply_speed_settings(model, config)
        else:
            model = build_model(config, num_classes=source.num_classes)
            compile_model(model, config)
    images_per_step *= model.data_batch_multiplier
    if n_train < images_per_step:
        raise UserError(f"dataset {config.dataset} has {n_train} training images, fewer than one step's "
                        f"{images_per_step}; lower --batch-size or raise --limit")

    cache_dir = run_dir / "data_cache"  # file cache for data too large for memory; removed after the run
    shutil.rmtree(cache_dir, ignore_errors=True)  # an interrupted run may have left a partial one
    train_ds = build_train_set(train_source, image_shape=config.image_shape, value_range=model.value_range,
                               batch_size=images_per_step, seed=config.seed, limit=config.limit,
                               repeat=config.steps_per_epoch is not None, cache_dir=cache_dir / "train")
    validation = None
    if model.family == "vae":
        validation = build_train_set(source.load("test"), image_shape=config.image_shape,
                                     value_range=model.value_range, batch_size=max(config.batch_size, 256),
                                     seed=config.seed, limit=config.limit, shuffle=False, drop_remainder=False,
                                     cache_dir=cache_dir / "test")

    _check_writable(run_dir, "run directory")
    initial_epoch = checkpoint["epoch"] if checkpoint else 0
    write_text(run_dir / "config.json", config.to_json())
    history_csv = run_dir / "history.csv"
    kg_callbacks.truncate_history(history_csv, before_epoch=initial_epoch)
    out(f"run directory: {run_dir}")
    out(config.to_json().rstrip())
    if initial_epoch >= config.epochs:
        out(f"already trained {initial_epoch} epochs (--epochs {config.epochs}); pass a larger --epochs to continue")
        return RunResult(config, run_dir, model, initial_epoch, None)
    if checkpoint:
        out(f"resuming from epoch {initial_epoch} (step {checkpoint['steps']}) of {checkpoint['path']}")

    callbacks = [kg_callbacks.Throughput(images_per_step)]
    if config.eval_every:  # before the history and checkpoint callbacks, so they record the FID
        callbacks.append(fid_monitor(config, source, out=out))
    callbacks += [
        # The history row before the checkpoint: a Ctrl-C between the two then leaves a row past the
        # last checkpoint (dropped on resume), never a checkpoint without its row.
        kg_callbacks.HistoryCSV(history_csv),
        kg_callbacks.AtomicCheckpoint(run_dir / "checkpoints", config=config.to_dict(),
                                      keep=config.keep_checkpoints),
        *([kg_callbacks.BestCheckpoint(run_dir / "checkpoints", monitor=config.keep_best)] if config.keep_best else []),
        kg_callbacks.SampleGrid(run_dir / "samples", n=config.sample_grid, tensorboard_dir=run_dir / "tensorboard"),
        kg_callbacks.LossCurves(history_csv, run_dir / "loss_curves.png"),
        keras.callbacks.TensorBoard(log_dir=str(run_dir / "tensorboard"), write_graph=False),
    ]
    verbose = config.verbose if config.verbose is not None else (1 if sys.stdout.isatty() else 2)
    try:
        model.fit(train_ds, epochs=config.epochs, initial_epoch=initial_epoch, steps_per_epoch=config.steps_per_epoch,
                  validation_data=validation, callbacks=callbacks, verbose=verbose, shuffle=False)
    except KeyboardInterrupt:
        latest = kg_callbacks.latest_checkpoint(run_dir / "checkpoints")
        where = f"the last complete checkpoint is epoch {latest['epoch']}" if latest else "no epoch completed"
        out(f"\ninterrupted: {where}; continue with: python train.py --resume --run-dir {run_dir}")
        raise
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)
    latest = kg_callbacks.latest_checkpoint(run_dir / "checkpoints")
    epochs_done = latest["epoch"] if latest else initial_epoch

    export_path = None
    if config.export:
        which = "best" if config.keep_best else "latest"
        export_path = export_checkpoint(run_dir, config, which=which, model=None if config.keep_best else model)
    out(f"samples:     {(run_dir / 'samples' / 'latest.png').resolve()}")
    out(f"loss curves: {(run_dir / 'loss_curves.png').resolve()}")
    if export_path:
        meta = read_metadata(export_path)
        best = f" (the best checkpoint: {meta['monitor']} {meta['monitor_value']:.3f} at epoch {meta['epochs']})" \
            if meta.get("monitor") else ""
        out(f"SavedModel:  {export_path.resolve()}{best}")
    return RunResult(config, run_dir, model, epochs_done, export_path)


def fid_monitor(config: RunConfig, source, *, out=print) -> kg_callbacks.FrechetMonitor:
    """The ``--eval-every`` callback: the extractor (trained first if missing) and the test set's
    feature statistics, computed before the first epoch so a problem shows at once."""
    from keras_gen.evaluators import get_evaluator
    from keras_gen.metrics import feature_statistics

    evaluator = get_evaluator(config.dataset, image_shape=config.image_shape, extractor=config.eval_extractor,
                              data_dir=source.directory, options=source.options, log=out)
    test = evaluator.dataset_features(source, "test", image_shape=config.image_shape)
    out(f"FID every {config.eval_every} epoch(s): {config.eval_samples} samples against the {len(test['features'])} "
        f"test images, extractor {evaluator.name}")
    return kg_callbacks.FrechetMonitor(evaluator, feature_statistics(test["features"]), every=config.eval_every,
                                       samples=config.eval_samples)


def export_checkpoint(run_dir: Path, config: RunConfig, *, which: str = "latest", export_dir=None, model=None) -> Path:
    """Export checkpoint ``which`` (latest, best or an epoch) of ``run_dir`` as the next SavedModel
    version; ``model`` is that checkpoint already in memory (skips loading it)."""
    checkpoint = kg_callbacks.find_checkpoint(run_dir, which)
    if model is None:
        model = load_checkpoint(checkpoint["path"])
    extra = {"run_dir": str(run_dir), "epochs": checkpoint["epoch"], "checkpoint": checkpoint["path"],
             "dataset_options": {k: v for k, v in (("subset", config.subset), ("attribute", config.attribute))
                                 if v is not None},
             "data_dir": config.data_dir}
    if checkpoint.get("monitor"):
        extra["monitor"] = checkpoint["monitor"]
        extra["monitor_value"] = checkpoint["logs"][checkpoint["monitor"]]
    return export_model(model, export_dir if export_dir is not None else config.export_dir,
                        model_name=config.model, dataset=config.dataset, steps=model.steps_trained,
                        extra_metadata=extra)
