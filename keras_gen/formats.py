"""Image datasets in their official on-disk formats: CIFAR-10, CelebA, Char74K and any folder.

Importing this module registers them with :mod:`keras_gen.data` (``data.py`` imports it last).
Each yields the registry's element structure, ``(uint8 image [H, W, C], int32 label)``, with
label ``-1`` where there are no classes; :func:`keras_gen.data.build_train_set` fits images to
the model's size (centre crop, antialiased resize), caches and batches them.

* ``cifar10``: the "CIFAR-10 python version" (Krizhevsky 2009, "Learning Multiple Layers of
  Features from Tiny Images"): ``cifar-10-batches-py/data_batch_1..5`` and ``test_batch``,
  pickled dicts with ``b"data"`` uint8 [N, 3072] (1024 red, 1024 green, 1024 blue values, rows
  of 32) and ``b"labels"``; TFDS ``cifar10`` as the fall-back. Used by Dietrich (report 003).
* ``celeba``: the aligned-and-cropped CelebA (Liu et al. 2015, "Deep Learning Face Attributes in
  the Wild"): ``img_align_celeba/NNNNNN.jpg`` (178x218), ``list_eval_partition.txt`` (0 train,
  1 validation, 2 test) and ``list_attr_celeba.txt`` (40 attributes, 1 / -1); ``--attribute
  Male`` makes an attribute the class label (1 -> 1, -1 -> 0), as Dietrich's conditional VAE
  (report 003, Fig. 5c-d); TFDS ``celeb_a`` as the fall-back. Ponnuru (report 000) trained on
  about 1,000 images and Junnuthula (report 002) on 10,000 at 128x128: ``--limit N``.
* ``char74k``: the English Chars74K (de Campos, Babu & Varma 2009, "Character Recognition in
  Natural Images"): ``English/Fnt/SampleNNN/*.png`` (computer fonts), ``English/Hnd/Img/...``
  (handwritten) and ``English/Img/GoodImg/Bmp/...`` (natural images), ``--subset fnt|hnd|img``;
  Sample001..062 are the 62 classes 0-9, A-Z, a-z; read as grayscale. Used by Dietrich.
* ``folder``: any directory of JPEG/PNG/GIF/BMP images; two or more sub-directories holding
  images (and no images beside them) are classes, labelled in sorted name order.

File lists are built in Python, files are read and decoded inside ``tf.data`` (parallel map).
A file that is empty or not an image (checked from its first bytes when the list is built) is
skipped with a warning that counts them; a file whose header is valid but whose data is
corrupt is dropped by the pipeline (``ignore_errors`` in ``build_train_set``). Without an
official split (Char74K, a folder, CelebA without ``list_eval_partition.txt``) a stable 10% of
the files, chosen by a hash of their relative path, is the test split.
"""

from __future__ import annotations

import difflib
import os
import pickle
import re
import sys
import zlib
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_gen.data import AUTOTUNE, DatasetSpec, _tfds_supervised, register_dataset
from keras_gen.errors import UserError

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
    if bad:
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


def _is_image_name(name: str) -> bool:
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def walk_images(root: Path) -> list[str]:
    """Image files under ``root`` (recursively, hidden entries skipped), as sorted relative paths."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel_dir = os.path.relpath(dirpath, root)
        for name in sorted(filenames):
            if _is_image_name(name):
                found.append(name if rel_dir == "." else os.path.join(rel_dir, name))
    return found


def has_image(root: Path) -> bool:
    """Whether any image file lies under ``root`` (stops at the first)."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        if any(_is_image_name(name) for name in filenames):
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


# --------------------------------------------------------------------------- Char74K
CHAR74K_CLASSES = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"  # Sample001 = '0'
CHAR74K_SUBSETS = {  # folders tried in order: the official archives', then the flat layout
    "fnt": ("Fnt",),
    "hnd": ("Hnd/Img", "Hnd"),
    "img": ("Img/GoodImg/Bmp", "Img"),
}
CHAR74K_LAYOUT = ("English/Fnt/SampleNNN/*.png (EnglishFnt.tgz), English/Hnd/Img/SampleNNN/*.png (EnglishHnd.tgz) "
                  "or English/Img/GoodImg/Bmp/SampleNNN/*.png (EnglishImg.tgz), NNN 001-062")
