"""Datasets and input pipelines.

Every dataset is registered by name with :func:`register_dataset` and yields the same element
structure: ``(image uint8 [H, W, C], label int32)``, the label being ``-1`` for datasets without
classes. :func:`build_train_set` turns that into batches in the range the model's output uses.

Sources are tried in this order (the first that holds the files wins):

1. ``--data-dir`` (an explicit directory that lacks the files is an error, never a fall-back);
2. ``$KERAS_GEN_DATA/<name>``;
3. the repository's ``data/<name>``;
4. system locations such as ``/usr/share/datasets/<name>`` (Debian's ``dataset-fashion-mnist``);
5. TensorFlow Datasets, which downloads.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import struct
from pathlib import Path
from typing import Callable

import numpy as np
import tensorflow as tf

from keras_gen.errors import UserError

REPO_DATA_DIR = Path(__file__).resolve().parent.parent / "data"
SYSTEM_DATA_DIRS = (Path("/usr/share/datasets"), Path("/usr/local/share/datasets"))
AUTOTUNE = tf.data.AUTOTUNE

# Value ranges a model's output can use: tanh generators want [-1, 1], sigmoid/Bernoulli [0, 1].
VALUE_RANGES = {"minus_one_one": (-1.0, 1.0), "zero_one": (0.0, 1.0)}


# --------------------------------------------------------------------------- scaling helpers
def to_minus_one_one(images):
    """uint8 [0, 255] -> float32 [-1, 1]."""
    return tf.cast(images, tf.float32) / 127.5 - 1.0


def to_zero_one(images):
    """uint8 [0, 255] -> float32 [0, 1]."""
    return tf.cast(images, tf.float32) / 255.0


def scale_images(images, value_range: str):
    if value_range == "minus_one_one":
        return to_minus_one_one(images)
    if value_range == "zero_one":
        return to_zero_one(images)
    raise ValueError(f"unknown value range {value_range!r}; expected one of {sorted(VALUE_RANGES)}")


def to_unit_range(images, value_range: str):
    """Model output in ``value_range`` -> float32 [0, 1], clipped (what exports and grids show)."""
    images = tf.convert_to_tensor(images, tf.float32)
    if value_range == "minus_one_one":
        images = (images + 1.0) / 2.0
    return tf.clip_by_value(images, 0.0, 1.0)


# --------------------------------------------------------------------------- IDX files
IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzipped or not), the format of MNIST and Fashion-MNIST."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:
        raise UserError(f"cannot read {path}: {err}; download the file again") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES:
        raise UserError(f"{path} is not an IDX file (bad magic number); download the file again")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise UserError(f"{path} is truncated (header); download the file again")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(IDX_DTYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise UserError(
            f"{path} is truncated or corrupt: {len(raw) - header} bytes of data, "
            f"expected {expected} for shape {shape}; download the file again"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def _idx_file(directory: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (directory / name).is_file():
            return directory / name
    return None


IDX_SPLITS = {"train": "train", "test": "t10k"}


def _idx_present(directory: Path) -> bool:
    return all(
        _idx_file(directory, f"{prefix}-{kind}") is not None
        for prefix in IDX_SPLITS.values()
        for kind in ("images-idx3-ubyte", "labels-idx1-ubyte")
    )


def load_idx_arrays(directory: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    prefix = IDX_SPLITS[split]
    images_path = _idx_file(directory, f"{prefix}-images-idx3-ubyte")
    labels_path = _idx_file(directory, f"{prefix}-labels-idx1-ubyte")
    if images_path is None or labels_path is None:
        raise UserError(
            f"{directory} lacks {prefix}-images-idx3-ubyte[.gz] or {prefix}-labels-idx1-ubyte[.gz]"
        )
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise UserError(
            f"{images_path} and {labels_path} do not match: images {images.shape}, labels "
            f"{labels.shape}; expected [N, H, W] images and N labels"
        )
    return images[..., None], labels.astype(np.int32)


# --------------------------------------------------------------------------- registry
@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """A dataset known by name.

    ``present(dir)`` says whether a directory holds the dataset's files; ``load(dir, split)``
    returns a ``tf.data.Dataset`` of ``(uint8 [H, W, C], int32 label)``; ``tfds_name`` (if any)
    is the TensorFlow Datasets fall-back, ``from_tfds`` adapts its elements to the same structure.

    Optional, for datasets read from image files (:mod:`keras_gen.formats`): ``options`` names
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
    classes: Callable[[Path | None, dict], int | None] | None = None
    classes_note: str = ""
    how_to_get: str = ""


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


