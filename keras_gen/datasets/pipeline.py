"""The input pipeline as pure functions: value ranges, fitting images to a model, batches."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_gen.utils.errors import UserError

AUTOTUNE = tf.data.AUTOTUNE

# Value ranges a model's output can use: tanh generators want [-1, 1], sigmoid/Bernoulli [0, 1].
VALUE_RANGES = {"minus_one_one": (-1.0, 1.0), "zero_one": (0.0, 1.0)}


# --------------------------------------------------------------------------- scaling helpers
def to_minus_one_one(images):
    """uint8 [0, 255] -> float32 [-1, 1]."""
    return tf.cast(images, tf.float32) / 127.5 - 1.0


def to_zero_one(images):
    """uint8 [0, 255] -> float32 [0, 1]."""
    return tf.cast(images, tf.float32) / 255.0


def scale_images(images, value_range: str):
    if value_range == "minus_one_one":
        return to_minus_one_one(images)
    if value_range == "zero_one":
        return to_zero_one(images)
    raise ValueError(f"unknown value range {value_range!r}; expected one of {sorted(VALUE_RANGES)}")


def to_unit_range(images, value_range: str):
    """Model output in ``value_range`` -> float32 [0, 1], clipped (what exports and grids show)."""
    images = tf.convert_to_tensor(images, tf.float32)
    if value_range == "minus_one_one":
        images = (images + 1.0) / 2.0
    return tf.clip_by_value(images, 0.0, 1.0)


# --------------------------------------------------------------------------- pipeline
def prepare_image(image, *, image_shape: tuple[int, int, int]):
    """Fit one uint8 ``[H, W, C]`` image to ``image_shape`` (still uint8).

    A slightly smaller image is zero-padded (MNIST 28x28 -> 32x32, as LeNet and DCGAN-32 code
    do); anything else is centre-cropped to the target's aspect ratio and resized (antialiased
    when shrinking). Channels are converted 1 <-> 3 when they differ.
    """
    th, tw, tc = image_shape
    shape = tf.shape(image)
    h, w, c = image.shape[0], image.shape[1], image.shape[-1]
    if c != tc:
        if c == 1 and tc == 3:
            image = tf.image.grayscale_to_rgb(image)
        elif c == 3 and tc == 1:
            image = tf.cast(tf.round(tf.image.rgb_to_grayscale(tf.cast(image, tf.float32))), tf.uint8)
        else:
            raise UserError(f"cannot convert {c}-channel images to {tc} channels")
    if h is not None and w is not None and (h, w) == (th, tw):
        return image
    if h is not None and w is not None and th >= h and tw >= w and (th - h) % 2 == 0 and (tw - w) % 2 == 0 \
            and (th - h) <= h // 4 and (tw - w) <= w // 4:
        return tf.image.pad_to_bounding_box(image, (th - h) // 2, (tw - w) // 2, th, tw)
    h, w = shape[0], shape[1]
    # Centre crop to the target aspect ratio, then resize.
    crop_h = tf.minimum(h, tf.cast(tf.round(tf.cast(w, tf.float32) * th / tw), tf.int32))
    crop_w = tf.minimum(w, tf.cast(tf.round(tf.cast(h, tf.float32) * tw / th), tf.int32))
    image = tf.image.crop_to_bounding_box(image, (h - crop_h) // 2, (w - crop_w) // 2, crop_h, crop_w)
    # Antialiased bilinear: a proper low-pass filter when shrinking, plain bilinear when enlarging.
    image = tf.image.resize(image, (th, tw), method="bilinear", antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)


MEMORY_CACHE_FRACTION = 0.25  # of physical memory: the shuffle buffer may hold as much again


def memory_cache_budget() -> int:
    """Bytes of decoded images :func:`build_train_set` may cache in memory."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 8 << 30
    return int(total * MEMORY_CACHE_FRACTION)


