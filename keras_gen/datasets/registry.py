"""The dataset registry, and where each dataset is found on this machine.

Every dataset is registered by name with :func:`register_dataset` and yields the same element
structure: ``(image uint8 [H, W, C], label int32)``, the label being ``-1`` for datasets without
classes. :func:`keras_gen.datasets.pipeline.build_train_set` turns that into batches in the range
the model's output uses.

Sources are tried in this order (the first that holds the files wins):

1. ``--data-dir`` (an explicit directory that lacks the files is an error, never a fall-back);
2. ``$KERAS_GEN_DATA/<name>``;
3. the repository's ``data/<name>``;
4. system locations such as ``/usr/share/datasets/<name>`` (Debian's ``dataset-fashion-mnist``);
5. TensorFlow Datasets, which downloads.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from pathlib import Path
from typing import Callable

import numpy as np
import tensorflow as tf

from keras_gen.datasets.pipeline import AUTOTUNE
from keras_gen.utils.errors import UserError

REPO_DATA_DIR = Path(__file__).resolve().parents[2] / "data"
SYSTEM_DATA_DIRS = (Path("/usr/share/datasets"), Path("/usr/local/share/datasets"))


# --------------------------------------------------------------------------- registry
@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """A dataset known by name.

    ``present(dir)`` says whether a directory holds the dataset's files; ``load(dir, split)``
    returns a ``tf.data.Dataset`` of ``(uint8 [H, W, C], int32 label)``; ``tfds_name`` (if any)
    is the TensorFlow Datasets fall-back, ``from_tfds`` adapts its elements to the same structure.

    Optional, for datasets read from image files (:mod:`keras_gen.datasets`): ``options`` names
    the keyword options ``load`` accepts (``--subset``, ``--attribute``), passed as
    ``load(dir, split, **options)`` and ``tfds_load(split, **options)`` (a TFDS fall-back that is
    not ``as_supervised``); ``classes(dir, options)`` gives the class count of what was found
    when it is not fixed (a folder's sub-directories); an image dimension ``None`` means "any";
    ``classes_note`` and ``how_to_get`` are shown by ``--list-datasets``.
    """

    name: str
    image_shape: tuple[int, int, int]
    num_classes: int | None
    description: str
    layout: str
    present: Callable[[Path], bool]
    load: Callable[[Path, str], tf.data.Dataset]
    tfds_name: str | None = None
    from_tfds: Callable | None = None
    system_names: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    tfds_load: Callable[..., tf.data.Dataset] | None = None
    short_layout: str = ""  # what to put where, in a few words, for the not-found message
    classes: Callable[[Path | None, dict], int | None] | None = None
    channels: Callable[[Path | None, dict], int] | None = None  # channels of what was found (a folder's)
    classes_note: str = ""
    how_to_get: str = ""
    download_size: str = ""  # what --download fetches through TFDS, e.g. "1.4 GB"


_DATASETS: dict[str, DatasetSpec] = {}


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    if spec.name in _DATASETS:
        raise ValueError(f"dataset {spec.name!r} is registered twice")
    _DATASETS[spec.name] = spec
    return spec


def dataset_names() -> list[str]:
    return sorted(_DATASETS)


def get_dataset_spec(name: str) -> DatasetSpec:
    try:
        return _DATASETS[name]
    except KeyError:
        raise UserError(
            f"unknown dataset {name!r}; known datasets: {', '.join(dataset_names())} "
            "(see --list-datasets)"
        ) from None


def from_arrays(images: np.ndarray, labels: np.ndarray) -> tf.data.Dataset:
    return tf.data.Dataset.from_tensor_slices((images, labels))


def tfds_supervised(image, label):
    """A TFDS ``as_supervised`` element -> the registry's ``(uint8 image, int32 label)``."""
    return tf.cast(image, tf.uint8), tf.cast(label, tf.int32)


# --------------------------------------------------------------------------- sources
@dataclasses.dataclass(frozen=True)
class Source:
    """Where a dataset was found: a directory, or TensorFlow Datasets (``directory`` None)."""

    spec: DatasetSpec
    directory: Path | None
    options: dict = dataclasses.field(default_factory=dict)  # e.g. {"subset": "hnd"}; values not None

    @property
    def location(self) -> str:
        return str(self.directory) if self.directory else f"tensorflow-datasets:{self.spec.tfds_name}"

    @property
    def channels(self) -> int:
        """Channels of the data found (a grayscale folder: 1), else the spec's."""
        if self.spec.channels is not None:
            return self.spec.channels(self.directory, self.options)
        return self.spec.image_shape[2]

    @property
    def num_classes(self) -> int | None:
        """Classes of the data found (a folder's sub-directories), else the spec's fixed count."""
        if self.spec.classes is not None:
            return self.spec.classes(self.directory, self.options)
        return self.spec.num_classes

    def load(self, split: str = "train") -> tf.data.Dataset:
        if self.directory is not None:
            return self.spec.load(self.directory, split, **self.options)
        started = time.time()
        try:
            if self.spec.tfds_load is not None:
                return self.spec.tfds_load(split, **self.options)
            import tensorflow_datasets as tfds  # imported lazily: slow, and only this path needs it

            # TFDS shows its own progress bars (download, extraction, preparation) while it works.
            ds = tfds.load(self.spec.tfds_name, split=split, as_supervised=True, shuffle_files=False)
        except UserError:
            raise
        except Exception as err:  # the network went away, TFDS missing a dependency, a failed download
            remove_partial_download(self.spec.tfds_name, since=started)
            reason = (str(err).strip().splitlines() or [""])[0][:120]
            raise UserError(f"--download of {self.spec.tfds_name} failed ({type(err).__name__}: {reason}); "
                            f"copy the files here and pass --data-dir DIR") from None
        return ds.map(self.spec.from_tfds, num_parallel_calls=AUTOTUNE)


def candidate_dirs(spec: DatasetSpec) -> list[Path]:
    """Directories searched for ``spec`` when no ``--data-dir`` is given, in order."""
    names = (spec.name, *spec.system_names)
    dirs = []
    if os.environ.get("KERAS_GEN_DATA"):
        dirs += [Path(os.environ["KERAS_GEN_DATA"]) / n for n in names]
    dirs += [REPO_DATA_DIR / n for n in names]
    dirs += [root / n for root in SYSTEM_DATA_DIRS for n in names]
    return dirs


def find_source(name: str, data_dir: str | os.PathLike | None = None, *, download: bool = False,
                options: dict | None = None) -> Source:
    """Locate dataset ``name``; see the module docstring for the order.

    Nothing is downloaded unless ``download`` is set (``--download``): a dataset missing from this
    machine is a one-line error saying what to put where, within a second, never a surprise
    multi-gigabyte download. ``options`` (``{"subset": ..., "attribute": ...}``; ``None`` values =
    not given) are checked against the options the dataset takes and passed to its loader.
    """
    spec = get_dataset_spec(name)
    options = {k: v for k, v in (options or {}).items() if v is not None}
    for key in options:
        if key not in spec.options:
            takes = ", ".join(f"--{o.replace('_', '-')}" for o in spec.options) or "no dataset options"
            raise UserError(f"dataset {name} does not take --{key.replace('_', '-')} (it takes {takes})")
    if data_dir is not None:
        directory = Path(data_dir).expanduser()
        if not directory.is_dir():
            raise UserError(f"--data-dir {directory} does not exist; expected a directory with {spec.layout}")
        if not spec.present(directory):
            raise UserError(f"--data-dir {directory} does not hold {name}: expected {spec.layout}")
        return Source(spec, directory, options)
    for directory in candidate_dirs(spec):
        if directory.is_dir() and spec.present(directory):
            return Source(spec, directory, options)
    if download and spec.tfds_name:
        check_online(spec)
        return Source(spec, None, options)
    home = next((d for d in candidate_dirs(spec) if d.parent == REPO_DATA_DIR), candidate_dirs(spec)[0])
    fetch = f", or --download ({spec.download_size} through TensorFlow Datasets)" if spec.tfds_name else ""
    raise UserError(f"dataset {name} is not on this machine; put {spec.short_layout or spec.layout} in {home} "
                    f"or pass --data-dir DIR holding it{fetch}")


def tfds_data_dir() -> Path:
    return Path(os.environ.get("TFDS_DATA_DIR", Path.home() / "tensorflow_datasets"))


def remove_partial_download(tfds_name: str, *, since: float) -> None:
    """Remove what a failed TFDS download left: incomplete dataset directories and the download
    and extraction temporaries written since ``since`` (finished files of earlier runs stay)."""
    root = tfds_data_dir()
    for path in [*(root / tfds_name).glob("**/*incomplete*"), *(root / "downloads").glob("*")]:
        try:
            recent = path.stat().st_mtime >= since
        except OSError:
            continue
        if recent or "incomplete" in path.name:
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)


