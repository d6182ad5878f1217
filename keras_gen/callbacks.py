"""Callbacks that make a run directory: checkpoints, sample grids, throughput, loss curves.

Every file is written atomically (temporary file, then rename), so a run killed at any moment
leaves the last complete checkpoint and picture intact.
"""

from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from keras_gen import __version__
from keras_gen.fileio import atomic_path, write_json

LATEST = "latest.json"


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
        self._steps += 1
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


def plot_history(history_csv: str | Path, out: str | Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_history(history_csv)
    if not rows:
        return
    keys = [k for k in rows[0] if k not in LossCurves.SKIP]
    epochs = [int(float(r["epoch"])) + 1 for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for key in keys:
        values = [_number(r.get(key)) for r in rows]
        ax.plot(epochs, values, marker="o" if len(rows) < 30 else None, label=key)
    ax.set_xlabel("epoch")
    ax.set_ylabel("value")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
