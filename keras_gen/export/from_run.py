"""Export a run's checkpoint (what ``train.py`` does at the end of a run and ``keras-gen export`` does
later) or a ``.keras`` file of a model trained in Python."""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from keras_gen.config import RunConfig
from keras_gen.export import FORMATS
from keras_gen.export.convert import export_onnx, export_tflite
from keras_gen.export.publish import MODELS_CONFIG
from keras_gen.export.saved_model import METADATA_FILE, export_model, export_name
from keras_gen.rundir.checkpoints import find_checkpoint, load_checkpoint
from keras_gen.utils.errors import UserError


def export_checkpoint(run_dir: Path, config: RunConfig, *, which: str = "latest", export_dir=None, model=None,
                      publish: str | None = None, log=lambda line: None, extra: dict | None = None) -> Path:
    """Export checkpoint ``which`` (latest, best or an epoch) of ``run_dir`` as the next SavedModel
    version and decide whether it is served (``publish``, default the run's ``--publish`` setting);
    ``model`` is that checkpoint already in memory (skips loading it; with a fitted latent sampler,
    say so in ``extra``, more metadata for ``keras_gen.json``)."""
    checkpoint = find_checkpoint(run_dir, which)
    if model is None:
        model = load_checkpoint(checkpoint["path"])
    extra = {"run_dir": str(run_dir), "epochs": checkpoint["epoch"], "checkpoint": checkpoint["path"],
             "dataset_options": {k: v for k, v in (("subset", config.subset), ("attribute", config.attribute))
                                 if v is not None},
             "data_dir": config.data_dir, **(extra or {})}
    if checkpoint.get("monitor"):
        extra["monitor"] = checkpoint["monitor"]
        extra["monitor_value"] = checkpoint["logs"][checkpoint["monitor"]]
    return export_model(model, export_dir if export_dir is not None else config.export_dir,
                        model_name=config.model, dataset=config.dataset, steps=model.steps_trained,
                        extra_metadata=extra, name=export_name(config.model, dataset_label(config)),
                        publish=publish or config.publish, log=log)


def dataset_label(config: RunConfig) -> str:
    """The dataset part of a run's export name: the dataset, and what else picks its images (a
    folder's name, Char74K's subset, the CelebA attribute), so a run on other data never becomes a
    new version of a model trained on the usual one: ``folder-faces``, ``char74k-hnd``."""
    parts = [config.dataset]
    if config.dataset == "folder" and config.data_dir:
        parts.append(Path(config.data_dir).resolve().name)
    parts += [v for v in (config.subset, config.attribute) if v]
    label = "-".join(parts)
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label)


def export_run(run_dir: str | os.PathLike, *, fmt: str = "saved_model", export_dir: str | os.PathLike | None = None,
               checkpoint: str = "latest", publish: str = "auto", out=print) -> Path:
    """Re-export a run from its checkpoint ``checkpoint`` (latest, best or an epoch) as ``fmt`` (one
    of :data:`FORMATS`) under ``export_dir`` (default: the run's export directory); return the
    written directory."""
    _check_format(fmt)
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise UserError(f"{run_dir} is not a run directory (no config.json); pass a directory train.py wrote, "
                        "e.g. runs/<model>_<dataset>_<timestamp>, or a .keras file")
    record = find_checkpoint(run_dir, checkpoint)
    config = RunConfig.load(run_dir / "config.json")
    root = Path(export_dir if export_dir is not None else config.export_dir)
    return _write(fmt, root, lambda to, log: export_checkpoint(run_dir, config, which=checkpoint, export_dir=to,
                                                               publish=publish, log=log),
                  source=record["path"], out=out)


