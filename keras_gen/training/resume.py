"""Which run ``--resume`` continues, and what a resumed run may change."""

from __future__ import annotations

from pathlib import Path

from keras_gen.config import RESUMABLE_OVERRIDES, RunConfig
from keras_gen.utils.errors import UserError

RUNS_ROOT = Path("runs")


def _is_run(path: Path) -> bool:
    return (path / "config.json").is_file()


def find_resume_dir(run_dir: str | None, model: str | None, dataset: str | None) -> Path:
    """The run to continue: ``--run-dir``, else the newest ``runs/<model>_<dataset>_*``. A run
    interrupted before its first checkpoint is continued too (from epoch 0, with its config)."""
    if run_dir is not None:
        path = Path(run_dir)
        if not _is_run(path):
            raise UserError(f"--resume: {path} is not a run directory (no config.json); "
                            "start a new run without --resume")
        return path
    if model is None:
        raise UserError("--resume needs --run-dir DIR, or --model (and --dataset) to find the newest run")
    pattern = f"{model}_{dataset}_*" if dataset else f"{model}_*"
    candidates = sorted((p for p in RUNS_ROOT.glob(pattern) if _is_run(p)), key=lambda p: p.stat().st_mtime)
    if not candidates:
        raise UserError(f"--resume: no run of {model} under {RUNS_ROOT}/; start a new run without --resume")
    return candidates[-1]


def _same(key: str, value, saved: RunConfig) -> bool:
    """Whether a flag given on resume repeats the run's own value (a user re-runs the command with
    --resume added): only a different value is a change."""
    if key == "image_size":
        return saved.image_shape[0] == saved.image_shape[1] == value
    if key == "learning_rate":
        return float(value) == float(saved.learning_rate)
    if key == "data_dir":
        return saved.data_dir is not None and Path(value).expanduser().absolute() == Path(saved.data_dir)
    return value == getattr(saved, key, None)


def resume_config(run_dir: Path, overrides: dict) -> RunConfig:
    """The saved config of ``run_dir`` with the overrides a resumed run may change; the others
    must repeat the run's values."""
    saved = RunConfig.load(run_dir / "config.json")
    changes = {}
    for key, value in overrides.items():
        if value is None or key == "run_dir":
            continue
        if key in RESUMABLE_OVERRIDES:
            changes[key] = value
        elif not _same(key, value, saved):
            shown = list(saved.image_shape[:2]) if key == "image_size" else getattr(saved, key, None)
            raise UserError(f"cannot change {key.replace('_', '-')} when resuming {run_dir} (it was {shown!r}, "
                            f"got {value!r}); drop the flag or start a new run")
    # --lr may change (after a divergence: continue from the last checkpoint, slower): replace puts
    # it in the optimizer, the learning rate's one home
    return saved.replace(run_dir=str(run_dir), **changes)
