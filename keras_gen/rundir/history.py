"""A run's ``history.csv`` (one row per epoch) and its picture, ``loss_curves.png``."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from keras_gen.utils.fileio import atomic_path

SKIP = {"epoch", "epoch_seconds", "train_seconds", "images_per_sec"}  # not drawn
QUALITY = ("fid",)  # drawn on a panel of their own: another scale than the losses


def read_history(path: str | Path) -> list[dict]:
    """The rows of ``history.csv``, ``epoch`` counted from 1 (files of keras_gen 0.1 counted from 0,
    as Keras does internally: their rows are renumbered here)."""
    path = Path(path)
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if rows and "epoch" in rows[0] and min(int(float(r["epoch"])) for r in rows) == 0:
        rows = [{**r, "epoch": str(int(float(r["epoch"])) + 1)} for r in rows]
    return rows


def write_history(path: str | Path, rows: list[dict]) -> None:
    """Rewrite ``history.csv`` atomically (a kill mid-write never leaves a torn row); columns are
    the union of the rows' keys, ``epoch`` first."""
    columns = ["epoch"] + sorted({k for row in rows for k in row} - {"epoch"})
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)


def epoch_training_seconds(row: dict) -> float:
    """One history row's training time: ``train_seconds`` (training steps only), or for rows
    written before 0.2 that lack it, ``epoch_seconds``; NaN when neither is there."""
    value = row.get("train_seconds", "")
    return _number(value if value not in (None, "") else row.get("epoch_seconds", ""))


def training_seconds(path: str | Path) -> float:
    """The training time of every epoch in ``history.csv`` (0 for a run without one), as
    ``--time-limit`` counts it: training steps only (:func:`epoch_training_seconds`)."""
    seconds = (epoch_training_seconds(row) for row in read_history(path))
    return sum(s for s in seconds if math.isfinite(s))


def truncate_history(path: str | Path, *, through_epoch: int) -> None:
    """Keep only the rows of epochs ``1..through_epoch`` (those a resumed run keeps)."""
    path = Path(path)
    if path.is_file():
        write_history(path, [r for r in read_history(path) if int(float(r["epoch"])) <= through_epoch])


def _number(text) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return float("nan")


# One panel per kind of quantity, each on its own axis: a KL of ~5 nats is not drawn on the
# ELBO's 0-190 axis, nor D(x) (a probability) on a loss axis. Unknown keys go to "other".
PANELS = (
    ("losses", "loss", {"d_loss", "g_loss"}),
    ("negative ELBO and reconstruction", "nats per image", {"loss", "reconstruction"}),
    ("KL divergence", "nats per image", {"kl"}),
    ("discriminator outputs", "mean probability", {"d_real", "d_fake"}),
    ("critic", "critic units", {"wasserstein", "gradient_penalty"}),
    ("auxiliary classifier", "accuracy on real images", {"class_acc"}),
    ("sample quality", "FID (lower is better)", set(QUALITY)),
    ("learning rate", "learning rate", {"learning_rate"}),
)


def history_panels(keys) -> list[tuple[str, str, list[str]]]:
    """``[(title, y label, keys)]`` for the columns of a history (``val_`` keys beside their own)."""
    panels = {title: (ylabel, []) for title, ylabel, _ in PANELS}
    panels["other"] = ("value", [])
    for key in keys:
        if key in SKIP:
            continue
        base = key.removeprefix("val_")
        title = next((title for title, _, members in PANELS if base in members), "other")
        panels[title][1].append(key)
    return [(title, ylabel, members) for title, (ylabel, members) in panels.items() if members]


def plot_history(history_csv: str | Path, out: str | Path | None = None, *, title: str | None = None):
    """Draw ``history.csv``, one panel per kind of quantity (:data:`PANELS`), epochs on integer ticks.
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
    logged = [k for k in columns if any(_number(r.get(k)) == _number(r.get(k)) for r in rows)]
    panels = history_panels(logged)
    epochs = [int(float(r["epoch"])) for r in rows]
    cols = min(3, len(panels))
    nrows = -(-len(panels) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(5.5 * cols, 3.6 * nrows), dpi=100, squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, (panel, ylabel, keys) in zip(axes.flat, panels):
        for key in keys:
            points = [(e, _number(r.get(key))) for e, r in zip(epochs, rows)]
            points = [(e, v) for e, v in points if v == v]  # epochs without an evaluation are blank
            ax.plot([e for e, _ in points], [v for _, v in points], marker="o" if len(rows) < 30 else None,
                    label=key, linestyle="--" if key.startswith("val_") else "-")
        ax.set_title(panel, fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True, min_n_ticks=1))
        if min(epochs) == max(epochs):  # one epoch: one tick, not 0.945-1.050
            ax.set_xlim(epochs[0] - 1, epochs[0] + 1)
            ax.set_xticks([epochs[0]])
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
