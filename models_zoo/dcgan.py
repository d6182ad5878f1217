"""DCGAN for MNIST: Junnuthula, "Generative Adversarial Networks and Variational Auto Encoders"
(report 002), §3.1.2 "GAN model", whose summary tables this reproduces exactly.

The generator is TensorFlow's DCGAN tutorial generator (Radford et al. 2016, "Unsupervised
Representation Learning with Deep Convolutional GANs"); the discriminator extends the tutorial's
two convolutions to four (64, 128, 256, 512 filters: feature maps 14, 7, 4, 2 at 28x28).
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
from models_zoo.checks import check_divisible, check_latent_dim


def dcgan_generator(*, latent_dim: int = 100, image_shape=(28, 28, 1), name: str = "generator") -> keras.Model:
    """z [B, latent] -> image [B, H, W, C] in [-1, 1]; H and W multiples of 4."""
    h, w, c = check_divisible(image_shape, 4, "the dcgan generator (two stride-2 upsamplings)")
    return keras.Sequential(
        [
            keras.Input((check_latent_dim(latent_dim),), name="z"),
            layers.Dense((h // 4) * (w // 4) * 256, use_bias=False),  # [B, 7*7*256] at 28x28
            layers.BatchNormalization(),
            layers.LeakyReLU(),
            layers.Reshape((h // 4, w // 4, 256)),  # [B, 7, 7, 256]
            Conv2DTranspose(128, 5, strides=1, padding="same", use_bias=False),  # [B, 7, 7, 128]
            layers.BatchNormalization(),
            layers.LeakyReLU(),
            Conv2DTranspose(64, 5, strides=2, padding="same", use_bias=False),  # [B, 14, 14, 64]
            layers.BatchNormalization(),
            layers.LeakyReLU(),
            Conv2DTranspose(c, 5, strides=2, padding="same", use_bias=False, activation="tanh"),  # [B, 28, 28, C]
        ],
        name=name,
    )


def dcgan_discriminator(*, image_shape=(28, 28, 1), name: str = "discriminator") -> keras.Model:
    """image [B, H, W, C] -> real/fake logit [B, 1]."""
    h, w, c = check_divisible(image_shape, 1, "the dcgan discriminator")
    stack = [keras.Input((h, w, c), name="images")]
    for filters in (64, 128, 256, 512):  # feature maps 14, 7, 4, 2 at 28x28
        stack += [Conv2D(filters, 5, strides=2, padding="same"), layers.LeakyReLU(), layers.Dropout(0.3)]
    stack += [layers.Flatten(), layers.Dense(1)]  # logit; the report's sigmoid lives in the loss
    return keras.Sequential(stack, name=name)


@register(
    "dcgan",
    parameters={"generator": (2_330_944, 2_305_472), "discriminator": (4_305_409, 4_305_409)},
    parameters_source="the report's table (Junnuthula §3.1.2)",
    family="gan",
    report="Junnuthula (002)",
    section="§3.1.2",
    dataset="mnist",
    image_shape=(28, 28, 1),
    epochs=60,
    batch_size=32,
    optimizer={"name": "adam", "learning_rate": 1e-4},
)
def build_dcgan(*, latent_dim: int = 100, image_shape=(28, 28, 1)) -> GAN:
    """DCGAN (TF tutorial generator, 4-conv discriminator) with BCE, as Junnuthula §3.1.2.

    Report: total 2,330,944 generator parameters (25,472 non-trainable) and 4,305,409 in the
    discriminator; 60 epochs, batch 32, Adam 1e-4 for both networks, labels real 1 / fake 0; "during
    each iteration ... a batch of fake images is generated", on which the discriminator and then
    the generator are trained (``generator_step="reuse"``). Chosen (report silent): latent 100 and
    LeakyReLU slope 0.3 (the TF tutorial's), the non-saturating generator loss (the tutorial's
    ``cross_entropy(ones, fake_output)``).
    """
    return GAN(
        dcgan_generator(latent_dim=latent_dim, image_shape=image_shape),
        dcgan_discriminator(image_shape=image_shape),
        latent_dim=latent_dim,
        image_shape=image_shape,
        value_range="minus_one_one",
        generator_step="reuse",
        name="dcgan",
    )
