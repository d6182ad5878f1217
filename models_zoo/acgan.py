"""Auxiliary-classifier GANs: Dietrich et al. (report 003), §III.C "Auxiliary GAN" (MNIST, Fig. 2)
and §V.A.2 "Auxiliary WGAN" (Char74K, Fig. 3). Odena, Olah & Shlens 2017, "Conditional Image
Synthesis with Auxiliary Classifier GANs".

The networks are the classic Keras ``mnist_acgan`` example's (the report's code is Keras): the label
becomes "a vector of dimensions of the number of latent variables" (``Embedding(K, latent)``)
multiplied into z; Dense(3x3x384) and three transposed convolutions to 28x28; the discriminator
has four 3x3 convolutions with LeakyReLU(0.2) and Dropout(0.3), then a real/fake head and a
K-way class head.
"""

from __future__ import annotations

import keras
from keras import layers

from keras_gen.families import ACGAN, ACWGAN
from keras_gen.layers import (  # faster on CPU, same maths (keras_gen/layers.py)
    Conv2D,
    Conv2DTranspose,
)
from models_zoo import register
from models_zoo.checks import check_divisible, check_latent_dim


def check_num_classes(num_classes) -> int:
    if num_classes is None or int(num_classes) < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    return int(num_classes)


def acgan_generator(*, latent_dim: int = 100, image_shape=(28, 28, 1), num_classes: int = 10,
                    name: str = "generator") -> keras.Model:
    """[z [B, latent], label int [B]] -> image [B, H, W, C] in [-1, 1]; H, W multiples of 4, at least 20."""
    h, w, c = check_divisible(image_shape, 4, "the acgan generator (two stride-2 upsamplings after a 5x5 valid one)")
    if h < 20 or w < 20:
        raise ValueError(f"image shape {h}x{w}x{c} is not one the acgan generator can produce: height and width "
                         "must be at least 20 (a 5x5 valid transposed convolution grows the base by 4)")
    latent_dim = check_latent_dim(latent_dim)
    bh, bw = h // 4 - 4, w // 4 - 4  # base map: 3x3 at 28x28
    init = "glorot_normal"
    z = keras.Input((latent_dim,), name="z")
    label = keras.Input((), dtype="int32", name="label")
    embedded = layers.Embedding(check_num_classes(num_classes), latent_dim, embeddings_initializer=init,
                                name="class_embedding")(label)  # [B, latent]
    x = layers.Multiply()([z, embedded])  # [B, latent]
    x = layers.Dense(bh * bw * 384, activation="relu")(x)  # [B, 3*3*384]
    x = layers.Reshape((bh, bw, 384))(x)  # [B, 3, 3, 384]
    x = Conv2DTranspose(192, 5, strides=1, padding="valid", activation="relu", kernel_initializer=init)(x)
    x = layers.BatchNormalization()(x)  # [B, 7, 7, 192]
    x = Conv2DTranspose(96, 5, strides=2, padding="same", activation="relu", kernel_initializer=init)(x)
    x = layers.BatchNormalization()(x)  # [B, 14, 14, 96]
    images = Conv2DTranspose(c, 5, strides=2, padding="same", activation="tanh",
                                    kernel_initializer=init)(x)  # [B, 28, 28, C]
    return keras.Model([z, label], images, name=name)


def acgan_discriminator(*, image_shape=(28, 28, 1), num_classes: int = 10, output_bias: bool = True,
                        name: str = "discriminator") -> keras.Model:
    """image [B, H, W, C] -> [real/fake logit (or critic score) [B, 1], class logits [B, K]].

    ``output_bias=False`` drops the real/fake head's bias (a Wasserstein critic's gets no gradient).
    """
    h, w, c = check_divisible(image_shape, 1, "the acgan discriminator")
    images = keras.Input((h, w, c), name="images")
    x = images
    for filters, stride in ((32, 2), (64, 1), (128, 2), (256, 1)):  # maps 14, 14, 7, 7 at 28x28
        x = Conv2D(filters, 3, strides=stride, padding="same")(x)
        x = layers.LeakyReLU(negative_slope=0.2)(x)
        x = layers.Dropout(0.3)(x)
    features = layers.Flatten()(x)  # [B, 7*7*256]
    # The example's sigmoid and softmax live in the losses.
    real_fake = layers.Dense(1, use_bias=output_bias, name="generation")(features)
    classes = layers.Dense(check_num_classes(num_classes), name="auxiliary")(features)
    return keras.Model(images, [real_fake, classes], name=name)


