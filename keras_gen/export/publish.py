"""Publishing is a decision: a new export is served only if it is at least as good as the version
served now (TFX's Evaluator "blesses" a model before its Pusher pushes it).

:func:`decide` runs after every export (``train.py``, ``keras-gen export``, ``keras-gen
fit-sampler``) in one of three modes:

* ``auto`` (the default): the first version of a model is published. A later one is evaluated
  beside the served version, **the same way on the same settings** (:func:`blessing_settings`: the
  domain classifier's FID of 2,000 samples drawn through each export's own ``sample`` signature,
  seed 0, against as many images of the dataset's test split) and published when its FID is not higher. A version that
  cannot be measured here (its dataset is not on this machine) is not published. Every decision is
  one line of output and an entry of ``publishing.json``'s log; the served version's figure is
  kept there, so it is measured once.
* ``always`` (``--publish``): published without measuring.
* ``never`` (``--no-publish``): exported, not served.

``keras-gen publish EXPORT --version N`` publishes any version by hand (a rollback included).
``<root>/models.config`` (TF Serving's ``--model_config_file``) is rewritten from the decisions:
each published model pinned to its version (``model_version_policy { specific }``).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Callable

from keras_gen.config import PUBLISH_MODES
from keras_gen.serving.published import UNKNOWN, read_publishing, record, served_version, update_publishing
from keras_gen.serving.repository import read_keras_gen_json
from keras_gen.utils.errors import UserError
from keras_gen.utils.fileio import file_lock, numbered_versions, readable_by_all, write_text

MODES = PUBLISH_MODES
MODELS_CONFIG = "models.config"
# The blessing's evaluation: FID of SAMPLES samples against as many test images (all of a smaller
# test split) is its verdict. What else keras-gen evaluate computes is cut to what a small test
# split allows (a folder's 10%) and to a token VAE likelihood: it is not compared.
SAMPLES = 2000


def blessing_settings(test_images: int):
    """The evaluation settings of a blessing against a test split of ``test_images`` images."""
    from keras_gen.evaluation.settings import EvalSettings

    n = min(SAMPLES, test_images)
    if n < 3:
        raise UserError(f"the test split has {test_images} images, too few to measure FID")
    return EvalSettings(samples=SAMPLES, likelihood_images=min(50, n), iwae_k=1, kid_subsets=10,
                        kid_subset_size=max(2, min(1000, n // 2)), pr_k=min(3, n - 1), dc_k=min(5, n - 1))


@dataclasses.dataclass(frozen=True)
class Decision:
    name: str
    version: int
    published: bool
    served: int | None  # the version served after the decision
    reason: str

    def line(self) -> str:
        verb = "published" if self.published else "exported, not published"
        return f"{self.name} version {self.version} {verb}: {self.reason}"


# --------------------------------------------------------------------------- models.config
def models_config_text(root: str | os.PathLike) -> str:
    """A ``model_config_list`` text proto of the models under ``root`` (absolute base paths), each
    pinned to its published version; unpublished models are left out."""
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    state = read_publishing(root)
    config = model_server_config_pb2.ModelServerConfig()
    for model_dir in model_dirs(root):
        served = served_version(root, model_dir.name, state)
        if served is None:
            continue
        entry = config.model_config_list.config.add()
        entry.name = model_dir.name
        entry.base_path = str(model_dir.resolve())
        entry.model_platform = "tensorflow"
        if served is not UNKNOWN:
            entry.model_version_policy.specific.versions.append(served)
    return text_format.MessageToString(config)


def write_models_config(root: str | os.PathLike) -> Path:
    """Rewrite ``<root>/models.config`` (atomically, under a lock, from what is on disk then) so it
    serves each model's published version: concurrent exports never drop each other's entries."""
    path = Path(root) / MODELS_CONFIG
    header = ("# Written by keras_gen on every export and publish: each model at its published version\n"
              "# (publishing.json says why). Serve them with\n"
              f"# tensorflow_model_server --model_config_file={Path(root).resolve() / MODELS_CONFIG}\n")
    with file_lock(Path(root) / ".models.config.lock"):
        write_text(path, header + models_config_text(root))
        readable_by_all(path)
    return path


def saved_versions(model_dir: Path) -> list[int]:
    """The numbered versions of ``model_dir`` that hold a SavedModel, ascending."""
    if not model_dir.is_dir():
        return []
    return [v for v in numbered_versions(model_dir) if (model_dir / str(v) / "saved_model.pb").is_file()]


def model_dirs(root: str | os.PathLike) -> list[Path]:
    """Every ``<root>/<name>/`` that holds at least one numbered SavedModel version."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if saved_versions(p))


def claim_model(root: Path, name: str) -> None:
    """Before a model's first keras_gen export: record what is served now (its newest version, if
    it was copied in by hand; else none), so the version about to appear is not served by
    TF Serving's default policy before :func:`decide` has decided."""
    def change(state):
        if name not in state["models"]:
            existing = numbered_versions(root / name) if (root / name).is_dir() else []
            state["models"][name] = {"served": existing[-1] if existing else None}

    update_publishing(root, change)