TFDS_PROBE = ("storage.googleapis.com", 443)  # TFDS reads its dataset metadata from Google Cloud Storage


def check_online(spec: DatasetSpec, timeout: float = 5.0) -> None:
    """Fail within seconds, not after minutes of TFDS retries, when the download cannot start."""
    import socket

    try:
        socket.create_connection(TFDS_PROBE, timeout=timeout).close()
    except OSError as err:
        raise UserError(f"--download: cannot reach {TFDS_PROBE[0]} ({err.strerror or err}), so TensorFlow Datasets "
                        f"cannot fetch {spec.tfds_name}; copy the files here and pass --data-dir DIR") from None


def describe_datasets() -> list[dict]:
    """One row per dataset for ``--list-datasets``: where it is found here, or how to get it."""
    rows = []
    for name in dataset_names():
        spec = _DATASETS[name]
        classes = spec.num_classes
        try:
            source = find_source(name)
            found, classes = source.location, source.num_classes
        except UserError:
            if spec.how_to_get:
                found = f"not found; {spec.how_to_get}"
            else:
                found = f"not found locally; --download fetches it ({spec.download_size}, TFDS '{spec.tfds_name}')" \
                    if spec.tfds_name else "not found"
        h, w, c = spec.image_shape
        shape = f"{h}x{w}x{c}" if h and w else f"any x{c}"
        rows.append(
            {"name": name, "image_shape": shape, "classes": classes, "classes_note": spec.classes_note,
             "source": found, "description": spec.description}
        )
    return rows
