"""Conditional GAN: beyond the reports; Mirza & Osindero 2014, "Conditional Generative Adversarial
Nets", which Dietrich et al. (report 003) cite in §III.C: "the conditional GAN gives both the
discriminator and the generator the class information as input".

The generator reads z concatenated with the one-hot label; the discriminator reads the image with
K constant "label maps" (the one-hot label broadcast over height and width) stacked on its
channels. The bodies are ``dcgan``'s (Junnuthula §3.1.2), widened at their inputs.
"""

from __future__ import annotations

import keras
from keras import layers

from keras_gen.families import GAN
from models_zoo import register
from models_zoo.acgan import check_num_classes
from models_zoo.checks import check_divisible, check_latent_dim
from models_zoo.dcgan import dcgan_generator
from models_zoo.dcgan_upsample import conv_discriminator


def one_hot(label, num_classes: int):
    """int [B] -> float one-hot [B, K]."""
    return layers.CategoryEncoding(num_tokens=num_classes, output_mode="one_hot", name="one_hot")(label)


def cgan_generator(*, latent_dim: int = 100, image_shape=(28, 28, 1), num_classes: int = 10,
                   name: str = "generator") -> keras.Model:
    """[z [B, latent], label int [B]] -> image [B, H, W, C] in [-1, 1]."""
    latent_dim, k = check_latent_dim(latent_dim), check_num_classes(num_classes)
    z = keras.Input((latent_dim,), name="z")
    label = keras.Input((), dtype="int32", name="label")
    x = layers.Concatenate()([z, one_hot(label, k)])  # [B, latent + K]
    body = dcgan_generator(latent_dim=latent_dim + k, image_shape=image_shape, name="dcgan_generator")
    return keras.Model([z, label], body(x), name=name)


def cgan_discriminator(*, image_shape=(28, 28, 1), num_classes: int = 10, name: str = "discriminator") -> keras.Model:
    """[image [B, H, W, C], label int [B]] -> real/fake logit [B, 1]."""
    h, w, c = check_divisible(image_shape, 1, "the cgan discriminator")
    k = check_num_classes(num_classes)
    images = keras.Input((h, w, c), name="images")
    label = keras.Input((), dtype="int32", name="label")
    maps = layers.Reshape((1, 1, k))(one_hot(label, k))  # [B, 1, 1, K]
    maps = layers.UpSampling2D(size=(h, w))(maps)  # [B, H, W, K]: the label, constant over the image
    x = layers.Concatenate(axis=-1)([images, maps])  # [B, H, W, C + K]
    # dcgan's discriminator (LeakyReLU 0.3, Dropout 0.3, no BatchNorm) on C + K channels.
    body = conv_discriminator(image_shape=(h, w, c), extra_channels=k, batch_norm=False, dropout=0.3,
                              negative_slope=0.3, name="dcgan_discriminator")
    return keras.Model([images, label], body(x), name=name)


@register(
    "cgan",
    parameters={"generator": (2_456_384, 2_430_912), "discriminator": (4_321_409, 4_321_409)},
    parameters_source="computed (beyond the reports)",
    family="gan",
    report="beyond the reports: Mirza & Osindero 2014, cited by Dietrich (003)",
    section="§III.C",
    dataset="mnist",
    image_shape=(28, 28, 1),
    epochs=20,
    batch_size=64,
    optimizer={"name": "adam", "learning_rate": 2e-4, "beta_1": 0.5},
    conditional=True,
)
def build_cgan(*, latent_dim: int = 100, image_shape=(28, 28, 1), num_classes: int = 10) -> GAN:
    """Conditional DCGAN (label to both networks), BCE, after Mirza & Osindero as Dietrich §III.C describes it.

    Paper: the label is an extra input of both networks; BCE as the plain GAN.
    Chosen (no report gives them): the networks (*chosen*: ``dcgan``'s, the generator on z ⧺ one-hot,
    the discriminator on image ⧺ label maps), Adam 2e-4 with beta_1 0.5 (Radford et al.), batch 64,
    20 epochs, latent 100, the non-saturating generator loss.
    """
    return GAN(
        cgan_generator(latent_dim=latent_dim, image_shape=image_shape, num_classes=num_classes),
        cgan_discriminator(image_shape=image_shape, num_classes=num_classes),
        latent_dim=latent_dim,
        image_shape=image_shape,
        value_range="minus_one_one",
        num_classes=num_classes,
        name="cgan",
    )
