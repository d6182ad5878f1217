"""Export a run's checkpoint: what ``train.py`` does at the end of a run and ``keras-gen export`` does later."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from keras_gen.config import RunConfig
from keras_gen.export import FORMATS
from keras_gen.export.convert import export_onnx, export_tflite
from keras_gen.export.saved_model import METADATA_FILE, MODELS_CONFIG, export_model
from keras_gen.rundir.checkpoints import find_checkpoint, load_checkpoint
from keras_gen.utils.errors import UserError


def export_checkpoint(run_dir: Path, config: RunConfig, *, which: str = "latest", export_dir=None, model=None) -> Path:
    """Export checkpoint ``which`` (latest, best or an epoch) of ``run_dir`` as the next SavedModel
    version; ``model`` is that checkpoint already in memory (skips loading it)."""
    checkpoint = find_checkpoint(run_dir, which)
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


def export_run(run_dir: str | os.PathLike, *, fmt: str = "saved_model", export_dir: str | os.PathLike | None = None,
               checkpoint: str = "latest", out=print) -> Path:
    """Re-export a run from its checkpoint ``checkpoint`` (latest, best or an epoch) as ``fmt`` (one
    of :data:`FORMATS`) under ``export_dir`` (default: the run's export directory); return the
    written directory."""
    if fmt not in FORMATS:
        raise UserError(f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}")
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise UserError(f"{run_dir} is not a run directory (no config.json); pass a directory train.py wrote, "
                        "e.g. runs/<model>_<dataset>_<timestamp>")
    record = find_checkpoint(run_dir, checkpoint)
    config = RunConfig.load(run_dir / "config.json")
    root = Path(export_dir if export_dir is not None else config.export_dir)
    if fmt == "saved_model":
        path = export_checkpoint(run_dir, config, which=checkpoint, export_dir=root)
        out(f"SavedModel:  {path}")
        out(f"TF Serving:  {root / MODELS_CONFIG}")
        return path
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".export-", dir=root) as tmp:
        saved = export_checkpoint(run_dir, config, which=checkpoint, export_dir=tmp)
        path = (export_tflite if fmt == "tflite" else export_onnx)(saved, root, source=record["path"])
    info = json.loads((path / METADATA_FILE).read_text())
    out(f"{'TFLite:' if fmt == 'tflite' else 'ONNX:':12s} {path}")
    out(f"signatures:  {', '.join(info['signatures'])}")
    if info["left_out"]:
        reason = next(iter(info["left_out"].values()))
        out(f"left out:    {', '.join(sorted(info['left_out']))}: {reason}")
    return path
