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

__all__ = ["build", "evaluate", "export_model", "fid", "list_models", "load_export", "load_images", "publish"]


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
                 fmt: str = "saved_model", publish: str = "auto") -> Path:
    """Export ``model`` as the next version of ``<root>/<name>_<dataset>/`` (TF Serving's layout,
    with the signatures ``train.py``'s exports have: sample, generate, latent, and encode/decode for
    VAEs), or as TFLite/ONNX (``fmt``) under ``<root>/<fmt>/``; return the written directory.
    ``publish``: serve the new version if it measures at least as well as the served one (auto),
    always, or never; ``<root>/publishing.json`` records why (see :func:`publish`)."""
    from keras_gen.export.from_run import export_object

    return export_object(model, root, name=name, dataset=dataset, fmt=fmt, publish=publish, out=lambda *a: None)


def publish(model_dir: str | os.PathLike, version: int | None = None):
    """Serve ``version`` (default: the newest) of an exported model, ``<root>/<name>_<dataset>``:
    rewrites ``<root>/models.config`` and ``publishing.json``. Returns the decision (``.published``,
    ``.served``, ``.reason``)."""
    from keras_gen.export.publish import publish as publish_version

    return publish_version(model_dir, version)


def fid(a, b, *, num_images: int | None = None, kid: bool = False, prdc: bool = False,
        convention: str = "pytorch-fid", data_dir: str | os.PathLike | None = None, seed: int = 0) -> dict:
    """The standard FID of two image sets (the 2015 Inception network; pytorch-fid's figures), as
    ``keras-gen fid A B --json`` computes it. Each side is a NumPy array of images (``[N, H, W]``,
    ``[N, H, W, C]`` or ``[N, C, H, W]``; uint8 or floats in [0, 1]), a keras_gen model object
    (``num_images`` samples of seeds 0, 1, ..., default 10,000), or what the command takes: an image
    folder, a ``.npy``/``.npz``, a statistics ``.npz``, ``"mnist:test"``, a run or export directory.
    ``kid`` adds KID, ``prdc`` precision/recall and density/coverage. Returns a dict: ``fid`` (and
    ``kid``, ``kid_std``, ``precision``, ...), and per side ``a``/``b`` its image count and notes."""
    from keras_gen.evaluation import fid as fid_lib
    from keras_gen.evaluation.extractors import fid_inception_evaluator

    evaluator = fid_inception_evaluator(convention=convention)

    def side(x, name: str):
        if isinstance(x, (str, os.PathLike)):
            return fid_lib.feature_set(str(x), evaluator, num_images=num_images, seed=seed, data_dir=data_dir)
        count = None
        if hasattr(x, "sample") and hasattr(x, "latent_dim"):  # a generative model: its samples
            count = num_images or fid_lib.DEFAULT_MODEL_SAMPLES
            x = np.concatenate([np.asarray(x.sample(np.arange(i, min(i + fid_lib.CHUNK, count), dtype=np.int32)))
                                for i in range(0, count, fid_lib.CHUNK)])
        images, notes = fid_lib.image_array(np.asarray(x), f"array {name}")
        return fid_lib.array_feature_set(images, notes, evaluator, label=f"array {name}",
                                         num_images=None if count else num_images, seed=seed)

    return fid_lib.compare(side(a, "a"), side(b, "b"), evaluator, fid_lib.FidOptions(kid=kid, prdc=prdc, seed=seed))


def evaluate(subject, *, dataset: str | None = None, name: str | None = None, out: str | os.PathLike | None = None,
             data_dir: str | os.PathLike | None = None, log=None, **settings) -> dict:
    """Every figure of ``keras-gen evaluate`` for ``subject``: a keras_gen model object (``dataset``
    names the data it learned; ``name`` labels it, default its class), or a run or export directory.
    ``settings`` are :class:`keras_gen.evaluation.settings.EvalSettings` fields: ``samples``
    (10,000), ``extractor`` (``"domain"``, the dataset's classifier, trained and cached on first
    use; ``"fid-inception"``, the standard FID network), ``fid_images``, ``likelihood_images``, ...
    Returns the ``metrics.json`` contents (``result["metrics"]["fid"]["value"]``); ``out`` also
    writes it there with the sample grid, as the command does."""
    from keras_gen.evaluation.evaluate import ModelSubject, open_subject, write_evaluation
    from keras_gen.evaluation.evaluate import evaluate as run_evaluation
    from keras_gen.evaluation.settings import EvalSettings

    if isinstance(subject, (str, os.PathLike)):
        opened = open_subject(subject)
    else:
        if dataset is None:
            raise ValueError("evaluating a model object needs dataset= (the data it learned, e.g. 'mnist')")
        opened = ModelSubject(subject, name=name or type(subject).__name__.lower(), dataset=dataset)
    result, grid = run_evaluation(opened, EvalSettings(**settings), data_dir=data_dir, log=log or (lambda line: None))
    if out is not None:
        write_evaluation(Path(out), result, grid)
    return result


def load_export(path: str | os.PathLike):
    """An export run through its signatures, without the model's code: a SavedModel version (or a
    model directory: its newest), or its TFLite or ONNX conversion. The result's ``sample(seeds)``,
    ``generate(z)``, ``latent(seeds)``, ``interpolate(a, b)`` and ``run(signature, inputs, output)``
    check each input against the signature's own shapes and dtypes before the runtime sees it (a
    ``UserError`` such as ``latents must be a float array of shape [B, 16], got float32 [4, 2]``) and
    return NumPy arrays."""
    from keras_gen.serving.runtime import load_export as load

    return load(path)