def _from_arrays(images: np.ndarray, labels: np.ndarray) -> tf.data.Dataset:
    return tf.data.Dataset.from_tensor_slices((images, labels))


def _idx_load(directory: Path, split: str) -> tf.data.Dataset:
    return _from_arrays(*load_idx_arrays(directory, split))


def _tfds_supervised(image, label):
    return tf.cast(image, tf.uint8), tf.cast(label, tf.int32)


_IDX_LAYOUT = (
    "train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], "
    "t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]"
)

register_dataset(
    DatasetSpec(
        name="mnist",
        image_shape=(28, 28, 1),
        num_classes=10,
        description="MNIST handwritten digits, 60k/10k, 28x28x1 (LeCun & Cortes, CC BY-SA 3.0)",
        layout=_IDX_LAYOUT,
        present=_idx_present,
        load=_idx_load,
        tfds_name="mnist",
        from_tfds=_tfds_supervised,
    )
)
register_dataset(
    DatasetSpec(
        name="fashion_mnist",
        image_shape=(28, 28, 1),
        num_classes=10,
        description="Fashion-MNIST (Zalando), 60k/10k, 28x28x1; apt-get install dataset-fashion-mnist",
        layout=_IDX_LAYOUT,
        present=_idx_present,
        load=_idx_load,
        tfds_name="fashion_mnist",
        from_tfds=_tfds_supervised,
        system_names=("fashion-mnist",),
    )
)


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
    def num_classes(self) -> int | None:
        """Classes of the data found (a folder's sub-directories), else the spec's fixed count."""
        if self.spec.classes is not None:
            return self.spec.classes(self.directory, self.options)
        return self.spec.num_classes

    def load(self, split: str = "train") -> tf.data.Dataset:
        if self.directory is not None:
            return self.spec.load(self.directory, split, **self.options)
        try:
            if self.spec.tfds_load is not None:
                return self.spec.tfds_load(split, **self.options)
            import tensorflow_datasets as tfds  # imported lazily: slow, and only this path needs it

            ds = tfds.load(self.spec.tfds_name, split=split, as_supervised=True, shuffle_files=False)
        except UserError:
            raise
        except Exception as err:  # no network, TFDS missing a dependency, a failed download
            reason = (str(err).strip().splitlines() or [""])[0][:200]
            searched = ", ".join(str(d) for d in candidate_dirs(self.spec))
            raise UserError(
                f"dataset {self.spec.name} is not on this machine (searched {searched}) and TensorFlow "
                f"Datasets could not get '{self.spec.tfds_name}' ({type(err).__name__}: {reason}); "
                f"pass --data-dir DIR holding {self.spec.layout}"
            ) from None
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


