"""Convolutional VAE and conditional VAE: Dietrich et al. (report 003), §II.D "Architecture" ("four
convolutional layers with a ReLU activation" in the encoder, "three convolutional transposed
layers and one convolutional layer" in the decoder; latent 2 on MNIST, 300 on the other data sets)
and §II.C "Conditioning the model" (one-hot labels concatenated to the latent variables). The
architecture is the report's reference [5], Chollet's 2016 Keras example
``variational_autoencoder_deconv.py`` (64 filters, intermediate 128, batch 100, RMSprop).
Kingma & Welling 2014, "Auto-Encoding Variational Bayes"; Sohn, Lee & Yan 2015, "Learning
Structured Output Representation using Deep Conditional Generative Models" (CVAE).

The example's loss has two slips this ELBO does not copy: its KL term is a *mean* over latent
dimensions (a sum in the ELBO) and its sampling scales eps by exp(log_var) instead of
exp(log_var / 2).
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
from models_zoo.acgan import check_num_classes
from models_zoo.cgan import one_hot
from models_zoo.checks import check_divisible, check_latent_dim

FILTERS = 64
INTERMEDIATE = 128
# Dietrich §II.D: "For the MNIST data set only two latent variables were used, while for the rest a
# number of 300 yielded acceptable results."
LATENT_BY_DATASET = {"mnist": {"latent_dim": 2}, "*": {"latent_dim": 300}}
_WHAT = "the vae_deconv decoder (a stride-2 transposed convolution from half size)"


def deconv_encoder(*, latent_dim: int = 2, image_shape=(28, 28, 1), num_classes: int | None = None,
                   name: str = "encoder") -> keras.Model:
    """image [B, H, W, C] (+ label int [B]) -> (z_mean, z_log_var), each [B, latent]; H, W even."""
    h, w, c = check_divisible(image_shape, 2, _WHAT)
    latent_dim = check_latent_dim(latent_dim)
    images = keras.Input((h, w, c), name="images")
    # Chosen: bias starts at 0.1, not 0. With C filters on [0, 1] inputs and a zero bias, an
    # initial kernel that is all negative (1 run in 16 for C=1) zeroes this ReLU everywhere and
    # the whole encoder never trains; the positive bias keeps background pixels alive.
    x = Conv2D(c, 2, padding="same", activation="relu",
                      bias_initializer=keras.initializers.Constant(0.1))(images)  # [B, 28, 28, C]
    x = Conv2D(FILTERS, 2, strides=2, padding="same", activation="relu")(x)  # [B, 14, 14, 64]
    x = Conv2D(FILTERS, 3, padding="same", activation="relu")(x)  # [B, 14, 14, 64]
    x = Conv2D(FILTERS, 3, padding="same", activation="relu")(x)  # [B, 14, 14, 64]
    x = layers.Flatten()(x)  # [B, 12544]
    inputs = images
    if num_classes is not None:
        label = keras.Input((), dtype="int32", name="label")
        x = layers.Concatenate()([x, one_hot(label, check_num_classes(num_classes))])  # [B, 12544 + K]
        inputs = [images, label]
    hidden = layers.Dense(INTERMEDIATE, activation="relu")(x)  # [B, 128]
    z_mean = layers.Dense(latent_dim, name="z_mean")(hidden)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(hidden)
    return keras.Model(inputs, [z_mean, z_log_var], name=name)


def deconv_decoder(*, latent_dim: int = 2, image_shape=(28, 28, 1), num_classes: int | None = None,
                   name: str = "decoder") -> keras.Model:
    """z [B, latent] (+ label int [B]) -> Bernoulli logits [B, H, W, C]."""
    h, w, c = check_divisible(image_shape, 2, _WHAT)
    z = keras.Input((check_latent_dim(latent_dim),), name="z")
    x, inputs = z, z
    if num_classes is not None:
        label = keras.Input((), dtype="int32", name="label")
        x = layers.Concatenate()([z, one_hot(label, check_num_classes(num_classes))])  # [B, latent + K]
        inputs = [z, label]
    x = layers.Dense(INTERMEDIATE, activation="relu")(x)  # [B, 128]
    x = layers.Dense(FILTERS * (h // 2) * (w // 2), activation="relu")(x)  # [B, 12544]
    x = layers.Reshape((h // 2, w // 2, FILTERS))(x)  # [B, 14, 14, 64]
    x = Conv2DTranspose(FILTERS, 3, padding="same", activation="relu")(x)  # [B, 14, 14, 64]
    x = Conv2DTranspose(FILTERS, 3, padding="same", activation="relu")(x)  # [B, 14, 14, 64]
    x = Conv2DTranspose(FILTERS, 3, strides=2, padding="valid", activation="relu")(x)  # [B, 29, 29, 64]
    logits = Conv2D(c, 2, padding="valid")(x)  # [B, 28, 28, C]; the example's sigmoid is the likelihood's
    return keras.Model(inputs, logits, name=name)


@register(
    "vae_deconv",
    parameters={"encoder": (1_680_457, 1_680_457), "decoder": (1_729_601, 1_729_601)},
    parameters_source="the Keras example's model",
    family="vae",
    report="Dietrich (003)",
    section="§II.D",
    dataset="mnist",
    image_shape=(28, 28, 1),
    epochs=5,
    batch_size=100,
    optimizer={"name": "rmsprop", "learning_rate": 1e-3},
    dataset_defaults=LATENT_BY_DATASET,
)
def build_vae_deconv(*, latent_dim: int = 2, image_shape=(28, 28, 1)) -> VAE:
    """Convolutional VAE (Chollet's ``variational_autoencoder_deconv``), latent 2 on MNIST, 300 elsewhere.

    Report: four ReLU convolutions in the encoder, three transposed convolutions and a convolution
    in the decoder, latent 2 (MNIST) or 300 (other data sets; the training path picks it from the
    dataset). Encoder 1,680,457 and decoder 1,729,601 parameters with latent 2 at 28x28x1.
    Chosen (report silent; the example's): 64 filters, intermediate 128, batch 100, 5 epochs,
    RMSprop 1e-3, Bernoulli likelihood with the analytic KL (summed over latent dimensions).
    """
    return VAE(
        deconv_encoder(latent_dim=latent_dim, image_shape=image_shape),
        deconv_decoder(latent_dim=latent_dim, image_shape=image_shape),
        latent_dim=latent_dim,
        image_shape=image_shape,
        value_range="zero_one",
        likelihood="bernoulli",
        kl="analytic",
        name="vae_deconv",
    )


@register(
    "cvae",
    parameters={"encoder": (1_681_737, 1_681_737), "decoder": (1_730_881, 1_730_881)},
    parameters_source="computed: vae_deconv with the one-hot label",
    family="vae",
    report="Dietrich (003)",
    section="§II.C-D",
    dataset="mnist",
    image_shape=(28, 28, 1),
    epochs=5,
    batch_size=100,
    optimizer={"name": "rmsprop", "learning_rate": 1e-3},
    conditional=True,
    dataset_defaults=LATENT_BY_DATASET,
)
def build_cvae(*, latent_dim: int = 2, image_shape=(28, 28, 1), num_classes: int = 10) -> VAE:
    """Conditional VAE: ``vae_deconv`` with the one-hot label fed to encoder and decoder, as Dietrich §II.C.

    Report: conditioning "by concatenating one hot encoded class labels to the latent variable
    space" (the decoder reads z ⧺ one-hot); MNIST samples per class in Fig. 2; setup as
    ``vae_deconv``. Encoder 1,681,737 and decoder 1,730,881 parameters with latent 2 and 10 classes.
    Chosen (report silent): the encoder also reads the one-hot label, concatenated to its
    flattened features before the 128-unit layer (*chosen*: Sohn et al.'s q(z|x, y)).
    """
    return VAE(
        deconv_encoder(latent_dim=latent_dim, image_shape=image_shape, num_classes=num_classes),
        deconv_decoder(latent_dim=latent_dim, image_shape=image_shape, num_classes=num_classes),
        latent_dim=latent_dim,
        image_shape=image_shape,
        value_range="zero_one",
        likelihood="bernoulli",
        kl="analytic",
        num_classes=num_classes,
        name="cvae",
    )
