"""An export used the way a server uses it: ``tf.saved_model.load`` and its signatures."""


from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_gen.serving import DEFAULT_MAX_BATCH, IMAGE_FORMATS, INT32_MAX, INT32_MIN, METADATA_FILE
from keras_gen.utils.errors import UserError
from keras_gen.utils.latent_paths import (  # noqa: F401 (the two interpolations: re-exported)
    check_steps,
    latent_path,
    linear_interpolation,
    spherical_interpolation,
)


def resolve_export_path(path: str | os.PathLike) -> Path:
    """An export version directory: ``path`` itself, or the newest numbered version under it."""
    path = Path(path)
    if (path / "saved_model.pb").is_file():
        return path
    versions = sorted((int(p.name), p) for p in path.iterdir()
                      if p.is_dir() and re.fullmatch(r"\d+", p.name) and (p / "saved_model.pb").is_file()) \
        if path.is_dir() else []
    if versions:
        return versions[-1][1]
    raise UserError(f"{path} is not an export (no saved_model.pb in it or in a numbered version under it); "
                    "pass saved_models/<model>_<dataset>[/<version>]")


def _integer_array(values, *, what: str, example: str) -> np.ndarray:
    """``values`` as a 1-d int32 array, or a UserError when they are not integers in int32's range."""
    array = np.asarray(values.numpy() if isinstance(values, tf.Tensor) else values)
    if array.ndim == 0:
        array = array.reshape(1)
    if array.dtype.kind not in "iu":
        raise UserError(f"{what} must be integers (int32), got dtype {array.dtype}; pass e.g. {example}")
    if array.ndim != 1 or array.size == 0:
        raise UserError(f"{what} must be a non-empty 1-d batch, got shape {list(array.shape)}; pass e.g. {example}")
    if array.min() < INT32_MIN or array.max() > INT32_MAX:
        raise UserError(f"{what} must fit in int32 ({INT32_MIN}..{INT32_MAX}), got {array.min()}..{array.max()}")
    return array.astype(np.int32)


def seed_batch(seeds) -> np.ndarray:
    """``[B]`` int32 seeds from any integer sequence or array; a UserError for anything else."""
    return _integer_array(seeds, what="seeds", example="np.arange(8, dtype=np.int32)")


