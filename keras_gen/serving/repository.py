"""The exports a server serves: found by scanning an export root (TF Serving's layout
``<name>/<version>/saved_model.pb``; a model or version directory can be given instead), rescanned
on every request, each version loaded with ``tf.saved_model.load`` on first use and kept. Of a
model's versions, the one its root publishes is served (as TF Serving serves the ``models.config``
keras_gen writes); a version directory given by path is served as it is.

Imports nothing from keras_gen but :mod:`keras_gen.serving` and :mod:`keras_gen.utils`.
"""

from __future__ import annotations

import dataclasses
import json
import re
import threading
import time
from pathlib import Path

from keras_gen.serving import DEFAULT_MAX_BATCH, METADATA_FILE
from keras_gen.serving.published import UNKNOWN, read_publishing, served_version
from keras_gen.utils.errors import UserError

_VERSION_DIR = re.compile(r"\d+")


class ApiError(Exception):
    """A request the API refuses: ``status`` is the HTTP status, the message goes in ``{"error"}``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


# --------------------------------------------------------------------------- finding exports
def _is_version_dir(path: Path) -> bool:
    return (path / "saved_model.pb").is_file()


def _version_dirs(model_dir: Path) -> dict[int, Path]:
    try:
        children = list(model_dir.iterdir())
    except OSError:
        return {}
    return {int(p.name): p for p in children
            if _VERSION_DIR.fullmatch(p.name) and p.is_dir() and _is_version_dir(p)}


def source_kind(path: Path) -> str:
    """``version`` (a SavedModel), ``model`` (numbered versions under it) or ``root``."""
    if _is_version_dir(path):
        return "version"
    if _version_dirs(path):
        return "model"
    return "root"


def read_keras_gen_json(version_dir: Path) -> dict | None:
    """The export's ``assets/keras_gen.json``, or None (absent or unreadable)."""
    try:
        meta = json.loads((version_dir / "assets" / METADATA_FILE).read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def check_export_root(path) -> Path:
    """``path`` as an export root holding at least one export; a UserError otherwise."""
    root = Path(path).expanduser()
    if not root.exists():
        raise UserError(f"{root} does not exist; pass an export root such as saved_models "
                        "(it holds <model>_<dataset>/<version>/saved_model.pb)")
    if not root.is_dir():
        raise UserError(f"{root} is not a directory; pass an export root such as saved_models")
    kind = source_kind(root)
    if kind != "root":
        parent = root.parent if kind == "model" else root.parent.parent
        raise UserError(f"{root} is an export {'version' if kind == 'version' else 'model directory'}, not an "
                        f"export root; pass the directory above it ({parent})")
    if not any(_version_dirs(p) for p in _children(root)):
        raise UserError(f"{root} holds no exports (no <model>_<dataset>/<version>/saved_model.pb under it); "
                        "train one with python train.py or export one with keras-gen export RUN_DIR")
    return root


def _children(root: Path) -> list[Path]:
    try:
        return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []


@dataclasses.dataclass
class ServedVersion:
    """One version of one model: where it is, its keras_gen.json, and (once loaded) the module."""

    name: str
    version: int
    path: Path
    keras_gen: dict | None
    module: object = None
    error: str | None = None
    signature_defs: dict | None = None
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False)

    @property
    def loaded(self) -> bool:
        return self.module is not None

    def max_batch(self, default: int) -> int:
        value = (self.keras_gen or {}).get("max_batch")
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default

    @property
    def num_classes(self) -> int | None:
        value = (self.keras_gen or {}).get("num_classes")
        return value if isinstance(value, int) and value > 0 else None

    def signature_def_protos(self) -> dict:
        """``{key: SignatureDef proto}`` of the serving graph, read from ``saved_model.pb`` (the
        file TF Serving reads them from) once; both front ends' metadata replies are made from it."""
        if self.signature_defs is None:
            from tensorflow.core.protobuf import saved_model_pb2

            proto = saved_model_pb2.SavedModel()
            try:
                proto.ParseFromString((self.path / "saved_model.pb").read_bytes())
            except Exception as err:
                raise ApiError(404, f"version {self.version} of model {self.name!r} has an unreadable "
                                    f"saved_model.pb ({type(err).__name__})") from None
            graphs = [g for g in proto.meta_graphs if "serve" in g.meta_info_def.tags] or list(proto.meta_graphs)
            self.signature_defs = dict(graphs[0].signature_def.items()) if graphs else {}
        return self.signature_defs


def _published(root: Path, models: dict[str, dict[int, Path]]) -> dict[str, dict[int, Path]]:
    """The versions TF Serving would serve with the ``models.config`` keras_gen writes for
    ``root``: the published one (:mod:`keras_gen.serving.published`), none for a model that was
    exported unpublished, the newest for one keras_gen never published (TF Serving's default)."""
    state = read_publishing(root)
    out = {}
    for name, versions in models.items():
        served = served_version(root, name, state)
        if served is UNKNOWN:
            out[name] = {max(versions): versions[max(versions)]} if versions else {}
        else:
            out[name] = {served: versions[served]} if served in versions else {}
    return out


