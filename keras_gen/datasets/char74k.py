"""The English Chars74K (de Campos, Babu & Varma 2009, "Character Recognition in Natural
Images"): ``English/Fnt/SampleNNN/*.png`` (computer fonts), ``English/Hnd/Img/...`` (handwritten)
and ``English/Img/GoodImg/Bmp/...`` (natural images), chosen with ``--subset fnt|hnd|img``;
Sample001..062 are the 62 classes 0-9, A-Z, a-z; read as grayscale. Used by Dietrich et al.
(report 003). A stable 10% of the files is the test split.
"""

from __future__ import annotations

import re
from pathlib import Path

import tensorflow as tf

from keras_gen.datasets.files import (
    decode_files,
    keep_readable,
    split_items,
    walk_images,
)
from keras_gen.datasets.registry import DatasetSpec, register_dataset
from keras_gen.utils.errors import UserError

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
        short_layout="English/Fnt/SampleNNN/*.png (EnglishFnt.tgz extracted)",
        how_to_get="extract EnglishFnt.tgz (EnglishHnd.tgz, EnglishImg.tgz) from "
                   "https://www.ee.surrey.ac.uk/CVSSP/demos/chars74k/ into data/char74k",
    )
)
