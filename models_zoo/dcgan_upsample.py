"""DCGAN with upsampling layers: Dietrich, Hemmen, Tiede & Zimmermann (report 003), §III.A
"Architecture": "simple upsampling layers were used, which copy the value of one pixel into
multiple pixels", which "for the simple datasets like MNIST ... led to good results with less
training time"; BatchNorm in generator and discriminator, ReLU in the generator (tanh output),
LeakyReLU in the discriminator, Adam with Radford et al.'s parameters. Radford, Metz & Chintala
2016, "Unsupervised Representation Learning with Deep Convolutional GANs".

The layer sizes are not in the report; they are ``dcgan``'s (Junnuthula §3.1.2) with each strided
transposed convolution replaced by ``UpSampling2D`` + a 5x5 convolution of the same width.
"""

from __future__ import annotations

import keras
from keras import layers

from keras_gen.families import GAN
from keras_gen.layers import Conv2D  # faster on CPU, same maths (keras_gen/layers.py)
from models_zoo import register
from models_zoo.checks import check_divisible, check_latent_dim


def upsample_generator(*, latent_dim: int = 100, image_shape=(28, 28, 1), name: str = "generator") -> keras.Model:
    """z [B, latent] -> image [B, H, W, C] in [-1, 1]; H and W multiples of 4; no biases."""
    h, w, c = check_divisible(image_shape, 4, "the dcgan_upsample generator (two 2x upsamplings)")
    return keras.Sequential(
        [
            keras.Input((check_latent_dim(latent_dim),), name="z"),
            layers.Dense((h // 4) * (w // 4) * 256, use_bias=False),  # [B, 7*7*256] at 28x28
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Reshape((h // 4, w // 4, 256)),  # [B, 7, 7, 256]
            Conv2D(128, 5, padding="same", use_bias=False),  # [B, 7, 7, 128]
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.UpSampling2D(),  # [B, 14, 14, 128]
            Conv2D(64, 5, padding="same", use_bias=False),  # [B, 14, 14, 64]
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.UpSampling2D(),  # [B, 28, 28, 64]
            Conv2D(c, 5, padding="same", use_bias=False, activation="tanh"),  # [B, 28, 28, C]
        ],
        name=name,
    )


def conv_discriminator(*, image_shape=(28, 28, 1), batch_norm: bool, dropout: float, negative_slope: float,
                       extra_channels: int = 0, output_bias: bool = True, name: str = "discriminator") -> keras.Model:
    """``dcgan``'s discriminator with options: image [B, H, W, C + extra] -> logit or critic score [B, 1].

    Conv(64/128/256/512, 5, stride 2) each followed by [BatchNorm (not after the first, as Radford
    et al.)], LeakyReLU and [Dropout] -> Flatten -> Dense(1), no output activation.
    ``extra_channels`` widens the input for channels stacked on the image (a cGAN's label maps);
    ``output_bias=False`` drops the last layer's bias (a Wasserstein critic's, which gets no gradient).
    """
    h, w, c = check_divisible(image_shape, 1, "the dcgan discriminator")
    stack = [keras.Input((h, w, c + extra_channels), name="images")]
    for i, filters in enumerate((64, 128, 256, 512)):  # feature maps 14, 7, 4, 2 at 28x28
        stack.append(Conv2D(filters, 5, strides=2, padding="same"))
        if batch_norm and i > 0:
            stack.append(layers.BatchNormalization())
        stack.append(layers.LeakyReLU(negative_slope=negative_slope))
        if dropout:
            stack.append(layers.Dropout(dropout))
    stack += [layers.Flatten(), layers.Dense(1, use_bias=output_bias)]
    return keras.Sequential(stack, name=name)


@register(
    "dcgan_upsample",
    parameters={"generator": (2_330_944, 2_305_472), "discriminator": (4_308_993, 4_307_201)},
    parameters_source="computed (chosen sizes: dcgan's, with upsampling and BatchNorm)",
    family="gan",
    report="Dietrich (003)",
    section="§III.A",
    dataset="mnist",
    image_shape=(28, 28, 1),
    epochs=20,
    batch_size=64,
    optimizer={"name": "adam", "learning_rate": 2e-4, "beta_1": 0.5},
)
def build_dcgan_upsample(*, latent_dim: int = 100, image_shape=(28, 28, 1)) -> GAN:
    """DCGAN with UpSampling2D + Conv2D in the generator and BatchNorm in both nets, as Dietrich §III.A.

    Report: upsampling layers (not transposed convolutions) for MNIST; BatchNorm in both networks;
    ReLU in the generator with a tanh output, LeakyReLU in the discriminator; Adam with Radford et
    al.'s parameters (2e-4, beta_1 0.5); BCE (eq. 5).
    Chosen (report silent): every layer size (*chosen*: ``dcgan``'s, so the generator has the same
    2,330,944 parameters), BatchNorm after discriminator convolutions 2-4, LeakyReLU slope 0.2 and
    Dropout 0.3 in the discriminator, latent 100, batch 64, 20 epochs, non-saturating generator loss
    (the report's "target vector that labels all generated images as real").
    """
    return GAN(
        upsample_generator(latent_dim=latent_dim, image_shape=image_shape),
        conv_discriminator(image_shape=image_shape, batch_norm=True, dropout=0.3, negative_slope=0.2),
        latent_dim=latent_dim,
        image_shape=image_shape,
        value_range="minus_one_one",
        name="dcgan_upsample",
    )
