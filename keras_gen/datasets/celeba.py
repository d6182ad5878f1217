"""CelebA aligned and cropped (Liu et al. 2015, "Deep Learning Face Attributes in the Wild"):
``img_align_celeba/NNNNNN.jpg`` (178x218), ``list_eval_partition.txt`` (0 train, 1 validation,
2 test) and ``list_attr_celeba.txt`` (40 attributes, 1 / -1). ``--attribute Male`` makes an
attribute the class label (1 -> 1, -1 -> 0), as Dietrich's conditional VAE (report 003, Fig.
5c-d); TFDS ``celeb_a`` is the fall-back. Ponnuru (report 000) trained on about 1,000 images and
Junnuthula (report 002) on 10,000 at 128x128: ``--limit N``. Without ``list_eval_partition.txt``
a stable 10% of the files is the test split.
"""

from __future__ import annotations

import difflib
import os
import sys
from pathlib import Path

import tensorflow as tf

from keras_gen.datasets.files import decode_files, keep_readable, split_items
from keras_gen.datasets.registry import AUTOTUNE, DatasetSpec, register_dataset
from keras_gen.utils.errors import UserError

# --------------------------------------------------------------------------- CelebA
CELEBA_LAYOUT = ("img_align_celeba/NNNNNN.jpg (or Img/img_align_celeba/), optional list_eval_partition.txt "
                 "and list_attr_celeba.txt (beside it, or in Eval/ and Anno/)")


def _celeba_images_dir(directory: Path) -> Path | None:
    for candidate in (directory / "img_align_celeba", directory / "Img" / "img_align_celeba"):
        if (candidate / "img_align_celeba").is_dir():  # Kaggle's archive nests a second folder
            candidate = candidate / "img_align_celeba"
        if candidate.is_dir():
            with os.scandir(candidate) as entries:
                if any(e.name.lower().endswith(".jpg") for e in entries):
                    return candidate
    return None


def _celeba_annotation(directory: Path, stem: str) -> Path | None:
    for folder in (directory, directory / "Anno", directory / "Eval"):
        for ext in (".txt", ".csv"):  # the official text files, or Kaggle's CSV versions
            if (folder / (stem + ext)).is_file():
                return folder / (stem + ext)
    return None


def celeba_present(directory: Path) -> bool:
    return _celeba_images_dir(directory) is not None


def _annotation_rows(path: Path):
    """(line number, fields) of a CelebA annotation file, text (whitespace) or CSV."""
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"cannot read {path}: {err}") from None
    csv = path.suffix == ".csv"
    for number, line in enumerate(lines, 1):
        if line.strip():
            yield number, (line.strip().split(",") if csv else line.split())


def read_celeba_partition(path: Path) -> dict[str, int]:
    """``list_eval_partition.txt``: image name -> 0 (train), 1 (validation) or 2 (test)."""
    parts = {}
    for number, fields in _annotation_rows(path):
        if path.suffix == ".csv" and number == 1:
            continue  # header "image_id,partition"
        if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
            raise UserError(f"{path}: line {number} is {' '.join(fields)[:60]!r}; expected 'NNNNNN.jpg P' with "
                            "P 0 (train), 1 (validation) or 2 (test)")
        parts[fields[0]] = int(fields[1])
    return parts