_SAMPLE = re.compile(r"Sample(\d{3})$")


def _char74k_english(directory: Path) -> Path:
    return directory / "English" if (directory / "English").is_dir() else directory


def _sample_dirs(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(e for e in root.iterdir() if e.is_dir() and _SAMPLE.match(e.name))


def _char74k_root(directory: Path, subset: str) -> Path | None:
    english = _char74k_english(directory)
    for rel in CHAR74K_SUBSETS[subset]:
        if _sample_dirs(english / rel):
            return english / rel
    return None


def char74k_present(directory: Path) -> bool:
    return any(_char74k_root(directory, subset) is not None for subset in CHAR74K_SUBSETS)


def char74k_load(directory: Path, split: str, *, subset: str | None = None) -> tf.data.Dataset:
    subset = (subset or "fnt").lower()
    if subset not in CHAR74K_SUBSETS:
        raise UserError(f"--subset must be one of {', '.join(CHAR74K_SUBSETS)} for char74k, got {subset!r}")
    root = _char74k_root(directory, subset)
    if root is None:
        found = [s for s in CHAR74K_SUBSETS if _char74k_root(directory, s) is not None]
        hint = f"; it has {', '.join(found)}: pass --subset {found[0]}" if found else ""
        raise UserError(f"{directory} has no Char74K {subset} images; expected {CHAR74K_LAYOUT}{hint}")
    items = []
    for sample in _sample_dirs(root):
        number = int(_SAMPLE.match(sample.name).group(1))
        if not 1 <= number <= len(CHAR74K_CLASSES):
            raise UserError(f"{sample} is not one of the 62 English classes; expected {CHAR74K_LAYOUT}")
        items += [(f"{sample.name}/{rel}", number - 1) for rel in walk_images(sample)]
    if not items:
        raise UserError(f"{root} has Sample folders but no images; expected {CHAR74K_LAYOUT}")
    items = keep_readable(split_items(items, split), root, expected=CHAR74K_LAYOUT)
    return decode_files(root, items, channels=1)


# --------------------------------------------------------------------------- any folder
FOLDER_LAYOUT = ("a directory of .jpg/.jpeg/.png/.gif/.bmp images, or of two or more sub-directories of "
                 "images, one per class")


def folder_class_names(directory: Path) -> list[str] | None:
    """Class names (sorted sub-directories holding images), or None when the folder is unlabelled."""
    with os.scandir(directory) as it:
        entries = sorted(it, key=lambda e: e.name)
    if any(e.is_file() and _is_image_name(e.name) for e in entries):
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
    items = keep_readable(split_items(items, split), directory, expected=FOLDER_LAYOUT)
    return decode_files(directory, items, channels=3)


def folder_classes(directory: Path | None, options: dict) -> int | None:
    classes = folder_class_names(directory) if directory is not None else None
    return len(classes) if classes else None


# --------------------------------------------------------------------------- registry
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
        from_tfds=_tfds_supervised,
        system_names=("cifar-10-batches-py", "cifar-10"),
        how_to_get="extract cifar-10-python.tar.gz (https://www.cs.toronto.edu/~kriz/cifar.html) into "
                   "data/cifar10, or let TFDS 'cifar10' download it",
    )
)
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
register_dataset(
    DatasetSpec(
        name="char74k",
        image_shape=(None, None, 1),
        num_classes=len(CHAR74K_CLASSES),
        description="Chars74K English (de Campos et al. 2009): 62 classes 0-9 A-Z a-z; --subset fnt|hnd|img",
        layout=CHAR74K_LAYOUT,
        present=char74k_present,
        load=char74k_load,
        system_names=("chars74k", "Char74K"),
        options=("subset",),
        how_to_get="extract EnglishFnt.tgz (EnglishHnd.tgz, EnglishImg.tgz) from "
                   "https://www.ee.surrey.ac.uk/CVSSP/demos/chars74k/ into data/char74k",
    )
)
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
        classes_note="one per sub-directory",
        how_to_get="pass --data-dir DIR (a directory of images, optionally one sub-directory per class)",
    )
)
