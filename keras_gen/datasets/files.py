"""Image files on disk, shared by the file-based formats (CIFAR-10 aside).

File lists are built in Python, files are read and decoded inside ``tf.data`` (parallel map).
A file that is empty or not an image (checked from its first bytes when the list is built) is
skipped with a warning that counts them; a file whose header is valid but whose data is corrupt
is dropped by the pipeline (``ignore_errors`` in ``build_train_set``). Without an official split
a stable 10% of the files, chosen by a hash of their relative path, is the test split.
"""

from __future__ import annotations

import os
import sys
import zlib
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_gen.datasets.pipeline import AUTOTUNE
from keras_gen.utils.errors import UserError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".gif", ".bmp"})
_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")
HOLDOUT_PERCENT = 10  # test split of datasets without an official one
SPLITS = ("train", "validation", "test")



# --------------------------------------------------------------------------- image files
def image_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be a decodable image, judged from its first bytes; None if it may be."""
    try:  # os.open/os.read: twice as fast as open() over CelebA's 202,599 files
        fd = os.open(path, os.O_RDONLY)
        try:
            head = os.read(fd, 8)
        finally:
            os.close(fd)
    except OSError as err:
        return f"cannot read it ({err.strerror or err})"
    if not head:
        return "empty file"
    if not head.startswith(_MAGIC):
        return "not a JPEG, PNG, GIF or BMP image"
    return None


_WARNED: set = set()


def keep_readable(items: list[tuple[str, int]], root: Path, *, expected: str) -> list[tuple[str, int]]:
    """``(relative path, label)`` items whose files look like images; warn about (and count) the rest.

    Raises :class:`UserError` when none is left.
    """
    good, bad = [], []
    base = str(root)
    for rel, label in items:
        problem = image_problem(os.path.join(base, rel))
        if problem is None:
            good.append((rel, label))
        else:
            bad.append(f"{rel}: {problem}")
    if bad and not good:
        raise UserError(f"no decodable image in {root}: all {len(bad)} files fail ({bad[0]}); expected {expected}")
    if not good:
        raise UserError(f"no images to read in {root}; expected {expected}")
    if bad and (str(root), len(bad), len(items)) not in _WARNED:  # once per process, not once per split
        _WARNED.add((str(root), len(bad), len(items)))
        more = f"; and {len(bad) - 3} more" if len(bad) > 3 else ""
        print(f"warning: {root}: skipped {len(bad)} of {len(items)} image files that cannot be decoded "
              f"({'; '.join(bad[:3])}{more})", file=sys.stderr)
    return good


def decode_files(root: Path, items: list[tuple[str, int]], *, channels: int) -> tf.data.Dataset:
    """``(relative path, label)`` -> ``(uint8 [H, W, channels], int32 label)``, decoded in tf.data."""
    paths = [str(root / rel) for rel, _ in items]
    labels = np.fromiter((label for _, label in items), dtype=np.int32, count=len(items))
    ds = tf.data.Dataset.from_tensor_slices((paths, labels))

    def decode(path, label):
        image = tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
        image.set_shape([None, None, channels])  # [H, W, C] uint8, any size
        return image, label

    return ds.map(decode, num_parallel_calls=AUTOTUNE, deterministic=True)


def is_image_name(name: str) -> bool:
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def walk_images(root: Path) -> list[str]:
    """Image files under ``root`` (recursively, hidden entries skipped), as sorted relative paths."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel_dir = os.path.relpath(dirpath, root)
        for name in sorted(filenames):
            if is_image_name(name):
                found.append(name if rel_dir == "." else os.path.join(rel_dir, name))
    return found


def has_image(root: Path) -> bool:
    """Whether any image file lies under ``root`` (stops at the first)."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        if any(is_image_name(name) for name in filenames):
            return True
    return False


def split_items(items: list[tuple[str, int]], split: str) -> list[tuple[str, int]]:
    """A stable hold-out for datasets without an official split: ``HOLDOUT_PERCENT`` of the files
    (by a CRC-32 of their relative path) are "test" (and "validation"), the rest "train". A dataset
    too small to hold any file out uses all of them for both."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    held = [zlib.crc32(rel.encode()) % 100 < HOLDOUT_PERCENT for rel, _ in items]
    train = [item for item, h in zip(items, held) if not h]
    test = [item for item, h in zip(items, held) if h]
    if not train or not test:
        return items
    return train if split == "train" else test