def read_celeba_attribute(path: Path, attribute: str) -> dict[str, int]:
    """One column of ``list_attr_celeba.txt``: image name -> 1 (attribute present) or 0 (-1 in the file).

    The text file opens with the image count and a line of the 40 attribute names; Kaggle's CSV
    with a header ``image_id,<names>``.
    """
    rows = _annotation_rows(path)
    names = None
    for number, fields in rows:
        if path.suffix == ".csv":
            names = fields[1:]
            break
        if number == 1 and len(fields) == 1 and fields[0].isdigit():
            continue  # the image count
        names = fields
        break
    if not names:
        raise UserError(f"{path} has no attribute names line; expected the official list_attr_celeba.txt")
    if attribute not in names:
        close = difflib.get_close_matches(attribute, names, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise UserError(f"--attribute {attribute!r} is not a column of {path}; {hint}columns: {', '.join(names)}")
    column = names.index(attribute) + 1
    values = {}
    for number, fields in rows:
        if len(fields) != len(names) + 1 or fields[column] not in ("1", "-1", "0"):
            raise UserError(f"{path}: line {number} has {len(fields)} fields ({' '.join(fields)[:40]!r}...); "
                            f"expected an image name and {len(names)} values 1 or -1")
        values[fields[0]] = 1 if fields[column] == "1" else 0
    return values


def _warn_unlisted(names: list[str], listed, what: Path) -> list[str]:
    kept = [n for n in names if n in listed]
    if len(kept) < len(names):
        missing = [n for n in names if n not in listed]
        print(f"warning: skipped {len(missing)} images not listed in {what} ({', '.join(missing[:3])}"
              f"{', ...' if len(missing) > 3 else ''})", file=sys.stderr)
    return kept


def celeba_load(directory: Path, split: str, *, attribute: str | None = None) -> tf.data.Dataset:
    images_dir = _celeba_images_dir(directory)
    if images_dir is None:
        raise UserError(f"{directory} holds no CelebA images; expected {CELEBA_LAYOUT}")
    with os.scandir(images_dir) as entries:
        names = sorted(e.name for e in entries if e.name.lower().endswith(".jpg"))
    partition_path = _celeba_annotation(directory, "list_eval_partition")
    if partition_path is not None:
        parts = read_celeba_partition(partition_path)
        wanted = {"train": 0, "validation": 1, "test": 2}[split]
        names = [n for n in _warn_unlisted(names, parts, partition_path) if parts[n] == wanted]
        if not names:
            raise UserError(f"no {split} images of {partition_path} are in {images_dir}; extract all of "
                            "img_align_celeba.zip, or remove list_eval_partition.txt to split by hash")
    if attribute is not None:
        attr_path = _celeba_annotation(directory, "list_attr_celeba")
        if attr_path is None:
            raise UserError(f"--attribute {attribute} needs list_attr_celeba.txt in {directory} (or its Anno/); "
                            "download it from the CelebA page")
        values = read_celeba_attribute(attr_path, attribute)
        items = [(n, values[n]) for n in _warn_unlisted(names, values, attr_path)]
    else:
        items = [(n, -1) for n in names]
    if partition_path is None:
        items = split_items(items, split)
    items = keep_readable(items, images_dir, expected=CELEBA_LAYOUT)
    return decode_files(images_dir, items, channels=3)


def celeba_tfds_load(split: str, *, attribute: str | None = None) -> tf.data.Dataset:
    """TFDS ``celeb_a`` (features ``image`` uint8 [218, 178, 3] and ``attributes``) -> (image, label)."""
    import tensorflow_datasets as tfds

    ds = tfds.load("celeb_a", split=split, shuffle_files=False)
    if attribute is not None and attribute not in ds.element_spec["attributes"]:
        names = sorted(ds.element_spec["attributes"])
        raise UserError(f"--attribute {attribute!r} is not a CelebA attribute; attributes: {', '.join(names)}")

    def to_pair(features):
        label = tf.cast(features["attributes"][attribute], tf.int32) if attribute else tf.constant(-1, tf.int32)
        return tf.cast(features["image"], tf.uint8), label

    return ds.map(to_pair, num_parallel_calls=AUTOTUNE)


register_dataset(
    DatasetSpec(
        name="celeba",
        image_shape=(218, 178, 3),
        num_classes=None,
        description="CelebA aligned and cropped (Liu et al. 2015), 162,770/19,867/19,962 faces, 218x178x3",
        layout=CELEBA_LAYOUT,
        present=celeba_present,
        load=celeba_load,
        tfds_name="celeb_a",
        short_layout="img_align_celeba/NNNNNN.jpg (with list_eval_partition.txt, list_attr_celeba.txt)",
        download_size="about 1.4 GB to ~/tensorflow_datasets",
        system_names=("CelebA", "celeb_a"),
        options=("attribute",),
        tfds_load=celeba_tfds_load,
        classes=lambda directory, options: 2 if options.get("attribute") else None,
        classes_note="2 with --attribute",
        how_to_get="put img_align_celeba/, list_eval_partition.txt and list_attr_celeba.txt from "
                   "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html in data/celeba, or let TFDS 'celeb_a' "
                   "download it",
    )
)
