"""Convolutional VAE for MNIST: Junnuthula (report 002), §3.1.1 "VAE model" and its Figure 3
summary, which this reproduces exactly.

It is TensorFlow's "Convolutional Variational Autoencoder" tutorial (Kingma & Welling 2014,
"Auto-Encoding Variational Bayes") with every convolution widened to 512 filters, latent 2.
"""

from __future__ import annotations

import keras
from keras import layers

from keras_gen.families import VAE
from keras_gen.layers import (  # faster on CPU, same maths (keras_gen/layers.py)
    Conv2D,
    Conv2DTranspose,
)
from models_zoo import register
from models_zoo.checks import check_divisible, check_latent_dim


def conv_encoder(*, latent_dim: int = 2, image_shape=(28, 28, 1), filters: int = 512, name: str = "encoder"):
    """image [B, H, W, C] -> [B, 2*latent] (mean, then log-variance)."""
    h, w, c = check_divisible(image_shape, 4, "the vae_conv decoder (two stride-2 upsamplings)")
    return keras.Sequential(
        [
            keras.Input((h, w, c), name="images"),
            Conv2D(filters, 3, strides=2, activation="relu"),  # [B, 13, 13, 512] at 28x28
            Conv2D(filters, 3, strides=2, activation="relu"),  # [B, 6, 6, 512]
            layers.Flatten(),  # [B, 18432]
            layers.Dense(2 * check_latent_dim(latent_dim)),  # [B, 2*latent]
        ],
        name=name,
    )


def conv_decoder(*, latent_dim: int = 2, image_shape=(28, 28, 1), filters: int = 512, name: str = "decoder"):
    """z [B, latent] -> Bernoulli logits [B, H, W, C]."""
    h, w, c = check_divisible(image_shape, 4, "the vae_conv decoder (two stride-2 upsamplings)")
    return keras.Sequential(
        [
            keras.Input((check_latent_dim(latent_dim),), name="z"),
            layers.Dense((h // 4) * (w // 4) * 32, activation="relu"),  # [B, 1568]
            layers.Reshape((h // 4, w // 4, 32)),  # [B, 7, 7, 32]
            Conv2DTranspose(filters, 3, strides=2, padding="same", activation="relu"),  # [B, 14, 14, 512]
            Conv2DTranspose(filters, 3, strides=2, padding="same", activation="relu"),  # [B, 28, 28, 512]
            Conv2DTranspose(c, 3, strides=1, padding="same"),  # logits [B, 28, 28, C]
        ],
        name=name,
    )


@register(
    "vae_conv",
    parameters={"encoder": (2_438_660, 2_438_660), "decoder": (2_517_089, 2_517_089)},
    parameters_source="the report's table",
    family="vae",
    report="Junnuthula (002)",
    section="§3.1.1, Fig. 3",
    dataset="mnist",
    image_shape=(28, 28, 1),
    epochs=15,
    batch_size=32,
    optimizer={"name": "adam", "learning_rate": 1e-4},
    jit_compile=True,  # measured: 1.3x (benchmarks/README.md)
)
def build_vae_conv(*, latent_dim: int = 2, image_shape=(28, 28, 1)) -> VAE:
    """Convolutional VAE (TF CVAE tutorial, 512 filters), as Junnuthula §3.1.1.

    Report: encoder 2,438,660 and decoder 2,517,089 parameters with latent 2; pixels scaled to
    [0, 1]; Bernoulli likelihood on logits; loss the single-sample Monte-Carlo ELBO
    log p(x|z) + log p(z) - log q(z|x); 15 epochs, batch 32, Adam 1e-4.
    Chosen (report silent): none beyond the tutorial's valid padding in the encoder.
    """
    return VAE(
        conv_encoder(latent_dim=latent_dim, image_shape=image_shape),
        conv_decoder(latent_dim=latent_dim, image_shape=image_shape),
        latent_dim=latent_dim,
        image_shape=image_shape,
        value_range="zero_one",
        likelihood="bernoulli",
        kl="monte_carlo",
        name="vae_conv",
    )
