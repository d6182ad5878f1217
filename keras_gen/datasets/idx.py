"""MNIST and Fashion-MNIST in their official IDX files (LeCun et al.; Xiao, Rasul & Vollgraf 2017)."""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_gen.datasets.registry import (
    DatasetSpec,
    from_arrays,
    register_dataset,
    tfds_supervised,
)
from keras_gen.utils.errors import UserError

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


def _idx_load(directory: Path, split: str) -> tf.data.Dataset:
    return from_arrays(*load_idx_arrays(directory, split))


_IDX_LAYOUT = (
    "train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], "
    "t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]"
)


def _register_idx(name: str, **spec) -> None:
    """A 28x28 grey 10-class dataset in the IDX layout, also on TFDS under ``name``."""
    register_dataset(DatasetSpec(name=name, image_shape=(28, 28, 1), num_classes=10, layout=_IDX_LAYOUT,
                                 present=_idx_present, load=_idx_load, tfds_name=name, from_tfds=tfds_supervised,
                                 **spec))


_register_idx("mnist", description="MNIST handwritten digits, 60k/10k, 28x28x1 (LeCun & Cortes, CC BY-SA 3.0)",
              short_layout="the four IDX files (train-images-idx3-ubyte.gz, ...)",
              download_size="about 11 MB to ~/tensorflow_datasets")
_register_idx("fashion_mnist",
              description="Fashion-MNIST (Zalando), 60k/10k, 28x28x1; apt-get install dataset-fashion-mnist",
              short_layout="the four IDX files (apt-get install dataset-fashion-mnist)",
              download_size="about 30 MB to ~/tensorflow_datasets", system_names=("fashion-mnist",))
