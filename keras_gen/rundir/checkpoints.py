"""A run's checkpoints: ``checkpoints/epoch-NNNN.keras`` with a ``.json`` record each, and the
records ``latest.json`` (the newest) and ``best.json`` (``--keep-best``) that point at one."""

from __future__ import annotations

import json
from pathlib import Path

from keras_gen.utils.errors import UserError

LATEST = "latest.json"
BEST = "best.json"
EXPORTED = "exported.json"  # the checkpoint a finished run exported last: {"steps", "path"}


def latest_checkpoint(directory: str | Path) -> dict | None:
    """``latest.json``'s contents with ``path`` added, or None when there is no checkpoint."""
    latest = Path(directory) / LATEST
    if not latest.is_file():
        return None
    info = json.loads(latest.read_text())
    info["path"] = str(Path(directory) / info["file"])
    return info if Path(info["path"]).is_file() else None


def checkpoint_records(directory: str | Path) -> list[dict]:
    """Every complete checkpoint in ``directory``, newest first, each a record with ``path`` added.

    A checkpoint is complete when its ``epoch-NNNN.json`` record exists: the record is written
    after the ``.keras`` file is in place, so a file being written (or torn by a kill) never counts.
    """
    directory = Path(directory)
    records = []
    for record_path in sorted(directory.glob("epoch-*.json"), reverse=True):
        try:
            info = json.loads(record_path.read_text())
        except (OSError, ValueError):
            continue
        info["path"] = str(directory / info["file"])
        if Path(info["path"]).is_file():
            records.append(info)
    return records


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


def load_checkpoint(path: str | Path):
    """A ``.keras`` checkpoint (keras_gen's classes register as Keras looks them up: registration.py)."""
    import keras

    return keras.saving.load_model(path)