def export_keras_file(path: str | os.PathLike, *, name: str | None = None, dataset: str | None = None,
                      fmt: str = "saved_model", export_dir: str | os.PathLike | None = None, publish: str = "auto",
                      out=print) -> Path:
    """Export a keras_gen model saved as a ``.keras`` file (``model.save`` in Python, or a file of a
    run's ``checkpoints/``) as ``<export_dir>/<name>_<dataset>/<version>`` (default root
    ``saved_models``), with the signatures ``train.py``'s exports have. A run's checkpoint file
    knows its model and dataset; another file needs ``dataset`` and takes ``name`` from its file
    name unless given."""
    _check_format(fmt)
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist; pass a .keras file or a run directory")
    # A run's checkpoint (checkpoints/*.keras), or a file beside its config.json (keras-gen fit-sampler's).
    run_dir = path.parent.parent if path.parent.name == "checkpoints" else \
        path.parent if (path.parent / "config.json").is_file() else None
    config = RunConfig.load(run_dir / "config.json") if run_dir and (run_dir / "config.json").is_file() else None
    name = name or (config.model if config else path.stem)
    dataset = dataset or (config.dataset if config else None)
    if not dataset:
        raise UserError(f"{path} does not say which dataset its model learned; pass --dataset NAME (mnist, "
                        "fashion_mnist, ...): exports are named <model>_<dataset> and evaluated against its test split")
    check_export_name(name, dataset, fix="pass --name NAME")  # before loading the file
    try:
        model = load_checkpoint(path)
    except Exception as err:  # not a zip, a class Keras cannot find, a damaged file
        reason = " ".join(str(err).split())[:160]
        raise UserError(f"cannot load {path} as a Keras model ({type(err).__name__}: {reason}); pass a .keras file "
                        "that model.save wrote") from None
    extra = {"source_file": str(path.resolve()), **({"run_dir": str(run_dir)} if config else {})}
    root = Path(export_dir if export_dir is not None else (config.export_dir if config else "saved_models"))
    return export_object(model, root, name=name, dataset=dataset, fmt=fmt, extra_metadata=extra, source=str(path),
                         what=str(path), publish=publish, out=out)


def export_object(model, root: str | os.PathLike = "saved_models", *, name: str, dataset: str,
                  fmt: str = "saved_model", extra_metadata: dict | None = None, source: str | None = None,
                  what: str = "the model", publish: str = "auto", label: str | None = None, out=print) -> Path:
    """Export a keras_gen model object as ``<root>/<name>_<dataset>/<version>`` (or its TFLite or
    ONNX conversion under ``<root>/<fmt>/``; ``label`` replaces the dataset in the name, see
    :func:`dataset_label`); return the written directory."""
    from keras_gen.families import GenerativeModel

    _check_format(fmt)
    if not isinstance(model, GenerativeModel):
        raise UserError(f"{what} is a {type(model).__name__}, not a keras_gen model (a GAN, WGAN, ACGAN or VAE "
                        "family model); export it with keras' own model.export")
    check_export_name(name, label or dataset)
    return _write(fmt, Path(root), lambda to, log: export_model(
        model, to, model_name=name, dataset=dataset, steps=model.steps_trained, extra_metadata=extra_metadata,
        name=export_name(name, label or dataset), publish=publish, log=log),
                  source=source or type(model).__name__, out=out)


def check_export_name(name: str, dataset: str, *, fix: str = "pass another name") -> None:
    """``<name>_<dataset>`` must be a TF Serving model name (a directory name and a URL segment)."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", f"{name}_{dataset}"):
        raise UserError(f"export name {name}_{dataset} must be letters, digits, '_', '.' and '-' (TF Serving's model "
                        f"names); {fix}")


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise UserError(f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}")


def _write(fmt: str, root: Path, write_saved_model, *, source: str, out=print) -> Path:
    """``write_saved_model(root, log)`` for a SavedModel; for TFLite and ONNX, a SavedModel in a
    temporary directory of ``root``, converted under ``root/<fmt>/``."""
    if fmt == "saved_model":
        path = write_saved_model(root, out)
        out(f"SavedModel:  {path}")
        out(f"TF Serving:  {root / MODELS_CONFIG}")
        return path
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".export-", dir=root) as tmp:
        saved = write_saved_model(tmp, lambda line: None)  # a scratch root: its publishing is moot
        path = (export_tflite if fmt == "tflite" else export_onnx)(saved, root, source=source)
    info = json.loads((path / METADATA_FILE).read_text())
    out(f"{'TFLite:' if fmt == 'tflite' else 'ONNX:':12s} {path}")
    out(f"signatures:  {', '.join(info['signatures'])}")
    if info["left_out"]:
        reason = next(iter(info["left_out"].values()))
        out(f"left out:    {', '.join(sorted(info['left_out']))}: {reason}")
    return path
