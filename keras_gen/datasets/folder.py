"""Any directory of JPEG/PNG/GIF/BMP images. Two or more sub-directories holding images (and no
images beside them) are classes, labelled in sorted name order. A stable 10% of the files is the
test split.
"""

from __future__ import annotations

import os
from pathlib import Path

import tensorflow as tf

from keras_gen.datasets.files import (
    decode_files,
    has_image,
    is_image_name,
    keep_readable,
    split_items,
    walk_images,
)
from keras_gen.datasets.registry import DatasetSpec, register_dataset
from keras_gen.utils.errors import UserError

# --------------------------------------------------------------------------- any folder
FOLDER_LAYOUT = ("a directory of .jpg/.jpeg/.png/.gif/.bmp images, or of two or more sub-directories of "
                 "images, one per class")


def folder_class_names(directory: Path) -> list[str] | None:
    """Class names (sorted sub-directories holding images), or None when the folder is unlabelled."""
    with os.scandir(directory) as it:
        entries = sorted(it, key=lambda e: e.name)
    if any(e.is_file() and is_image_name(e.name) for e in entries):
        return None
    names = [e.name for e in entries if e.is_dir() and not e.name.startswith(".") and has_image(Path(e.path))]
    return names if len(names) >= 2 else None


def folder_load(directory: Path, split: str) -> tf.data.Dataset:
    classes = folder_class_names(directory)
    if classes:
        items = [(os.path.join(name, rel), label) for label, name in enumerate(classes)
                 for rel in walk_images(directory / name)]
    else:
        items = [(rel, -1) for rel in walk_images(directory)]
    if not items:
        raise UserError(f"{directory} holds no images; expected {FOLDER_LAYOUT}")
    # Checked before the split, so the warning counts every file of the folder, once.
    items = split_items(keep_readable(items, directory, expected=FOLDER_LAYOUT), split)
    return decode_files(directory, items, channels=folder_channels(directory))


SNIFF = 16  # images decoded to tell a grayscale folder from a colour one


def folder_channels(directory: Path | None, options: dict | None = None) -> int:
    """1 when the folder's images are grayscale (the first :data:`SNIFF` of them, in file order:
    a folder of grayscale PNGs trains as 1-channel images, as MNIST does), else 3."""
    if directory is None:
        return 3
    rels = walk_images(directory)[:SNIFF]
    channels = []
    for rel in rels:
        try:
            image = tf.io.decode_image(tf.io.read_file(str(directory / rel)), expand_animations=False)
        except (tf.errors.OpError, ValueError):
            continue
        channels.append(int(image.shape[-1]))
    return 1 if channels and all(c in (1, 2) for c in channels) else 3


def folder_classes(directory: Path | None, options: dict) -> int | None:
    classes = folder_class_names(directory) if directory is not None else None
    return len(classes) if classes else None


register_dataset(
    DatasetSpec(
        name="folder",
        image_shape=(None, None, 3),
        num_classes=None,
        description="any directory of images; two or more sub-directories = classes (sorted names)",
        layout=FOLDER_LAYOUT,
        present=has_image,
        load=folder_load,
        classes=folder_classes,
        channels=folder_channels,
        classes_note="one per sub-directory",
        short_layout="images (or one sub-directory of images per class)",
        how_to_get="pass --data-dir DIR (a directory of images, optionally one sub-directory per class)",
    )
)
