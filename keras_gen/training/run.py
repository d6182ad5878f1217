"""A training run, top-down: data -> run directory -> model -> input pipeline -> ``fit`` with
callbacks -> SavedModel export. The run directory's layout is documented in :mod:`keras_gen.rundir`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import time
from pathlib import Path

import keras
import tensorflow as tf

from keras_gen.config import RunConfig
from keras_gen.datasets import Source, build_train_set, count_examples, find_source
from keras_gen.export.from_run import export_checkpoint
from keras_gen.export.saved_model import read_metadata
from keras_gen.rundir.checkpoints import (
    BEST,
    EXPORTED,
    LATEST,
    checkpoint_records,
    latest_checkpoint,
    load_checkpoint,
)
from keras_gen.rundir.history import training_seconds, truncate_history
from keras_gen.training import callbacks as kg_callbacks
from keras_gen.training import distributed
from keras_gen.training.build import (
    apply_speed_settings,
    build_model,
    compile_model,
    make_strategy,
)
from keras_gen.training.resume import RUNS_ROOT
from keras_gen.utils.errors import TrainingInterrupted, UserError
from keras_gen.utils.fileio import is_disk_full, write_json, write_text


@dataclasses.dataclass
class RunResult:
    config: RunConfig
    run_dir: Path
    model: keras.Model
    epochs_done: int
    export_path: Path | None


@dataclasses.dataclass
class TrainingData:
    """The dataset found for a run, its training split read and validated."""

    source: Source
    train: tf.data.Dataset
    n_train: int


def train(config: RunConfig, *, resume_from: Path | None = None, out=print) -> RunResult:
    """Run (or continue, from ``resume_from``) the training ``config`` describes and export the result."""
    # Several workers: the chief writes the run directory and the export, the others a scratch
    # directory they delete; a cluster run whose directory holds a run continues it.
    cluster = distributed.Cluster.join(config, make_strategy(config.strategy))
    resume_from, config = cluster.continue_run(config, resume_from)
    data = open_data(config)  # reads and validates the files before anything is written
    run_dir, write_dir, config = cluster.place(config, resume_from, open_run_dir)
    with cluster.building(config, run_dir if resume_from else None):
        model, checkpoint = restore_model(run_dir, config, out=out) if resume_from else (None, None)
        if model is None:  # a new run, or one interrupted before its first checkpoint
            model = new_model(config, data.source)
    images_per_step = config.batch_size * model.data_batch_multiplier
    if data.n_train < images_per_step:
        raise UserError(f"dataset {config.dataset} has {data.n_train} training images, fewer than one step's "
                        f"{images_per_step}; lower --batch-size or raise --limit")
    cluster.check_batch(config.batch_size)
    if config.steps_per_epoch is None and None in data.train.element_spec[0].shape:
        # Images decoded from files: tf.data cannot know the batch count (a corrupt file is dropped
        # on the way), so an epoch is stated, one pass over the files, and the data repeats.
        config = config.replace(steps_per_epoch=max(1, data.n_train // images_per_step))
        apply_speed_settings(model, config)
    cache_dir = write_dir / "data_cache"  # file cache for data too large for memory; removed after the run
    try:
        train_ds, validation = input_pipelines(config, data, model, cache_dir, images_per_step=images_per_step,
                                               shard=cluster.shard)
        initial_epoch = start_run_dir(write_dir, config, checkpoint, out=out)
        used = training_seconds(write_dir / "history.csv")
        if initial_epoch >= config.epochs or (config.time_limit and used >= config.time_limit * 60):
            out(f"already trained {initial_epoch} epochs (--epochs {config.epochs}); pass a larger --epochs to continue"
                if initial_epoch >= config.epochs else
                f"already trained {used / 60:.1f} min (--time-limit {config.time_limit:g}); pass a larger --time-limit "
                "to continue")
            # A run killed during its final export is finished by exporting now.
            export_path = export_result(run_dir, config, model, out=out) if needs_export(run_dir, config) else None
            return RunResult(config, run_dir, model, initial_epoch, export_path)
        callbacks = run_callbacks(write_dir, config, data.source, images_per_step, used_seconds=used, out=out)
        fit(model, train_ds, validation, callbacks, config, initial_epoch=initial_epoch, run_dir=run_dir,
            lost_worker=cluster.lost, out=out)
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)
    latest = latest_checkpoint(write_dir / "checkpoints")
    epochs_done = latest["epoch"] if latest else initial_epoch
    if not cluster.finish(model, run_dir, out=out):  # a worker other than the chief: nothing to export
        return RunResult(config, run_dir, model, epochs_done, None)
    export_path = export_result(run_dir, config, model, out=out)
    return RunResult(config, run_dir, model, epochs_done, export_path)


# --------------------------------------------------------------------------- phases
def open_data(config: RunConfig) -> TrainingData:
    source = find_source(config.dataset, config.data_dir, download=config.download,
                         options={"subset": config.subset, "attribute": config.attribute})
    train_split = source.load("train")
    return TrainingData(source, train_split, count_examples(train_split, config.limit))


def open_run_dir(config: RunConfig, resume_from: Path | None) -> tuple[Path, RunConfig]:
    """``(run directory, config with run_dir set)``; a new run's directory must not hold a run."""
    if resume_from is not None:
        return resume_from, config
    run_dir = Path(config.run_dir) if config.run_dir else \
        RUNS_ROOT / f"{config.model}_{config.dataset}_{time.strftime('%Y%m%d-%H%M%S')}"
    if (run_dir / "config.json").exists():
        raise UserError(f"run directory {run_dir} already holds a run; pass --resume to continue it "
                        "or another --run-dir")
    return run_dir, config.replace(run_dir=str(run_dir))


