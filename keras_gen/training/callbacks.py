"""Keras callbacks that write a run directory: checkpoints, sample grids, history, loss curves.

Every file is written atomically (temporary file, then rename), so a run killed at any moment
leaves the last complete checkpoint and picture intact.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from keras_gen import __version__
from keras_gen.rundir.checkpoints import BEST, LATEST
from keras_gen.rundir.history import plot_history, read_history, write_history
from keras_gen.utils.errors import TrainingDiverged, UserError
from keras_gen.utils.fileio import atomic_path, is_disk_full, write_json
from keras_gen.utils.images import image_grid, save_png


def grid_seeds(n: int, num_classes: int | None):
    """The fixed seeds (and labels: row-major class order) every sample grid uses."""
    seeds = np.arange(n, dtype=np.int32)
    labels = None if num_classes is None else (seeds % num_classes).astype(np.int32)
    return seeds, labels


class Throughput(keras.callbacks.Callback):
    """Adds ``epoch_seconds`` (the whole epoch, a VAE's validation pass included),
    ``train_seconds`` (its training steps only, from the epoch's start to its last step: the time
    ``--time-limit`` counts) and ``images_per_sec`` (over ``train_seconds``) to each epoch's logs,
    and so to history.csv."""

    def __init__(self, images_per_step: int):
        super().__init__()
        self.images_per_step = images_per_step

    def on_epoch_begin(self, epoch, logs=None):
        self._start = self._last = time.perf_counter()
        self._steps = 0

    def on_train_batch_end(self, batch, logs=None):
        # ``batch`` is the index of the last step the call ran (one call runs steps_per_execution
        # steps); the last call of an epoch may run fewer than its index claims.
        steps = self.params.get("steps") if self.params else None
        self._steps = batch + 1 if not steps else min(batch + 1, steps)
        self._last = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["epoch_seconds"] = time.perf_counter() - self._start
            # Training steps only: validation and other callbacks' time is not throughput.
            logs["train_seconds"] = self._last - self._start
            logs["images_per_sec"] = self._steps * self.images_per_step / max(self._last - self._start, 1e-9)


class Progress(keras.callbacks.Callback):
    """Writes ``progress.json``: where the run is now (epoch, step within it, steps trained, the
    images/s of the epoch so far, the writing process's pid), for ``watch cat``, a dashboard, or a
    fault harness that kills the run at a chosen step. Rewritten atomically at most every
    ``interval`` seconds (a rename costs about 0.5 ms, a step of the MLP models a few) and always
    on an epoch's last step, so the final step of every epoch is recorded."""

    def __init__(self, path: str | Path, *, images_per_step: int, interval: float = 0.5):
        super().__init__()
        self.path, self.images_per_step, self.interval = Path(path), images_per_step, interval
        self._written = -math.inf

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch, self._start = epoch, time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        steps = (self.params or {}).get("steps")
        step = batch + 1 if not steps else min(batch + 1, steps)
        if now - self._written < self.interval and step != steps:
            return
        self._written = now
        write_json(self.path, {"epoch": self._epoch + 1, "epochs": (self.params or {}).get("epochs"),
                               "step": step, "steps_per_epoch": steps, "steps_trained": int(self.model.steps_trained),
                               "images_per_sec": round(step * self.images_per_step / max(now - self._start, 1e-9), 1),
                               "pid": os.getpid(), "time": time.time()})


class InterruptGuard(keras.callbacks.Callback):
    """Ctrl-C always stops ``fit``. Python swallows a KeyboardInterrupt raised while a finalizer
    (``__del__``) runs ("Exception ignored in ..."), and TensorFlow's objects run many, so now and
    then a Ctrl-C was lost and training went on (a loaded 2-core machine lost two in a row). Use
    as a context manager around ``fit`` and as one of its callbacks: the SIGINT handler raises at
    once, as Python's does, and remembers; the next step's or epoch's end raises again if training
    went on."""

    def __init__(self):
        super().__init__()
        self.pending, self._previous = False, None

    def _handler(self, signum, frame):
        self.pending = True
        raise KeyboardInterrupt

    def __enter__(self) -> "InterruptGuard":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def _raise_if_pending(self, *args, **kwargs):
        if self.pending:
            raise KeyboardInterrupt

    on_train_batch_end = on_test_batch_end = on_epoch_end = _raise_if_pending


class TimeLimit(keras.callbacks.Callback):
    """Stops training after the epoch in which the run's training time (the ``train_seconds`` of
    every epoch so far, this run's and earlier sessions') reaches ``limit_seconds``. Place after
    :class:`Throughput`. Only training steps count: not FID evaluations, sample grids or
    checkpoints, nor a VAE's validation pass over the test split (which for ``vae_conv`` on 10,000
    test images is most of a three-minute epoch, and once left it 768 training images in a
    three-minute budget), so models that validate and models that do not get the same budget."""

    def __init__(self, limit_seconds: float, used_seconds: float = 0.0, out=None, epochs: int | None = None):
        super().__init__()
        self.limit_seconds, self.used_seconds = float(limit_seconds), float(used_seconds)
        self.out, self.epochs = out, epochs  # out: where to say it stopped the run (of ``epochs``)

    def on_epoch_end(self, epoch, logs=None):
        self.used_seconds += float((logs or {}).get("train_seconds", 0.0))
        if self.used_seconds >= self.limit_seconds:
            self.model.stop_training = True
            if self.out is not None and (self.epochs is None or epoch + 1 < self.epochs):
                of = "" if self.epochs is None else f" of {self.epochs}"
                self.out(f"time limit reached: stopped after epoch {epoch + 1}{of}, {self.used_seconds / 60:.2f} min "
                         f"of training (--time-limit {self.limit_seconds / 60:g}; --resume with a larger one goes on)")


class CosineLearningRate(keras.callbacks.Callback):
    """``--lr-schedule cosine``: before each call of the train step, every optimizer's learning rate
    is set to ``base * (1 + cos(pi * t)) / 2``, where ``t`` is the share of the run's steps done
    (epochs before this one and this one's steps, over ``epochs * steps``): ``--lr`` at the first
    step, 0 after the last (Loshchilov & Hutter 2017's SGDR, without restarts). The rate is a function
    of the run's progress alone, so ``--resume`` continues the curve exactly, and resuming with more
    ``--epochs`` stretches what is left of it. Each epoch's logs get its last ``learning_rate``.

    Not Keras' ``CosineDecay`` schedule: it is built into the optimizer with a fixed number of steps
    and saved in the checkpoint, so a resumed run could not change its length; nor Keras'
    ``LearningRateScheduler``, which sets the rate once an epoch: coarse steps for runs of a few
    epochs, such as the reports' 10-epoch GANs."""

    def __init__(self, base: float):
        super().__init__()
        self.base = float(base)
        self._epoch, self._rate = 0, float(base)

    def rate(self, epoch: int, step: int, steps: int, epochs: int) -> float:
        return self.base * 0.5 * (1.0 + math.cos(math.pi * min(1.0, (epoch * steps + step) / (epochs * steps))))

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        # ``batch``: the first step this call runs (a call runs steps_per_execution steps)
        steps = (self.params or {}).get("steps") or max(batch + 1, 1)
        self._rate = self.rate(self._epoch, batch, steps, self.params["epochs"])
        for slot in self.model.optimizer_slots:  # every optimizer a keras_gen family compiles
            getattr(self.model, slot).learning_rate = self._rate

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = self._rate


# A loss has exploded once its magnitude is over EXPLODED and EXPLOSION times its first logged one.
EXPLODED, EXPLOSION = 1e6, 1e3


class StopOnNonFinite(keras.callbacks.Callback):
    """Stops training at the first step that diverged, by raising :class:`TrainingDiverged` out of
    ``fit``: the epoch's checkpoint, history row and sample grid are never written, so the last
    checkpoint on disk is the last sound one, and nothing is exported.

    The rule, in one sentence: **a run has diverged when a logged loss is NaN or infinite, or when
    its magnitude exceeds a million and a thousand times its magnitude at the session's first
    step.** A GAN at a learning rate of 10 reaches NaN in a few steps, or losses of 1e7 that stay
    finite; the zoo's honest losses stay far below: GAN losses are O(1), critics' O(100), and a
    VAE's negative ELBO, summed over pixels, about 550 nats on MNIST and below 1e5 at 128x128x3.
    Then every weight must be finite at the end of each epoch.

    Place it first: Keras calls the callbacks in order, and the others must not see a broken epoch.
    """

    def __init__(self, checkpoints: str | Path):
        super().__init__()
        self.checkpoints = Path(checkpoints)
        self._epoch = 0
        self._first: dict[str, float] = {}

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        # Called once per steps_per_execution steps: the first bad step is at most that many back.
        values = {k: float(v) for k, v in (logs or {}).items()}
        for key, value in values.items():
            self._first.setdefault(key, abs(value))
        bad = {k: v for k, v in values.items() if not math.isfinite(v)}
        if bad:
            key, value = next(iter(bad.items()))
            raise diverged(self.checkpoints, f"epoch {self._epoch + 1}, step {self.model.steps_trained}",
                           f"{key} is {value}")
        exploded = {k: v for k, v in values.items() if "loss" in k and abs(v) > EXPLODED
                    and abs(v) > EXPLOSION * max(self._first[k], 1e-12)}
        if exploded:
            key, value = next(iter(exploded.items()))
            raise diverged(self.checkpoints, f"epoch {self._epoch + 1}, step {self.model.steps_trained}",
                           f"{key} is {value:.3g}, over a million and {EXPLOSION:,.0f} times its "
                           f"{self._first[key]:.3g} at the first step")

    def on_epoch_end(self, epoch, logs=None):
        bad = self.model.non_finite_weights()
        if bad:  # finite logged losses can still leave a broken last update behind
            raise diverged(self.checkpoints, f"epoch {epoch + 1}, by step {self.model.steps_trained}",
                           f"weight {bad[0]} is not finite")


def diverged(checkpoints: Path, where: str, what: str) -> TrainingDiverged:
    latest = Path(checkpoints) / LATEST
    kept = f"kept the last finite checkpoint (epoch {json.loads(latest.read_text())['epoch']})" \
        if latest.is_file() else "no checkpoint was written"
    return TrainingDiverged(f"training diverged at {where}: {what}; {kept} and exported nothing; "
                            f"continue with --resume --run-dir {Path(checkpoints).parent} and a lower --lr")


def disk_full_error(err: OSError, path: Path, *, needed: int) -> UserError:
    """A one-line error for ENOSPC while writing ``path``: which file, how much space, the fix."""
    directory = path.parent
    free = shutil.disk_usage(directory).free if directory.exists() else 0
    return UserError(f"no space left on the device writing {path} (needs about {needed / 1e6:.1f} MB, "
                     f"{free / 1e6:.1f} MB free); the previous checkpoint is intact: free space and resume "
                     f"with --resume --run-dir {directory.parent}")


class AtomicCheckpoint(keras.callbacks.Callback):
    """Saves the whole model (weights, optimizer state, step count) as ``epoch-NNNN.keras`` each
    epoch, then points ``latest.json`` at it; keeps the newest ``keep`` files."""

    def __init__(self, directory: str | Path, *, config: dict, keep: int = 3):
        super().__init__()
        self.directory = Path(directory)
        self.config = config
        self.keep = keep

    def on_epoch_end(self, epoch, logs=None):
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"epoch-{epoch + 1:04d}.keras"
        try:
            with atomic_path(self.directory / name) as tmp:
                self.model.save(tmp)
        except Exception as err:  # OSError from zipfile, h5py's own errors: all say ENOSPC
            if not is_disk_full(err):
                raise
            previous = sorted(self.directory.glob("epoch-*.keras"))
            needed = previous[-1].stat().st_size if previous else sum(int(np.prod(v.shape)) * 12
                                                                      for v in self.model.weights)
            raise disk_full_error(err, self.directory / name, needed=needed) from None
        info = {"epoch": epoch + 1, "file": name, "steps": int(self.model.steps_trained),
                "logs": {k: float(v) for k, v in (logs or {}).items()},
                "config": self.config, "keras_gen_version": __version__}
        write_json(self.directory / f"epoch-{epoch + 1:04d}.json", info)
        write_json(self.directory / LATEST, info)
        for old in sorted(self.directory.glob("epoch-*.keras"))[:-self.keep]:
            old.unlink(missing_ok=True)
            old.with_suffix(".json").unlink(missing_ok=True)


class BestCheckpoint(keras.callbacks.Callback):
    """Keeps the checkpoint of the epoch with the lowest ``monitor`` (e.g. ``fid``) as ``best.keras``
    with ``best.json``, outside the rotation of :class:`AtomicCheckpoint` (place after it: the
    epoch's file is copied, not saved again). The reports saw GAN samples degrade after looking
    good; this keeps the good ones. A resumed run continues from the recorded best."""

    def __init__(self, directory: str | Path, *, monitor: str = "fid"):
        super().__init__()
        self.directory = Path(directory)
        self.monitor = monitor
        self.best = math.inf
        record = self.directory / BEST
        if record.is_file():
            self.best = json.loads(record.read_text())["logs"].get(monitor, math.inf)

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or not math.isfinite(float(value)) or float(value) >= self.best:
            return
        self.best = float(value)
        epoch_file = self.directory / f"epoch-{epoch + 1:04d}.keras"
        with atomic_path(self.directory / "best.keras") as tmp:
            shutil.copyfile(epoch_file, tmp)
        info = json.loads((self.directory / f"epoch-{epoch + 1:04d}.json").read_text())
        write_json(self.directory / BEST, {**info, "file": "best.keras", "monitor": self.monitor})


class FrechetMonitor(keras.callbacks.Callback):
    """Every ``every`` epochs, the FID of ``samples`` images from fixed seeds against the test
    set's feature statistics, added to the epoch's logs as ``fid`` (so history.csv, TensorBoard
    and the checkpoint records carry it). Uses :class:`keras_gen.evaluation.metrics.FrechetDistance` with a
    fixed reference; the seeds are the same every time, so epochs differ only by the model."""

    SEED_BASE = 1 << 30  # far from the seeds of sample grids and of keras-gen evaluate

    def __init__(self, evaluator, reference_statistics, *, every: int, samples: int, batch_size: int = 500):
        super().__init__()
        from keras_gen.evaluation.metrics import FrechetDistance

        self.evaluator = evaluator
        self.every = every
        self.samples = samples
        self.batch_size = batch_size
        self.metric = FrechetDistance(evaluator.feature_dim, reference=reference_statistics, name="fid")
        self._sample = None

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or (epoch + 1) % self.every:
            return
        model = self.model
        if self._sample is None:
            spec = tf.TensorSpec([None], tf.int32)
            self._sample = tf.function(model.sample, input_signature=[spec, spec]) if model.conditional else \
                tf.function(lambda s: model.sample(s), input_signature=[spec])
        self.metric.reset_state()
        for start in range(0, self.samples, self.batch_size):
            seeds = np.arange(start, min(start + self.batch_size, self.samples), dtype=np.int32) + self.SEED_BASE
            if model.conditional:
                images = self._sample(seeds, (seeds % model.num_classes).astype(np.int32))
            else:
                images = self._sample(seeds)
            self.metric.update_state(fake_features=self.evaluator.features(images.numpy()))
        logs["fid"] = float(self.metric.result())


class SampleGrid(keras.callbacks.Callback):
    """After each epoch, a grid of images from fixed seeds: ``samples/epoch_NNNN.png`` and
    ``samples/latest.png``, plus an image summary in TensorBoard."""

    def __init__(self, directory: str | Path, *, n: int = 64, tensorboard_dir: str | Path | None = None):
        super().__init__()
        self.directory = Path(directory)
        self.n = n
        self.writer = tf.summary.create_file_writer(str(tensorboard_dir)) if tensorboard_dir else None
        self._sample = None

    def on_epoch_end(self, epoch, logs=None):
        model = self.model
        if self._sample is None:
            self._sample = tf.function(model.sample)
        seeds, labels = grid_seeds(self.n, model.num_classes)
        images = self._sample(seeds) if labels is None else self._sample(seeds, labels)
        grid = image_grid(np.asarray(images), rows=int(math.sqrt(self.n)))
        save_png(self.directory / f"epoch_{epoch + 1:04d}.png", grid)
        save_png(self.directory / "latest.png", grid)
        if self.writer is not None:
            with self.writer.as_default():
                tf.summary.image("samples", grid[None], step=epoch + 1)
            self.writer.flush()


class HistoryCSV(keras.callbacks.Callback):
    """Appends each epoch's logs to ``history.csv`` (rewritten atomically; columns grow as needed).

    Keras' CSVLogger is not used: it adds ``val_*`` columns full of ``NA`` to models without
    validation (every GAN) and appends in place, so a kill mid-write leaves a torn row.
    """

    def __init__(self, path: str | Path):
        super().__init__()
        self.path = Path(path)

    def on_epoch_end(self, epoch, logs=None):
        rows = read_history(self.path)
        rows.append({"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}})  # epochs count from 1
        write_history(self.path, rows)


class LossCurves(keras.callbacks.Callback):
    """Redraws ``loss_curves.png`` from ``history.csv`` after each epoch (place after HistoryCSV)."""

    def __init__(self, history_csv: str | Path, out: str | Path):
        super().__init__()
        self.history_csv, self.out = Path(history_csv), Path(out)

    def on_epoch_end(self, epoch, logs=None):
        plot_history(self.history_csv, self.out)


