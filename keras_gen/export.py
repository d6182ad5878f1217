"""SavedModel export in TF Serving's layout: ``<root>/<model>_<dataset>/<version>/``.

Signatures (other tools rely on these names exactly); every image is float32 in [0, 1]:

* ``sample``: ``seed`` int32 [B] (+ ``label`` int32 [B] for conditional models) -> ``images``
  [B, H, W, C], drawn from the model's own prior, the same image for the same seed every time.
  ``serving_default`` is ``sample``.
* ``generate``: ``z`` float32 [B, latent] (+ ``label``) -> ``images``.
* VAEs: ``encode`` (``images`` -> ``z_mean``, ``z_log_var``), ``decode`` (``z`` -> ``images``),
  ``reconstruct`` (``images`` -> ``images``).
* GANs: ``discriminate`` (``images`` -> ``score``, the probability that the image is real).

``assets/keras_gen.json`` records model, dataset, latent_dim, image_shape, num_classes, value
range, steps trained and the package version. The export loads with ``tf.saved_model.load`` in a
process that never imports keras_gen (that is how TF Serving sees it).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import keras
import tensorflow as tf

from keras_gen import __version__
from keras_gen.data import VALUE_RANGES
from keras_gen.fileio import atomic_dir

METADATA_FILE = "keras_gen.json"


def next_version(model_dir: Path) -> int:
    versions = [int(p.name) for p in model_dir.iterdir() if p.is_dir() and re.fullmatch(r"\d+", p.name)] \
        if model_dir.is_dir() else []
    return max(versions, default=0) + 1


def export_name(model_name: str, dataset: str) -> str:
    return f"{model_name}_{dataset}"


def _from_unit(images, value_range):
    """[0, 1] images (what signatures take) -> the model's value range."""
    if value_range == "minus_one_one":
        return images * 2.0 - 1.0
    return images


def build_archive(model) -> keras.export.ExportArchive:
    """An ``ExportArchive`` with every signature ``model`` supports (``sample`` first)."""
    h, w, c = model.image_shape
    seed = tf.TensorSpec([None], tf.int32, name="seed")
    label = tf.TensorSpec([None], tf.int32, name="label")
    z = tf.TensorSpec([None, model.latent_dim], tf.float32, name="z")
    images = tf.TensorSpec([None, h, w, c], tf.float32, name="images")
    value_range = model.value_range

    archive = keras.export.ExportArchive()
    archive.track(model)
    if model.conditional:
        archive.add_endpoint("sample", lambda seed, label: {"images": model.sample(seed, label)},
                             input_signature=[seed, label])
        archive.add_endpoint("generate", lambda z, label: {"images": model.generate_unit(z, label)},
                             input_signature=[z, label])
    else:
        archive.add_endpoint("sample", lambda seed: {"images": model.sample(seed)}, input_signature=[seed])
        archive.add_endpoint("generate", lambda z: {"images": model.generate_unit(z)}, input_signature=[z])

    if model.family == "vae":
        if model.conditional:
            def encode(images, label):
                z_mean, z_log_var = model.encode(images, label)
                return {"z_mean": z_mean, "z_log_var": z_log_var}

            archive.add_endpoint("encode", encode, input_signature=[images, label])
            archive.add_endpoint("decode", lambda z, label: {"images": model.generate_unit(z, label)},
                                 input_signature=[z, label])
            archive.add_endpoint("reconstruct", lambda images, label: {"images": model.reconstruct(images, label)},
                                 input_signature=[images, label])
        else:
            def encode(images):
                z_mean, z_log_var = model.encode(images)
                return {"z_mean": z_mean, "z_log_var": z_log_var}

            archive.add_endpoint("encode", encode, input_signature=[images])
            archive.add_endpoint("decode", lambda z: {"images": model.generate_unit(z)}, input_signature=[z])
            archive.add_endpoint("reconstruct", lambda images: {"images": model.reconstruct(images)},
                                 input_signature=[images])
    else:
        if model.conditional:
            archive.add_endpoint(
                "discriminate",
                lambda images, label: {"score": model.score(_from_unit(images, value_range), label)},
                input_signature=[images, label])
        else:
            archive.add_endpoint("discriminate",
                                 lambda images: {"score": model.score(_from_unit(images, value_range))},
                                 input_signature=[images])
    return archive


def metadata(model, *, model_name: str, dataset: str, steps: int, extra: dict | None = None) -> dict:
    return {
        "model": model_name,
        "family": model.family,
        "dataset": dataset,
        "latent_dim": model.latent_dim,
        "image_shape": list(model.image_shape),
        "num_classes": model.num_classes,
        "value_range": list(VALUE_RANGES[model.value_range]),
        "output_range": [0.0, 1.0],
        "steps_trained": int(steps),
        "keras_gen_version": __version__,
        "signatures": sorted(_signature_names(model)),
        **(extra or {}),
    }


def _signature_names(model):
    names = {"sample", "generate", "serving_default"}
    names |= {"encode", "decode", "reconstruct"} if model.family == "vae" else {"discriminate"}
    return names


def export_model(model, root: str | os.PathLike, *, model_name: str, dataset: str, steps: int,
                 extra_metadata: dict | None = None) -> Path:
    """Write the next version of ``<root>/<model>_<dataset>/`` atomically; return its path."""
    model_dir = Path(root) / export_name(model_name, dataset)
    model_dir.mkdir(parents=True, exist_ok=True)
    target = model_dir / str(next_version(model_dir))
    archive = build_archive(model)
    with atomic_dir(target) as tmp:
        archive.write_out(str(tmp), verbose=False)
        (tmp / "assets").mkdir(exist_ok=True)
        info = metadata(model, model_name=model_name, dataset=dataset, steps=steps, extra=extra_metadata)
        (tmp / "assets" / METADATA_FILE).write_text(json.dumps(info, indent=2) + "\n")
    return target


def read_metadata(export_path: str | os.PathLike) -> dict:
    return json.loads((Path(export_path) / "assets" / METADATA_FILE).read_text())

