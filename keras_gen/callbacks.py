"""Callbacks that make a run directory: checkpoints, sample grids, throughput, loss curves.

Every file is written atomically (temporary file, then rename), so a run killed at any moment
leaves the last complete checkpoint and picture intact.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from keras_gen import __version__
from keras_gen.errors import UserError
from keras_gen.fileio import atomic_path, write_json

LATEST = "latest.json"
BEST = "best.json"


def image_grid(images: np.ndarray, *, rows: int | None = None) -> np.ndarray:
    """``[N, H, W, C]`` in [0, 1] -> one ``[rows*H, cols*W, C]`` picture with 1-pixel gutters."""
    n, h, w, c = images.shape
    rows = rows or int(math.ceil(math.sqrt(n)))
    cols = int(math.ceil(n / rows))
    grid = np.ones((rows * (h + 1) - 1, cols * (w + 1) - 1, c), dtype=np.float32)
    for i, image in enumerate(images):
        r, col = divmod(i, cols)
        grid[r * (h + 1): r * (h + 1) + h, col * (w + 1): col * (w + 1) + w] = image
    return grid


def save_png(path: str | Path, image: np.ndarray) -> None:
    """Write a [H, W, 1|3] image in [0, 1] as PNG, atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.image

    image = np.clip(image, 0.0, 1.0)
    with atomic_path(path) as tmp:
        if image.shape[-1] == 1:
            matplotlib.image.imsave(tmp, image[..., 0], cmap="gray", vmin=0.0, vmax=1.0, format="png")
        else:
            matplotlib.image.imsave(tmp, image, format="png")


def grid_seeds(n: int, num_classes: int | None):
    """The fixed seeds (and labels: row-major class order) every sample grid uses."""
    seeds = np.arange(n, dtype=np.int32)
    labels = None if num_classes is None else (seeds % num_classes).astype(np.int32)
    return seeds, labels


class Throughput(keras.callbacks.Callback):
    """Adds ``images_per_sec`` and ``epoch_seconds`` to each epoch's logs (and so history.csv)."""

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
            logs["images_per_sec"] = self._steps * self.images_per_step / max(self._last - self._start, 1e-9)


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
        with atomic_path(self.directory / name) as tmp:
            self.model.save(tmp)
        info = {"epoch": epoch + 1, "file": name, "steps": int(self.model.steps_trained),
                "logs": {k: float(v) for k, v in (logs or {}).items()},
                "config": self.config, "keras_gen_version": __version__}
        write_json(self.directory / f"epoch-{epoch + 1:04d}.json", info)
        write_json(self.directory / LATEST, info)
        for old in sorted(self.directory.glob("epoch-*.keras"))[:-self.keep]:
            old.unlink(missing_ok=True)
            old.with_suffix(".json").unlink(missing_ok=True)


def latest_checkpoint(directory: str | Path) -> dict | None:
    """``latest.json``'s contents with ``path`` added, or None when there is no checkpoint."""
    latest = Path(directory) / LATEST
    if not latest.is_file():
        return None
    info = json.loads(latest.read_text())
    info["path"] = str(Path(directory) / info["file"])
    return info if Path(info["path"]).is_file() else None


