"""DCGAN at 32x32: Ali (report 001), "Experiment Details", the printed PyTorch ``Generator`` and
``Discriminator`` modules, trained "for 10 Epochs on a subset of MNIST". Radford, Metz & Chintala
2016, "Unsupervised Representation Learning with Deep Convolutional GANs" (PyTorch's DCGAN
tutorial, narrowed).

The generator starts from z as a 1x1x100 map: ConvTranspose(4, stride 1, no padding) to 4x4, then
three (4, stride 2, padding 1) transposed convolutions to 32x32; MNIST is zero-padded from 28x28
to 32x32 by the input pipeline. PyTorch's BatchNorm (eps 1e-5, momentum 0.1) is Keras'
``BatchNormalization(epsilon=1e-5, momentum=0.9)``; Keras' "same" padding for a 4x4 stride-2
(transposed) convolution pads one pixel per side, as PyTorch's ``padding=1``.
"""

from __future__ import annotations

import keras
from keras import layers

from keras_gen.families import GAN
from keras_gen.layers import (  # faster on CPU, same maths (keras_gen/layers.py)
    Conv2D,
    Conv2DTranspose,
)
from models_zoo import register
from models_zoo.checks import check_latent_dim

SIZE = 32


def _bn():
    return layers.BatchNormalization(epsilon=1e-5, momentum=0.9)


def _check_32(image_shape):
    h, w, c = (int(d) for d in image_shape)
    if (h, w) != (SIZE, SIZE) or c not in (1, 3):
        raise ValueError(f"image shape {h}x{w}x{c} is not one dcgan_32 can produce: its generator makes "
                         f"{SIZE}x{SIZE} images (1 or 3 channels); use --image-size {SIZE}")
    return h, w, c


def dcgan32_generator(*, latent_dim: int = 100, channels: int = 1, name: str = "generator") -> keras.Model:
    """z [B, latent] -> image [B, 32, 32, C] in [-1, 1]; no biases (BatchNorm follows)."""
    return keras.Sequential(
        [
            keras.Input((check_latent_dim(latent_dim),), name="z"),
            layers.Reshape((1, 1, latent_dim)),  # [B, 1, 1, latent]
            Conv2DTranspose(256, 4, strides=1, padding="valid", use_bias=False),  # [B, 4, 4, 256]
            _bn(),
            layers.ReLU(),
            Conv2DTranspose(128, 4, strides=2, padding="same", use_bias=False),  # [B, 8, 8, 128]
            _bn(),
            layers.ReLU(),
            Conv2DTranspose(64, 4, strides=2, padding="same", use_bias=False),  # [B, 16, 16, 64]
            _bn(),
            layers.ReLU(),
            Conv2DTranspose(channels, 4, strides=2, padding="same", use_bias=False,
                                   activation="tanh"),  # [B, 32, 32, C]
        ],
        name=name,
    )


def dcgan32_discriminator(*, channels: int = 1, name: str = "discriminator") -> keras.Model:
    """image [B, 32, 32, C] -> real/fake logit [B, 1]; no convolution biases."""
    return keras.Sequential(
        [
            keras.Input((SIZE, SIZE, channels), name="images"),
            Conv2D(32, 4, strides=2, padding="same", use_bias=False),  # [B, 16, 16, 32]
            layers.LeakyReLU(negative_slope=0.2),
            Conv2D(64, 4, strides=2, padding="same", use_bias=False),  # [B, 8, 8, 64]
            _bn(),
            layers.LeakyReLU(negative_slope=0.2),
            Conv2D(128, 4, strides=2, padding="same", use_bias=False),  # [B, 4, 4, 128]
            _bn(),
            layers.LeakyReLU(negative_slope=0.2),
            Conv2D(1, 4, strides=2, padding="same", use_bias=False),  # [B, 2, 2, 1]
            layers.Flatten(),  # [B, 4]
            layers.Dense(1),  # logit; the report's sigmoid lives in the loss
        ],
        name=name,
    )


@register(
    "dcgan_32",
    parameters={"generator": (1_067_776, 1_066_880), "discriminator": (167_173, 166_789)},
    parameters_source="trainable counts equal the PyTorch model's; totals add BatchNorm statistics",
    family="gan",
    report="Ali (001)",
    section="Experiment Details (Generator/Discriminator listings)",
    dataset="mnist",
    image_shape=(32, 32, 1),
    epochs=10,
    batch_size=128,
    optimizer={"name": "adam", "learning_rate": 2e-4, "beta_1": 0.5},
    jit_compile=False,  # measured: XLA ties, at 40% more memory (benchmarks/README.md)
)
def build_dcgan_32(*, latent_dim: int = 100, image_shape=(32, 32, 1)) -> GAN:
    """DCGAN 32x32 (ConvT 256-128-64-1 from a 1x1 z; D 32-64-128-1 convs + Linear(4, 1)), as Ali.

    Report: the printed modules (generator 1,066,880 and discriminator 166,789 parameters, both
    PyTorch counts = Keras trainable), BCE with a sigmoid output, 10 epochs on a subset of MNIST.
    Chosen (report silent): Adam 2e-4 with beta_1 0.5 and batch 128 (PyTorch's DCGAN tutorial, which
    the listing follows), latent 100 as printed, the non-saturating generator loss (the tutorial's).
    """
    _, _, c = _check_32(image_shape)
    return GAN(
        dcgan32_generator(latent_dim=latent_dim, channels=c),
        dcgan32_discriminator(channels=c),
        latent_dim=latent_dim,
        image_shape=(SIZE, SIZE, c),
        value_range="minus_one_one",
        name="dcgan_32",
    )