class LoadedExport:
    """A keras_gen SavedModel loaded with ``tf.saved_model.load``, plus its ``keras_gen.json``."""

    def __init__(self, path: str | os.PathLike):
        self.path = resolve_export_path(path)
        meta_path = self.path / "assets" / METADATA_FILE
        if not meta_path.is_file():
            raise UserError(f"{self.path} is a SavedModel but not a keras_gen export (no assets/{METADATA_FILE}); "
                            "export it with keras-gen export RUN_DIR")
        self.metadata = json.loads(meta_path.read_text())
        try:
            self.module = tf.saved_model.load(str(self.path))
        except (OSError, ValueError, tf.errors.OpError) as err:
            raise UserError(f"cannot load the SavedModel {self.path}: {str(err).splitlines()[0]}; "
                            "re-export it with keras-gen export RUN_DIR") from None

    @property
    def name(self) -> str:
        return f"{self.metadata['model']}_{self.metadata['dataset']}"

    @property
    def num_classes(self) -> int | None:
        return self.metadata.get("num_classes")

    @property
    def latent_dim(self) -> int:
        return int(self.metadata["latent_dim"])

    def signature(self, name: str):
        if name not in self.module.signatures:
            hint = "; re-export it with keras-gen export RUN_DIR" if name == "latent" else ""
            raise UserError(f"export {self.path} has no {name!r} signature (it has "
                            f"{', '.join(sorted(self.module.signatures))}){hint}")
        return self.module.signatures[name]

    def label_batch(self, labels, batch_size: int) -> np.ndarray | None:
        """``[B]`` int32 labels for a conditional model (default: position % classes), None otherwise."""
        if self.num_classes is None:
            if labels is not None:
                raise UserError(f"model {self.metadata['model']} is not conditional; drop the label")
            return None
        if labels is None:
            return (np.arange(batch_size) % self.num_classes).astype(np.int32)
        array = _integer_array(labels, what="labels", example="np.zeros(8, dtype=np.int32)")
        if array.size == 1:
            array = np.repeat(array, batch_size)
        if array.size != batch_size:
            raise UserError(f"got {array.size} labels for {batch_size} seeds; pass one label, or one per seed")
        bad = array[(array < 0) | (array >= self.num_classes)]
        if bad.size:
            raise UserError(f"label {int(bad[0])} is out of range: model {self.metadata['model']} has "
                            f"{self.num_classes} classes (0..{self.num_classes - 1})")
        return array

    @property
    def max_batch(self) -> int:
        """The export's batch cap (keras_gen.json ``max_batch``; exports before 0.2 had none)."""
        return int(self.metadata.get("max_batch", DEFAULT_MAX_BATCH))

    def _with_labels(self, inputs: dict, labels, batch_size: int) -> dict:
        labels = self.label_batch(labels, batch_size)
        return inputs if labels is None else {**inputs, "label": labels}

    def run(self, signature: str, inputs: dict, output: str) -> np.ndarray:
        """Call ``signature`` on numpy ``inputs`` in chunks of at most :attr:`max_batch`, so any
        batch size works; a request the export refuses becomes a UserError naming the reason."""
        fn = self.signature(signature)
        n = len(next(iter(inputs.values())))
        chunks = []
        for start in range(0, max(n, 1), self.max_batch):
            part = {k: tf.constant(v[start:start + self.max_batch]) for k, v in inputs.items()}
            try:
                chunks.append(fn(**part)[output].numpy())
            except tf.errors.InvalidArgumentError as err:
                reason = next((line.strip() for line in str(err.message).splitlines()
                               if line.strip() and "Graph execution error" not in line), "invalid input")
                raise UserError(f"export {self.path} refused the {signature} request: {reason[:200]}") from None
        return np.concatenate(chunks) if len(chunks) > 1 else chunks[0]

    def sample(self, seeds, labels=None) -> np.ndarray:
        """``[B]`` integer seeds (+ labels) -> ``[B, H, W, C]`` float32 images in [0, 1]."""
        seeds = seed_batch(seeds)
        return self.run("sample", self._with_labels({"seed": seeds}, labels, len(seeds)), "images")

    def latent(self, seeds) -> np.ndarray:
        """``[B]`` integer seeds -> ``[B, latent]``: the latents ``sample`` draws for them."""
        return self.run("latent", {"seed": seed_batch(seeds)}, "z")

    def generate(self, z, labels=None) -> np.ndarray:
        """``[B, latent]`` latents (+ labels) -> ``[B, H, W, C]`` images in [0, 1]."""
        z = np.asarray(z)
        if z.dtype.kind != "f" or z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise UserError(f"latents must be a float array of shape [B, {self.latent_dim}], got "
                            f"{z.dtype} {list(z.shape)}")
        if not np.all(np.isfinite(z)):
            raise UserError("latents hold NaN or infinity; pass finite values")
        return self.run("generate", self._with_labels({"z": z.astype(np.float32)}, labels, len(z)), "images")

    def interpolate(self, from_seed: int, to_seed: int, *, steps: int = 10, label=None,
                    spherical: bool = False) -> np.ndarray:
        """``steps`` images on the path between two seeds' latents: ``[steps, H, W, C]``."""
        try:
            check_steps(steps)  # before the export runs
        except ValueError as err:
            raise UserError(str(err)) from None
        z0, z1 = self.latent([from_seed, to_seed])
        path = latent_path(z0, z1, steps, spherical=spherical)
        labels = None if label is None else [label]
        if self.num_classes is not None and label is None:
            labels = [0]
        return self.generate(path.astype(np.float32), labels)


def load_export(path: str | os.PathLike) -> LoadedExport:
    """Load ``path`` (an export version, or a model directory: its newest version)."""
    return LoadedExport(path)


def write_images(path: str | os.PathLike, images: np.ndarray, *, fmt: str | None = None,
                 rows: int | None = None) -> Path:
    """Write ``[N, H, W, C]`` images: a PNG grid (``rows`` rows; square by default) or the array as
    ``.npy``; ``fmt`` defaults to ``npy`` for a ``.npy`` path and ``png`` otherwise."""
    from keras_gen.utils.fileio import atomic_path
    from keras_gen.utils.images import image_grid, save_png

    path = Path(path)
    fmt = fmt or ("npy" if path.suffix.lower() == ".npy" else "png")
    if fmt not in IMAGE_FORMATS:
        raise UserError(f"unknown image format {fmt!r}; expected one of {', '.join(IMAGE_FORMATS)}")
    try:
        if fmt == "npy":
            with atomic_path(path) as tmp, open(tmp, "wb") as f:
                np.save(f, images.astype(np.float32))
        else:
            save_png(path, image_grid(images, rows=rows))
    except OSError as err:
        raise UserError(f"cannot write {path}: {err.strerror or err}; pass a writable --out") from None
    return path