class ModelRepository:
    """The models under ``sources`` (export roots, model directories or version directories),
    rescanned by :meth:`refresh`; versions are loaded with ``tf.saved_model.load`` on first use."""

    def __init__(self, sources, *, max_batch: int = DEFAULT_MAX_BATCH):
        self.sources = []
        for source in sources:
            path = Path(source).expanduser()
            if not path.is_dir():
                raise UserError(f"{path} is not a directory; pass an export root (saved_models) or an export "
                                "(saved_models/<model>_<dataset>[/<version>])")
            self.sources.append(path.resolve())
        if not self.sources:
            raise UserError("no export root or export given")
        self.default_max_batch = max_batch
        self._models: dict[str, dict[int, ServedVersion]] = {}
        self._lock = threading.Lock()
        self.refresh()

    # -- scanning
    def _scan(self) -> dict[str, dict[int, Path]]:
        found: dict[str, dict[int, Path]] = {}

        def add(name, versions):
            if name not in found:  # the first source naming a model wins
                found[name] = versions

        for source in self.sources:
            kind = source_kind(source)
            if kind == "version":  # named explicitly: served whatever is published
                numbered = _VERSION_DIR.fullmatch(source.name)
                add(source.parent.name if numbered else source.name, {int(source.name) if numbered else 1: source})
            elif kind == "model":
                add(source.name, _published(source.parent, {source.name: _version_dirs(source)})[source.name])
            else:
                models = {child.name: _version_dirs(child) for child in _children(source)}
                for name, versions in _published(source, models).items():
                    if versions:
                        add(name, versions)
        return found

    def refresh(self) -> None:
        """Rescan the sources: new models and versions appear, removed ones are dropped."""
        found = self._scan()
        with self._lock:
            models = {}
            for name, versions in found.items():
                known = self._models.get(name, {})
                models[name] = {}
                for number, path in versions.items():
                    entry = known.get(number)
                    if entry is None or entry.path != path:
                        entry = ServedVersion(name, number, path, read_keras_gen_json(path))
                    models[name][number] = entry
            self._models = models

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._models)

    def versions(self, name: str) -> list[ServedVersion]:
        """Every version of ``name``, newest first; ApiError 404 for an unknown model."""
        with self._lock:
            versions = self._models.get(name)
        if not versions:
            known = ", ".join(self.names()) or "none"
            raise ApiError(404, f"model {name!r} not found; this server has: {known}")
        return [versions[v] for v in sorted(versions, reverse=True)]

    def get(self, name: str, version: int | None = None) -> ServedVersion:
        versions = self.versions(name)
        if version is None:
            return versions[0]
        for entry in versions:
            if entry.version == version:
                return entry
        have = ", ".join(str(v.version) for v in versions)
        raise ApiError(404, f"model {name!r} has no version {version} served (it serves {have}; keras-gen publish "
                            "picks the served version of an export root)")

    # -- loading
    def load(self, entry: ServedVersion):
        """The loaded module of ``entry`` (loading it once); ApiError 404 if it cannot load."""
        with entry.lock:
            if entry.module is None and entry.error is None:
                import tensorflow as tf

                try:
                    entry.module = tf.saved_model.load(str(entry.path))
                except Exception as err:  # a broken or foreign SavedModel: reported, never fatal
                    entry.error = f"{type(err).__name__}: {(str(err).strip().splitlines() or [''])[0][:300]}"
        if entry.error is not None:
            raise ApiError(404, f"version {entry.version} of model {entry.name!r} failed to load ({entry.error})")
        return entry.module

    def preload(self, log=None, stop=None) -> None:
        """Load every model's newest version now (what TF Serving does before taking traffic);
        ``stop``: a ``threading.Event`` that, once set, ends it after the model it is loading."""
        for name in self.names():
            if stop is not None and stop.is_set():
                return
            entry = self.get(name)
            start = time.perf_counter()
            try:
                self.load(entry)
                if log:
                    log(f"loaded {name} version {entry.version} ({entry.path}) in "
                        f"{time.perf_counter() - start:.1f} s")
            except ApiError as err:
                if log:
                    log(f"warning: {err}")

    def listing(self) -> list[dict]:
        """``GET /v1/keras_gen/models``: each model's versions with their keras_gen.json."""
        out = []
        for name in self.names():
            try:
                versions = self.versions(name)
            except ApiError:  # removed between the two calls
                continue
            out.append({"name": name, "latest_version": str(versions[0].version),
                        "versions": [{"version": str(v.version), "keras_gen": v.keras_gen,
                                      "max_batch": v.max_batch(self.default_max_batch)} for v in versions]})
        return out