def new_model(config: RunConfig, source: Source):
    model = build_model(config, num_classes=source.num_classes)
    compile_model(model, config)
    return model


def restore_model(run_dir: Path, config: RunConfig, *, out=print):
    """``(model, checkpoint record)`` from the newest checkpoint of ``run_dir`` that loads, or
    ``(None, None)`` when it has none yet. A checkpoint that fails to load (truncated by a full
    disk, say) is reported and the one before it is used."""
    for record in checkpoint_records(run_dir / "checkpoints"):
        try:
            model = load_checkpoint(record["path"])
        except Exception as err:  # zipfile.BadZipFile, OSError, ValueError from a damaged file
            reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
            out(f"checkpoint {record['path']} cannot be read ({type(err).__name__}: {reason}); "
                "using the one before it")
            continue
        apply_speed_settings(model, config)
        return model, record
    return None, None


def _check_writable(directory: Path, what: str) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise UserError(f"cannot write {what} {directory}: {err.strerror or err}; pass a writable "
                        f"directory") from None


def start_run_dir(run_dir: Path, config: RunConfig, checkpoint: dict | None, *, out=print) -> int:
    """Write config.json, drop history rows past the checkpoint, say what runs; the first epoch to train."""
    _check_writable(run_dir, "run directory")
    remove_stale_temporaries(run_dir)
    initial_epoch = checkpoint["epoch"] if checkpoint else 0
    write_text(run_dir / "config.json", config.to_json())
    truncate_history(run_dir / "history.csv", through_epoch=initial_epoch)
    out(f"run directory: {run_dir}  (config.json: every setting)")
    out(config.summary())
    if checkpoint:
        out(f"resuming from epoch {initial_epoch} (step {checkpoint['steps']}) of {checkpoint['path']}")
    return initial_epoch


def remove_stale_temporaries(run_dir: Path) -> None:
    """Delete the temporary files (``.<name>.XXXX``) that a killed run left mid-write; the run
    directory has one writer, the run being resumed, so none of them is still being written."""
    for directory in (run_dir, run_dir / "checkpoints", run_dir / "samples"):
        if directory.is_dir():
            for path in directory.glob(".*"):
                if path.is_file() and not path.name.startswith(".write-test"):
                    path.unlink(missing_ok=True)