def find_checkpoint(run_dir: str | Path, which: str = "latest") -> dict:
    """A run's checkpoint record with ``path`` added: ``latest``, ``best`` (kept by ``--keep-best``)
    or an epoch number (``3`` or ``epoch-3``, while it is among the kept ones); else a UserError."""
    directory = Path(run_dir) / "checkpoints"
    if which == "latest":
        name = LATEST
    elif which == "best":
        name = BEST
    elif which.removeprefix("epoch-").isdigit():
        name = f"epoch-{int(which.removeprefix('epoch-')):04d}.json"
    else:
        raise UserError(f"--checkpoint must be latest, best or an epoch number, got {which!r}")
    record_path = directory / name
    if not record_path.is_file():
        kept = sorted(p.stem for p in directory.glob("epoch-*.json")) if directory.is_dir() else []
        hint = {"latest": "train it for an epoch first",
                "best": "train with --keep-best fid to keep one"}.get(which, f"kept: {', '.join(kept) or 'none'}")
        what = "checkpoint" if which == "latest" else f"{which} checkpoint"
        raise UserError(f"{run_dir} has no {what} (checkpoints/{name}); {hint}")
    info = json.loads(record_path.read_text())
    info["path"] = str(directory / info["file"])
    if not Path(info["path"]).is_file():
        raise UserError(f"{record_path} names {info['file']}, which is gone; pick another --checkpoint")
    return info


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
    and the checkpoint records carry it). Uses :class:`keras_gen.metrics.FrechetDistance` with a
    fixed reference; the seeds are the same every time, so epochs differ only by the model."""

    SEED_BASE = 1 << 30  # far from the seeds of sample grids and of keras-gen evaluate

    def __init__(self, evaluator, reference_statistics, *, every: int, samples: int, batch_size: int = 500):
        super().__init__()
        from keras_gen.metrics import FrechetDistance

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
        rows.append({"epoch": epoch, **{k: float(v) for k, v in (logs or {}).items()}})
        columns = ["epoch"] + sorted({k for row in rows for k in row} - {"epoch"})
        with atomic_path(self.path) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns, restval="")
            writer.writeheader()
            writer.writerows(rows)


class LossCurves(keras.callbacks.Callback):
    """Redraws ``loss_curves.png`` from ``history.csv`` after each epoch (place after HistoryCSV)."""

    SKIP = {"epoch", "epoch_seconds", "images_per_sec"}
    QUALITY = ("fid",)  # drawn on a panel of their own: another scale than the losses

    def __init__(self, history_csv: str | Path, out: str | Path):
        super().__init__()
        self.history_csv, self.out = Path(history_csv), Path(out)

    def on_epoch_end(self, epoch, logs=None):
        plot_history(self.history_csv, self.out)


def read_history(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def truncate_history(path: str | Path, *, before_epoch: int) -> None:
    """Keep only rows of epochs ``< before_epoch`` (0-based, as Keras counts them)."""
    path = Path(path)
    if not path.is_file():
        return
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return
    header, body = rows[0], rows[1:]
    col = header.index("epoch") if "epoch" in header else 0
    kept = [r for r in body if r and int(float(r[col])) < before_epoch]
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        csv.writer(f).writerows([header, *kept])


def _number(text) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return float("nan")


def plot_history(history_csv: str | Path, out: str | Path | None = None, *, title: str | None = None):
    """Draw ``history.csv``: the losses, and quality figures (FID) on a second panel when logged.
    Writes a PNG to ``out`` atomically; without ``out``, returns the PNG's bytes (None when empty)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    rows = read_history(history_csv)
    if not rows:
        return None
    columns = list(dict.fromkeys(k for row in rows for k in row))
    quality = [k for k in LossCurves.QUALITY if any(_number(r.get(k)) == _number(r.get(k)) for r in rows)]
    losses = [k for k in columns if k not in LossCurves.SKIP and k not in LossCurves.QUALITY]
    epochs = [int(float(r["epoch"])) + 1 for r in rows]
    panels = [losses] + ([quality] if quality else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(7 * len(panels), 4), dpi=100, squeeze=False)
    for ax, keys in zip(axes[0], panels):
        for key in keys:
            points = [(e, _number(r.get(key))) for e, r in zip(epochs, rows)]
            points = [(e, v) for e, v in points if v == v]  # epochs without an evaluation are blank
            ax.plot([e for e, _ in points], [v for _, v in points], marker="o" if len(rows) < 30 else None,
                    label=key)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_ylabel("FID (lower is better)" if keys is quality else "loss")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if out is None:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        plt.close(fig)
        return buffer.getvalue()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return None
