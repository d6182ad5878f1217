"""The Python API: the zoo as Keras models, from a notebook to a TF Serving export (docs/api.md).

Importing ``keras_gen`` stays light; each name here imports TensorFlow when first used::

    import keras_gen
    model = keras_gen.build("vae_mlp_2d", latent_dim=16)  # the report's network and optimizer
    images, labels = keras_gen.load_images("mnist")       # uint8 [60000, 28, 28, 1], int [60000]
    model.fit(images[:2048], epochs=1, batch_size=64)     # uint8 or [0, 1] arrays, scaled as the model needs
    samples = model.sample([0, 1, 2, 3])                  # [4, 28, 28, 1] in [0, 1], one image per seed
    keras_gen.export_model(model, "saved_models", name="my_vae", dataset="mnist")

A model is a ``keras.Model`` of its family (``keras_gen.families``: GAN, WGAN, ACGAN, ACWGAN, VAE):
``summary()``, ``fit`` on a ``tf.data.Dataset``, ``save`` and ``keras.saving.load_model`` work as
in Keras.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["build", "export_model", "list_models", "load_images"]


def list_models() -> list[str]:
    """The zoo's model names (``python train.py --list-models`` describes each)."""
    import models_zoo

    return models_zoo.names()


def build(name: str, *, compile: bool = True, learning_rate: float | None = None, **overrides):
    """Zoo model ``name`` with its report's architecture, compiled with its report's optimizers
    (``compile=False``: uncompiled; ``learning_rate``: another rate for every optimizer).
    ``overrides`` are the builder's keyword arguments: ``latent_dim``, ``image_shape``,
    ``num_classes`` (conditional models, default the dataset's) and the model's own options."""
    import models_zoo
    from keras_gen.config import resolve_config
    from keras_gen.training.build import compile_model

    entry = models_zoo.get(name)
    if entry.conditional and "num_classes" not in overrides:
        from keras_gen.datasets import get_dataset_spec

        overrides["num_classes"] = get_dataset_spec(entry.dataset).num_classes
    model = entry.build(**overrides)
    if compile:
        compile_model(model, resolve_config(name, learning_rate=learning_rate))
    return model


def load_images(dataset: str = "mnist", split: str = "train", *, data_dir: str | os.PathLike | None = None,
                limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 [N, H, W, C], labels [N])`` of a dataset's split, found as ``train.py`` finds
    it (``--data-dir``, ``$KERAS_GEN_DATA``, the repository's ``data/``, system locations); never
    downloads. ``limit``: the first N."""
    from keras_gen.datasets import find_source

    source = find_source(dataset, data_dir)
    ds = source.load(split)
    if limit is not None:
        ds = ds.take(limit)
    if None in ds.element_spec[0].shape:
        raise ValueError(f"{dataset} holds images of different sizes; train on it with train.py, or load it with "
                         "keras_gen.datasets.find_source and build_train_set")
    images, labels = [], []
    for x, y in ds.batch(4096).as_numpy_iterator():
        images.append(x)
        labels.append(y)
    return np.concatenate(images), np.concatenate(labels)


def export_model(model, root: str | os.PathLike = "saved_models", *, name: str, dataset: str,
           fmt: str = "saved_model") -> Path:
    """Export ``model`` as the next version of ``<root>/<name>_<dataset>/`` (TF Serving's layout,
    with the signatures ``train.py``'s exports have: sample, generate, latent, and encode/decode for
    VAEs), or as TFLite/ONNX (``fmt``) under ``<root>/<fmt>/``; return the written directory."""
    from keras_gen.export.from_run import export_object

    return export_object(model, root, name=name, dataset=dataset, fmt=fmt, out=lambda *a: None)