def input_pipelines(config: RunConfig, data: TrainingData, model, cache_dir: Path, *, images_per_step: int,
                    shard=lambda dataset: dataset):
    """``(training batches, (validation batches, steps or None) or None)``; VAEs validate on the test
    split. ``shard`` keeps this worker's share of a dataset (``Cluster.shard``)."""
    shutil.rmtree(cache_dir, ignore_errors=True)  # an interrupted run may have left a partial one
    train_ds = build_train_set(data.train, image_shape=config.image_shape, value_range=model.value_range,
                               batch_size=images_per_step, seed=config.seed,
                               limit=config.limit, repeat=config.steps_per_epoch is not None,
                               cache_dir=cache_dir / "train")
    validation = None
    if model.family == "vae":
        test = data.source.load("test")
        batch = max(config.batch_size, 256)
        # Decoded from files, the batch count is unknown to tf.data (a corrupt file is dropped):
        # state it, over a repeated set, as for training.
        from_files = None in test.element_spec[0].shape
        validation = build_train_set(test, image_shape=config.image_shape, value_range=model.value_range,
                                     batch_size=batch, seed=config.seed, limit=config.limit, shuffle=False,
                                     drop_remainder=False, repeat=from_files, cache_dir=cache_dir / "test")
        validation_steps = -(-count_examples(test, config.limit) // batch) if from_files else None
        validation = (validation, validation_steps)
    return shard(train_ds), validation if validation is None else (shard(validation[0]), validation[1])


def run_callbacks(run_dir: Path, config: RunConfig, source: Source, images_per_step: int, *,
                  used_seconds: float = 0.0, out=print) -> list:
    # First: a diverged step stops the run before any other callback records the broken epoch.
    callbacks = [kg_callbacks.StopOnNonFinite(run_dir / "checkpoints"), kg_callbacks.Throughput(images_per_step),
                 kg_callbacks.Progress(run_dir / "progress.json", images_per_step=images_per_step)]
    if config.time_limit:
        callbacks.append(kg_callbacks.TimeLimit(config.time_limit * 60, used_seconds, out=out, epochs=config.epochs))
    if config.lr_schedule == "cosine":
        callbacks.append(kg_callbacks.CosineLearningRate(config.learning_rate))
    if config.eval_every:  # before the history and checkpoint callbacks, so they record the FID
        callbacks.append(fid_monitor(config, source, out=out))
    checkpoints = run_dir / "checkpoints"
    return callbacks + [
        # The history row before the checkpoint: a Ctrl-C between the two then leaves a row past the
        # last checkpoint (dropped on resume), never a checkpoint without its row.
        kg_callbacks.HistoryCSV(run_dir / "history.csv"),
        kg_callbacks.AtomicCheckpoint(checkpoints, config=config.to_dict(), keep=config.keep_checkpoints),
        *([kg_callbacks.BestCheckpoint(checkpoints, monitor=config.keep_best)] if config.keep_best else []),
        kg_callbacks.SampleGrid(run_dir / "samples", n=config.sample_grid, tensorboard_dir=run_dir / "tensorboard"),
        kg_callbacks.LossCurves(run_dir / "history.csv", run_dir / "loss_curves.png"),
        keras.callbacks.TensorBoard(log_dir=str(run_dir / "tensorboard"), write_graph=False),
    ]


def fit(model, train_ds, validation, callbacks: list, config: RunConfig, *, initial_epoch: int, run_dir: Path,
        lost_worker=lambda err, run_dir: None, out=print) -> None:
    """``model.fit`` with the run's callbacks; a Ctrl-C, a lost peer (``lost_worker(err, run_dir)``:
    the one-line error, or None when there are no peers) and a full disk end it with one line."""
    verbose = config.verbose if config.verbose is not None else (1 if sys.stdout.isatty() else 2)
    try:
        with kg_callbacks.InterruptGuard() as guard:  # a Ctrl-C lost in a finalizer is raised again
            model.fit(train_ds, epochs=config.epochs, initial_epoch=initial_epoch,
                      steps_per_epoch=config.steps_per_epoch, validation_data=validation[0] if validation else None,
                      validation_steps=validation[1] if validation else None,
                      callbacks=[guard, *callbacks], verbose=verbose, shuffle=False)
    except KeyboardInterrupt:
        raise TrainingInterrupted(run_dir) from None
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.AbortedError) as err:
        lost = lost_worker(err, run_dir)  # a peer died: restart every worker to continue
        if lost is None:
            raise
        raise lost from None
    except (OSError, tf.errors.OpError) as err:  # a full disk under another file (history, a grid, logs)
        if not is_disk_full(err):
            raise
        raise UserError(f"no space left on the device writing {err.filename or run_dir}; the last checkpoint is "
                        f"intact: free space and resume with --resume --run-dir {run_dir}") from None


