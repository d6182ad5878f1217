"""CIFAR-10 in its "python version" (Krizhevsky 2009, "Learning Multiple Layers of Features from
Tiny Images"): ``cifar-10-batches-py/data_batch_1..5`` and ``test_batch``, pickled dicts with
``b"data"`` uint8 [N, 3072] (1024 red, 1024 green, 1024 blue values, rows of 32) and
``b"labels"``, read with an unpickler that builds nothing but arrays. TFDS ``cifar10`` is the
fall-back. Used by Dietrich et al. (report 003).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_gen.datasets.registry import DatasetSpec, register_dataset, tfds_supervised
from keras_gen.utils.errors import UserError

# --------------------------------------------------------------------------- CIFAR-10
CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST = ("test_batch",)
CIFAR10_LAYOUT = ("cifar-10-batches-py/ with data_batch_1..data_batch_5, test_batch and batches.meta (the "
                  "'CIFAR-10 python version', cifar-10-python.tar.gz)")
CIFAR10_BATCH = "a pickled dict with b'data' uint8 [N, 3072] and b'labels' (N ints 0-9)"


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, bytes and numpy arrays only: a batch file cannot run code."""

    ALLOWED = frozenset({
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    })

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"it references {module}.{name}, which a CIFAR-10 batch never does")


def _cifar_dir(directory: Path) -> Path:
    return directory if (directory / CIFAR10_TRAIN[0]).is_file() else directory / "cifar-10-batches-py"


def cifar10_present(directory: Path) -> bool:
    batches = _cifar_dir(directory)
    return all((batches / name).is_file() for name in CIFAR10_TRAIN + CIFAR10_TEST)


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch -> uint8 [N, 32, 32, 3] (channel-last) and int32 [N]."""
    fix = "download cifar-10-python.tar.gz again"
    try:
        with open(path, "rb") as f:
            batch = _ArraysOnlyUnpickler(f, encoding="bytes").load()
    except OSError as err:
        raise UserError(f"cannot read {path}: {err.strerror or err}") from None
    except Exception as err:  # truncated or foreign pickles raise many types
        raise UserError(f"{path} is not a readable CIFAR-10 python batch ({type(err).__name__}: {err}); "
                        f"expected {CIFAR10_BATCH}; {fix}") from None
    if not isinstance(batch, dict):
        raise UserError(f"{path} holds a {type(batch).__name__}, not {CIFAR10_BATCH}; {fix}")
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if data is None or labels is None:
        raise UserError(f"{path} lacks b'data' or b'labels' (keys: {sorted(map(str, batch))}); "
                        f"expected {CIFAR10_BATCH}; {fix}")
    data, labels = np.asarray(data), np.asarray(labels)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or labels.shape != (len(data),):
        raise UserError(f"{path}: b'data' is {data.dtype} {list(data.shape)} with {labels.size} labels; "
                        f"expected {CIFAR10_BATCH}; {fix}")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise UserError(f"{path}: labels span {labels.min()}..{labels.max()}, expected 0..9; {fix}")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # [N, 3, 32, 32] -> [N, 32, 32, 3]
    return np.ascontiguousarray(images), labels.astype(np.int32)


def cifar10_load(directory: Path, split: str) -> tf.data.Dataset:
    names = CIFAR10_TRAIN if split == "train" else CIFAR10_TEST
    batches = [read_cifar_batch(_cifar_dir(directory) / name) for name in names]
    images = np.concatenate([b[0] for b in batches])  # [N, 32, 32, 3]
    labels = np.concatenate([b[1] for b in batches])  # [N]
    return tf.data.Dataset.from_tensor_slices((images, labels))


register_dataset(
    DatasetSpec(
        name="cifar10",
        image_shape=(32, 32, 3),
        num_classes=10,
        description="CIFAR-10 (Krizhevsky 2009), 50k/10k, 32x32x3, 10 classes",
        layout=CIFAR10_LAYOUT,
        present=cifar10_present,
        load=cifar10_load,
        tfds_name="cifar10",
        short_layout="cifar-10-batches-py/ (cifar-10-python.tar.gz extracted)",
        download_size="about 170 MB to ~/tensorflow_datasets",
        from_tfds=tfds_supervised,
        system_names=("cifar-10-batches-py", "cifar-10"),
        how_to_get="extract cifar-10-python.tar.gz (https://www.cs.toronto.edu/~kriz/cifar.html) into "
                   "data/cifar10, or let TFDS 'cifar10' download it",
    )
)
