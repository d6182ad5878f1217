"""Differentiable augmentation for GANs on small data: Zhao et al. 2020, "Differentiable
Augmentation for Data-Efficient GAN Training" (NeurIPS), §3 and its reference code's policies.

The same random transformation family is applied to real and generated images wherever the
discriminator sees them (its own update and the generator's), so it cannot tell them apart by the
augmentation, and gradients flow through the transformation to the generator. Each function takes
``[B, H, W, C]`` images in either value range and a Keras seed generator, and draws one
transformation per image:

* ``translation``: shift by up to 1/8 of the size in each direction, the uncovered border filled
  with 0 (the reference code's choice: mid-grey for images in [-1, 1], black in [0, 1]);
* ``cutout``: zero a square of half the image's size at a random place (it may overhang the edge);
* ``color``: brightness (+U(-0.5, 0.5)), saturation (x U(0, 2) around the pixel's mean over
  channels) and contrast (x U(0.5, 1.5) around the image's mean), for colour images only.
"""

from __future__ import annotations

import keras
import tensorflow as tf

POLICIES = ("translation", "cutout", "color")


def _uniform(shape, low, high, seed_generator, dtype="float32"):
    return keras.random.uniform(shape, low, high, seed=seed_generator, dtype=dtype)


def translation(x, seed_generator, ratio: float = 0.125):
    """Shift each image by its own (dy, dx), |dy| <= ratio * H, |dx| <= ratio * W: ``[B, H, W, C]``."""
    h, w = x.shape[1], x.shape[2]  # static: the networks' input size
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    batch = tf.shape(x)[0]
    dy = tf.cast(tf.floor(_uniform([batch, 1], -sh, sh + 1, seed_generator)), tf.int32)  # [B, 1]
    dx = tf.cast(tf.floor(_uniform([batch, 1], -sw, sw + 1, seed_generator)), tf.int32)
    padded = tf.pad(x, [[0, 0], [sh, sh], [sw, sw], [0, 0]])  # [B, H + 2sh, W + 2sw, C], zeros around
    rows = tf.range(h)[None, :] + sh - dy  # [B, H]: the padded row each output row reads
    cols = tf.range(w)[None, :] + sw - dx  # [B, W]
    x = tf.gather(padded, rows, axis=1, batch_dims=1)  # [B, H, W + 2sw, C]
    return tf.gather(x, cols, axis=2, batch_dims=1)  # [B, H, W, C]


def cutout(x, seed_generator, ratio: float = 0.5):
    """Zero a ``ratio * H`` by ``ratio * W`` square per image, centred anywhere in the image."""
    h, w = x.shape[1], x.shape[2]
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    batch = tf.shape(x)[0]
    cy = tf.cast(tf.floor(_uniform([batch, 1, 1], 0, h + (1 - ch % 2), seed_generator)), tf.int32)  # [B, 1, 1]
    cx = tf.cast(tf.floor(_uniform([batch, 1, 1], 0, w + (1 - cw % 2), seed_generator)), tf.int32)
    y = tf.range(h)[None, :, None]  # [1, H, 1]
    xs = tf.range(w)[None, None, :]  # [1, 1, W]
    # a square of ch x cw pixels around (cy, cx), clipped by the border: [B, H, W]
    inside = (y >= cy - ch // 2) & (y < cy - ch // 2 + ch) & (xs >= cx - cw // 2) & (xs < cx - cw // 2 + cw)
    return x * tf.cast(~inside, x.dtype)[..., None]


def color(x, seed_generator):
    """Brightness, saturation and contrast, each drawn per image (colour images)."""
    batch = tf.shape(x)[0]
    x = x + _uniform([batch, 1, 1, 1], -0.5, 0.5, seed_generator)
    mean = tf.reduce_mean(x, axis=3, keepdims=True)  # [B, H, W, 1]
    x = (x - mean) * _uniform([batch, 1, 1, 1], 0.0, 2.0, seed_generator) + mean
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)  # [B, 1, 1, 1]
    return (x - mean) * _uniform([batch, 1, 1, 1], 0.5, 1.5, seed_generator) + mean


FUNCTIONS = {"translation": translation, "cutout": cutout, "color": color}


def check_policies(policies, channels: int) -> tuple[str, ...]:
    """``policies`` as a tuple of known names, or a ValueError naming the problem."""
    policies = tuple(policies)
    unknown = [p for p in policies if p not in POLICIES]
    if unknown or not policies:
        raise ValueError(f"diffaugment takes a comma-separated list of {', '.join(POLICIES)}; got "
                         f"{','.join(policies) or 'nothing'}")
    if "color" in policies and channels == 1:
        raise ValueError("diffaugment color changes colours, and these images have one channel; use "
                         "translation,cutout")
    return policies


def augment(x, policies, seed_generator):
    """``x`` [B, H, W, C] through each policy in order, one draw per image."""
    dtype = x.dtype
    x = tf.cast(x, tf.float32)
    for name in policies:
        x = FUNCTIONS[name](x, seed_generator)
    return tf.cast(x, dtype)