def needs_export(run_dir: Path, config: RunConfig) -> bool:
    """Whether the checkpoint a finished run would export has not been exported yet."""
    record = run_dir / "checkpoints" / (BEST if config.keep_best else LATEST)
    if not config.export or not record.is_file():
        return False
    exported = run_dir / "checkpoints" / EXPORTED
    return not exported.is_file() or json.loads(exported.read_text()).get("steps") != \
        json.loads(record.read_text()).get("steps")


def export_result(run_dir: Path, config: RunConfig, model, *, out=print) -> Path | None:
    """Export the run (its best checkpoint with ``--keep-best``) and say where everything is."""
    export_path = None
    which = "best" if config.keep_best else "latest"
    exported, extra = distributed.model_to_export(model, config), None
    if config.latent_sampler:  # the model sampling from its codes' mixture is the one exported
        from keras_gen.training.latent_sampler import fit_sampler

        exported, info = fit_sampler(run_dir, components=config.latent_sampler,
                                     covariance=config.sampler_covariance, checkpoint=which, out=out)
        extra = {"latent_sampler": info}
    if config.export:
        export_path = export_checkpoint(run_dir, config, which=which, model=exported, log=out, extra=extra)
    if export_path:
        steps = read_metadata(export_path)["steps_trained"]
        write_json(run_dir / "checkpoints" / EXPORTED, {"path": str(export_path), "steps": steps, "checkpoint": which})
    out(f"samples:     {(run_dir / 'samples' / 'latest.png').resolve()}")
    out(f"loss curves: {(run_dir / 'loss_curves.png').resolve()}")
    if export_path:
        meta = read_metadata(export_path)
        best = f" (the best checkpoint: {meta['monitor']} {meta['monitor_value']:.3f} at epoch {meta['epochs']})" \
            if meta.get("monitor") else ""
        out(f"SavedModel:  {export_path.resolve()}{best}")
    return export_path


def fid_monitor(config: RunConfig, source: Source, *, out=print) -> kg_callbacks.FrechetMonitor:
    """The ``--eval-every`` callback: the extractor (trained first if missing) and the test set's
    feature statistics, computed before the first epoch so a problem shows at once."""
    from keras_gen.evaluation.extractors import get_evaluator
    from keras_gen.evaluation.metrics import feature_statistics

    evaluator = get_evaluator(config.dataset, image_shape=config.image_shape, extractor=config.eval_extractor,
                              data_dir=source.directory, options=source.options, log=out)
    test = evaluator.dataset_features(source, "test", image_shape=config.image_shape)
    out(f"FID every {config.eval_every} epoch(s): {config.eval_samples} samples against the {len(test['features'])} "
        f"test images, extractor {evaluator.name}")
    return kg_callbacks.FrechetMonitor(evaluator, feature_statistics(test["features"]), every=config.eval_every,
                                       samples=config.eval_samples)