# --------------------------------------------------------------------------- the decision
def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise UserError(f"publish must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


def decide(export_path: str | os.PathLike, mode: str = "auto", *, log: Callable[[str], None] = lambda line: None
           ) -> Decision:
    """Publish (or not) the just-exported version ``export_path`` (``<root>/<name>/<version>``)
    by ``mode`` (see the module docstring); rewrite ``models.config``; return the decision."""
    check_mode(mode)
    path = Path(export_path)
    root, name, version = path.parent.parent, path.parent.name, int(path.name)
    served = served_version(root, name)
    if served is UNKNOWN:  # exported by something other than keras_gen's export: treat as newest-served
        served = max((v for v in numbered_versions(path.parent) if v != version), default=None)
    if mode == "never":
        return _settle(root, name, version, False, served, "--no-publish")
    if mode == "always":
        return _settle(root, name, version, True, served, "--publish")
    if served is None or served == version:
        return _settle(root, name, version, True, served, "the first published version of this model")
    served_path = path.parent / str(served)
    if not (served_path / "saved_model.pb").is_file():
        return _settle(root, name, version, True, served, f"the served version {served} is no longer on disk")
    try:
        new = measure(path, log=log)
        # The served version against the same test images (the new export's data, if it moved).
        old = _recorded(root, name, served, new) or \
            measure(served_path, data_dir=new["data_dir"], log=log)
    except Exception as err:  # fail closed: the export stays on disk, the served version stays served
        why = str(err) if isinstance(err, UserError) else f"{type(err).__name__}: {str(err).strip()[:200]}"
        return _settle(root, name, version, False, served,
                       f"it could not be measured against version {served} ({why}); publish it with "
                       f"keras-gen publish {path.parent} --version {version}", figures=None)
    verdict = new["fid"] <= old["fid"]
    reason = (f"{new['extractor']} FID {new['fid']:.2f} on {new['samples']:,} samples "
              f"{'is not above' if verdict else 'is above'} the served version {served}'s {old['fid']:.2f}")
    if not verdict:
        reason += f"; keras-gen publish {path.parent} --version {version} serves it anyway"
    return _settle(root, name, version, verdict, served, reason, figures={version: new, served: old})


def publish(model_dir: str | os.PathLike, version: int | None = None, *, log=lambda line: None) -> Decision:
    """Serve ``version`` (default: the newest) of the model in ``model_dir`` (``keras-gen publish``)."""
    model_dir = Path(model_dir)
    versions = saved_versions(model_dir)
    if not versions:
        raise UserError(f"{model_dir} holds no exported versions; pass an export's model directory, e.g. "
                        "saved_models/<model>_<dataset>")
    version = versions[-1] if version is None else version
    if version not in versions:
        raise UserError(f"{model_dir} has no version {version} (it has {', '.join(map(str, versions))}); "
                        "pass one of those to --version")
    served = served_version(model_dir.parent, model_dir.name)
    return _settle(model_dir.parent, model_dir.name, version, True, None if served is UNKNOWN else served,
                   "keras-gen publish")


def measure(export_path: Path, *, data_dir=None, log=lambda line: None) -> dict:
    """The blessing's figures of one export against its dataset's test split (found in ``data_dir``,
    else where the export's training found it): ``{"fid", "extractor", "samples", "settings",
    "reference", "data_dir", "steps"}``."""
    from keras_gen.datasets import find_source
    from keras_gen.evaluation.evaluate import ExportSubject, evaluate
    from keras_gen.evaluation.extractors import load_split

    subject = ExportSubject(export_path)
    data_dir = data_dir or subject.info.get("data_dir")
    source = find_source(subject.info["dataset"], data_dir, options=subject.info.get("dataset_options"))
    settings = blessing_settings(len(load_split(source, "test", image_shape=subject.image_shape)[0]))
    log(f"measuring {export_path} ({settings.samples:,} samples) to decide what to serve")
    result, _ = evaluate(subject, settings, data_dir=data_dir, log=log)
    fid = result["metrics"]["fid"]
    return {"fid": float(fid["value"]), "extractor": fid.get("extractor", settings.extractor),
            "samples": settings.samples, "settings": settings.to_dict(), "reference": result["reference"]["source"],
            "data_dir": data_dir, "steps": (read_keras_gen_json(export_path) or {}).get("steps_trained")}


def _recorded(root: Path, name: str, version: int, new: dict) -> dict | None:
    """The figures a decision already measured for ``version`` with ``new``'s settings against the
    same test images."""
    figures = read_publishing(root)["models"].get(name, {}).get("evaluations", {}).get(str(version))
    same = figures and figures.get("settings") == new["settings"] and figures.get("reference") == new["reference"]
    return figures if same else None


def _settle(root: Path, name: str, version: int, published: bool, served, reason: str, figures=None) -> Decision:
    def change(state):
        entry = state["models"].setdefault(name, {"served": served})
        if published:
            entry["served"] = version
        record(entry, version, "published" if published else "not published", reason)
        for number, values in (figures or {}).items():
            entry.setdefault("evaluations", {})[str(number)] = values

    state = update_publishing(root, change)
    write_models_config(root)
    return Decision(name, version, published, state["models"][name]["served"], reason)