def build_train_set(
    source: tf.data.Dataset,
    *,
    image_shape: tuple[int, int, int],
    value_range: str,
    batch_size: int,
    seed: int,
    limit: int | None = None,
    repeat: bool = False,
    shuffle: bool = True,
    drop_remainder: bool = True,
    cache_dir: str | os.PathLike | None = None,
) -> tf.data.Dataset:
    """``(uint8 image, label)`` elements -> shuffled, batched ``(float images, int32 labels)``.

    Images are fitted to ``image_shape`` per element (parallel map), cached at their final uint8
    size (in memory when that takes at most :func:`memory_cache_budget` bytes, else in a file
    cache under ``cache_dir``, else not at all), shuffled with ``seed`` each epoch, batched,
    scaled to ``value_range`` per batch (one vectorized op), and prefetched so the model never
    waits for input. Elements decoded from files (dynamic shape) that fail to decode are skipped.
    """
    if limit is not None:
        source = source.take(limit)
    n = int(source.cardinality())  # before ignore_errors, which makes it unknown
    element_shape = tuple(source.element_spec[0].shape)
    if element_shape != tuple(image_shape):
        source = source.map(
            lambda x, y: (prepare_image(x, image_shape=image_shape), y), num_parallel_calls=AUTOTUNE,
            deterministic=True,
        )
    if None in element_shape:  # decoded from image files: one corrupt file must not end training
        source = source.ignore_errors(log_warning=True)
    nbytes = n * int(np.prod(image_shape)) if n > 0 else 0
    if nbytes <= memory_cache_budget():
        ds = source.cache()
    elif cache_dir is not None:
        cache_dir = Path(cache_dir)
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise UserError(f"cannot create the data cache {cache_dir}: {err.strerror or err}") from None
        ds = source.cache(str(cache_dir / "images"))
    else:
        ds = source
    if shuffle:
        buffer = n if 0 < n <= 100_000 else 10_000
        ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    ds = ds.map(lambda x, y: (scale_images(x, value_range), y), num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)


def count_examples(source: tf.data.Dataset, limit: int | None = None) -> int:
    n = int(source.cardinality())
    if n < 0:  # unknown (e.g. a filtered file list): count once
        n = int(source.reduce(0, lambda count, _: count + 1))
    return n if limit is None else min(n, limit)


def images_dataset(images, labels=None, *, image_shape: tuple[int, int, int], value_range: str, batch_size: int,
                   seed: int = 0, num_classes: int | None = None, training: bool = True) -> tf.data.Dataset:
    """A NumPy array of images -> shuffled batches a model trains on (``GenerativeModel.fit``).

    ``images``: ``[N, H, W, C]`` (or ``[N, H, W]`` for one channel) of the model's image shape,
    uint8 in [0, 255] or floats in [0, 1]; they are scaled to ``value_range`` (a tanh generator's
    [-1, 1]). ``labels``: ``[N]`` class ids of a conditional model. Anything else is a ValueError
    that says what was expected. Batches of ``batch_size``, the last partial one dropped (GAN
    losses average over a fixed batch); reshuffled with ``seed`` every epoch. ``training=False``:
    every image once, in order (the last batch may be partial), to encode or measure them.
    """
    images = np.asarray(images)
    if images.ndim == 3 and image_shape[-1] == 1:
        images = images[..., None]
    if images.ndim != 4 or tuple(images.shape[1:]) != tuple(image_shape):
        raise ValueError(f"images must be [N, {', '.join(map(str, image_shape))}] (the model's image shape), got "
                         f"{list(images.shape)}; resize them, or build the model for their shape (image_shape=...)")
    if images.dtype == np.uint8:
        unit = images  # kept as uint8 (a quarter of float32's memory), scaled batch by batch below
    elif np.issubdtype(images.dtype, np.floating):
        if not np.all(np.isfinite(images)):
            raise ValueError("images hold NaN or infinite values")
        low, high = float(images.min()), float(images.max())
        if low < 0.0 or high > 1.0:
            raise ValueError(f"float images must be in [0, 1], got values in [{low:.3g}, {high:.3g}]; pass uint8 "
                             "images or divide by 255 (the model scales [0, 1] to its own range)")
        unit = images.astype(np.float32, copy=False)
    else:
        raise ValueError(f"images must be uint8 or floating point, got {images.dtype}")
    if training and len(unit) < batch_size:
        raise ValueError(f"{len(unit)} images are fewer than one batch of {batch_size}; pass a smaller batch_size")
    low, high = VALUE_RANGES[value_range]
    divisor = 255.0 if unit.dtype == np.uint8 else 1.0

    def scale(batch, *labels):  # [B, H, W, C] -> the model's range
        return (tf.cast(batch, tf.float32) / divisor * (high - low) + low, *labels)

    elements = (unit,)
    if num_classes is not None:
        if labels is None:
            raise ValueError(f"the model is conditional: pass y, the class ids [N] in 0..{num_classes - 1}")
        labels = np.asarray(labels).reshape(-1)
        if len(labels) != len(unit) or not np.issubdtype(labels.dtype, np.integer) or \
                labels.min() < 0 or labels.max() >= num_classes:
            raise ValueError(f"y must be {len(unit)} integer class ids in 0..{num_classes - 1}")
        elements = (unit, labels.astype(np.int32))
    ds = tf.data.Dataset.from_tensor_slices(elements)
    if training:
        ds = ds.shuffle(len(unit), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size, drop_remainder=training).map(scale, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)