def find_source(name: str, data_dir: str | os.PathLike | None = None, *, allow_download: bool = True,
                options: dict | None = None) -> Source:
    """Locate dataset ``name``; see the module docstring for the order.

    ``options`` (``{"subset": ..., "attribute": ...}``; ``None`` values = not given) are checked
    against the options the dataset takes and passed to its loader.
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
    if allow_download and spec.tfds_name:
        return Source(spec, None, options)
    searched = ", ".join(str(d) for d in candidate_dirs(spec))
    raise UserError(f"dataset {name} not found (searched {searched}); pass --data-dir DIR holding {spec.layout}")


def describe_datasets() -> list[dict]:
    """One row per dataset for ``--list-datasets``: where it is found here, or how to get it."""
    rows = []
    for name in dataset_names():
        spec = _DATASETS[name]
        classes = spec.num_classes
        try:
            source = find_source(name, allow_download=False)
            found, classes = source.location, source.num_classes
        except UserError:
            if spec.how_to_get:
                found = f"not found; {spec.how_to_get}"
            else:
                found = f"not found locally; TFDS '{spec.tfds_name}' downloads it" if spec.tfds_name else "not found"
        h, w, c = spec.image_shape
        shape = f"{h}x{w}x{c}" if h and w else f"any x{c}"
        rows.append(
            {"name": name, "image_shape": shape, "classes": classes, "classes_note": spec.classes_note,
             "source": found, "description": spec.description}
        )
    return rows


# --------------------------------------------------------------------------- pipeline
def prepare_image(image, *, image_shape: tuple[int, int, int]):
    """Fit one uint8 ``[H, W, C]`` image to ``image_shape`` (still uint8).

    A slightly smaller image is zero-padded (MNIST 28x28 -> 32x32, as LeNet and DCGAN-32 code
    do); anything else is centre-cropped to the target's aspect ratio and resized (antialiased
    when shrinking). Channels are converted 1 <-> 3 when they differ.
    """
    th, tw, tc = image_shape
    shape = tf.shape(image)
    h, w, c = image.shape[0], image.shape[1], image.shape[-1]
    if c != tc:
        if c == 1 and tc == 3:
            image = tf.image.grayscale_to_rgb(image)
        elif c == 3 and tc == 1:
            image = tf.cast(tf.round(tf.image.rgb_to_grayscale(tf.cast(image, tf.float32))), tf.uint8)
        else:
            raise UserError(f"cannot convert {c}-channel images to {tc} channels")
    if h is not None and w is not None and (h, w) == (th, tw):
        return image
    if h is not None and w is not None and th >= h and tw >= w and (th - h) % 2 == 0 and (tw - w) % 2 == 0 \
            and (th - h) <= h // 4 and (tw - w) <= w // 4:
        return tf.image.pad_to_bounding_box(image, (th - h) // 2, (tw - w) // 2, th, tw)
    h, w = shape[0], shape[1]
    # Centre crop to the target aspect ratio, then resize.
    crop_h = tf.minimum(h, tf.cast(tf.round(tf.cast(w, tf.float32) * th / tw), tf.int32))
    crop_w = tf.minimum(w, tf.cast(tf.round(tf.cast(h, tf.float32) * tw / th), tf.int32))
    image = tf.image.crop_to_bounding_box(image, (h - crop_h) // 2, (w - crop_w) // 2, crop_h, crop_w)
    # Antialiased bilinear: a proper low-pass filter when shrinking, plain bilinear when enlarging.
    image = tf.image.resize(image, (th, tw), method="bilinear", antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)


MEMORY_CACHE_FRACTION = 0.25  # of physical memory: the shuffle buffer may hold as much again


def memory_cache_budget() -> int:
    """Bytes of decoded images :func:`build_train_set` may cache in memory."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 8 << 30
    return int(total * MEMORY_CACHE_FRACTION)


def build_train_set(
    source: tf.data.Dataset,
    *,
    image_shape: tuple[int, int, int],
    value_range: str,
    batch_size: int,
    seed: int,
    limit: int | None = None,
    repeat: bool = False,
    shuffle: bool = True,
    drop_remainder: bool = True,
    cache_dir: str | os.PathLike | None = None,
) -> tf.data.Dataset:
    """``(uint8 image, label)`` elements -> shuffled, batched ``(float images, int32 labels)``.

    Images are fitted to ``image_shape`` per element (parallel map), cached at their final uint8
    size (in memory when that takes at most :func:`memory_cache_budget` bytes, else in a file
    cache under ``cache_dir``, else not at all), shuffled with ``seed`` each epoch, batched,
    scaled to ``value_range`` per batch (one vectorized op), and prefetched so the model never
    waits for input. Elements decoded from files (dynamic shape) that fail to decode are skipped.
    """
    if limit is not None:
        source = source.take(limit)
    n = int(source.cardinality())  # before ignore_errors, which makes it unknown
    element_shape = tuple(source.element_spec[0].shape)
    if element_shape != tuple(image_shape):
        source = source.map(
            lambda x, y: (prepare_image(x, image_shape=image_shape), y), num_parallel_calls=AUTOTUNE,
            deterministic=True,
        )
    if None in element_shape:  # decoded from image files: one corrupt file must not end training
        source = source.ignore_errors(log_warning=True)
    nbytes = n * int(np.prod(image_shape)) if n > 0 else 0
    if nbytes <= memory_cache_budget():
        ds = source.cache()
    elif cache_dir is not None:
        cache_dir = Path(cache_dir)
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise UserError(f"cannot create the data cache {cache_dir}: {err.strerror or err}") from None
        ds = source.cache(str(cache_dir / "images"))
    else:
        ds = source
    if shuffle:
        buffer = n if 0 < n <= 100_000 else 10_000
        ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    ds = ds.map(lambda x, y: (scale_images(x, value_range), y), num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)


def count_examples(source: tf.data.Dataset, limit: int | None = None) -> int:
    n = int(source.cardinality())
    if n < 0:  # unknown (e.g. a filtered file list): count once
        n = int(source.reduce(0, lambda count, _: count + 1))
    return n if limit is None else min(n, limit)


import keras_gen.formats  # noqa: E402,F401  (registers cifar10, celeba, char74k, folder)