@register(
    "acgan",
    parameters={"generator": (2_657_897, 2_657_321), "discriminator": (525_835, 525_835)},
    parameters_source="the Keras mnist_acgan example's networks",
    family="gan",
    report="Dietrich (003)",
    section="§III.C, §V.A.1",
    dataset="mnist",
    image_shape=(28, 28, 1),
    epochs=100,
    batch_size=100,
    optimizer={"name": "adam", "learning_rate": 2e-4, "beta_1": 0.5},
    conditional=True,
)
def build_acgan(*, latent_dim: int = 100, image_shape=(28, 28, 1), num_classes: int = 10) -> ACGAN:
    """AC-GAN (Keras ``mnist_acgan`` networks), adversarial BCE + class cross-entropy, as Dietrich §III.C.

    Report: the label becomes a latent-sized vector for the generator; the discriminator also
    predicts the class, with the class loss of eq. 7 on real and generated images for both
    networks; Adam with Radford et al.'s parameters. Generator 2,657,897 parameters (2,657,321
    trainable), discriminator 525,835, at 28x28 with 10 classes.
    Chosen (report silent; the Keras example's): latent 100, batch 100, 100 epochs, Adam 2e-4 with
    beta_1 0.5, glorot-normal initialisers; z from N(0, I) (the example draws U(-1, 1)); the
    non-saturating generator loss.
    """
    return ACGAN(
        acgan_generator(latent_dim=latent_dim, image_shape=image_shape, num_classes=num_classes),
        acgan_discriminator(image_shape=image_shape, num_classes=num_classes),
        latent_dim=latent_dim,
        image_shape=image_shape,
        value_range="minus_one_one",
        num_classes=num_classes,
        name="acgan",
    )


@register(
    "acwgan",
    parameters={"generator": (2_934_585, 2_934_009), "critic": (1_420_094, 1_420_094)},
    parameters_source="computed: acgan's networks at 32x32 with 62 classes",
    family="gan",
    report="Dietrich (003)",
    section="§V.A.2, §III.B-C",
    dataset="char74k",
    image_shape=(32, 32, 1),
    epochs=50,
    batch_size=64,
    optimizer={"name": "rmsprop", "learning_rate": 5e-5, "rho": 0.99},
    conditional=True,
)
def build_acwgan(*, latent_dim: int = 100, image_shape=(32, 32, 1), num_classes: int = 62,
                 n_critic: int = 5) -> ACWGAN:
    """Auxiliary WGAN (``acgan`` networks, linear critic head), Wasserstein + class loss, as Dietrich §V.A.2.

    Report: an "Auxiliary WGAN" generated the Char74K characters of Fig. 3 (62 classes); the
    Wasserstein loss of §III.B with the auxiliary class loss of §III.C.
    Chosen (report silent): 32x32 grayscale characters (*chosen*; the report resized to at most
    72x72), the §III.B WGAN setup (weight clipping 0.01, 5 critic steps, RMSprop 5e-5, batch 64),
    50 epochs, latent 100, class-loss weight 1 for both networks, no bias on the critic head (the
    Wasserstein loss is blind to a constant shift, so it would get no gradient).
    """
    return ACWGAN(
        acgan_generator(latent_dim=latent_dim, image_shape=image_shape, num_classes=num_classes),
        acgan_discriminator(image_shape=image_shape, num_classes=num_classes, output_bias=False, name="critic"),
        latent_dim=latent_dim,
        image_shape=image_shape,
        value_range="minus_one_one",
        num_classes=num_classes,
        n_critic=n_critic,
        clip_value=0.01,
        name="acwgan",
    )
