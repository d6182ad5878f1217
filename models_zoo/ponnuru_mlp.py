"""Fully connected GANs and VAE of Ponnuru (report 000), written in PyTorch on MNIST.

* ``mlp_gan``: §4.2 "Generative Adversarial Networks": discriminator 784-256-1 with LeakyReLU(0.2)
  and sigmoid; generator of "three linear layers" with ReLU and tanh. Goodfellow et al. 2014,
  "Generative Adversarial Nets" (k discriminator steps per generator step).
* ``mlp_gan_small``: §5 "Results", the printed ``Discriminator``/``Generator`` modules
  (784-128-64-32-1 and 100-32-64-128-784, each with ``Dropout(p=0.3)``).
* ``vae_mlp``: §4.3 "Variational Auto Encoder": 784-400, mean and log-variance heads, 400-784
  (PyTorch's VAE example layout). Kingma & Welling 2014, "Auto-Encoding Variational Bayes".

PyTorch's parameter count equals Keras' trainable count here (``Linear`` == ``Dense``).
"""

from __future__ import annotations

import math

import keras
from keras import layers

from keras_gen.families import GAN, VAE
from models_zoo import register
from models_zoo.checks import check_divisible, check_latent_dim

_GAN_OPTIMIZER = {"name": "adam", "learning_rate": 2e-4}  # Ponnuru §4.2: "changed it to 0.0002", one per network


def dense_stack(units, *, input_shape, activation, name: str, input_name: str, dropout: float = 0.0,
                output_units: int, output_activation=None, output_shape=None) -> keras.Model:
    """[Flatten] -> (Dense(u) -> activation [-> Dropout]) for u in units -> Dense(output_units) [-> Reshape]."""
    stack = [keras.Input(tuple(input_shape), name=input_name)]
    if len(input_shape) > 1:
        stack.append(layers.Flatten())
    for u in units:
        stack += [layers.Dense(u), activation()]
        if dropout:
            stack.append(layers.Dropout(dropout))
    stack.append(layers.Dense(output_units, activation=output_activation))
    if output_shape is not None:
        stack.append(layers.Reshape(tuple(output_shape)))
    return keras.Sequential(stack, name=name)


def _leaky():
    return layers.LeakyReLU(negative_slope=0.2)


def _relu():
    return layers.ReLU()


@register(
    "mlp_gan",
    parameters={"generator": (293_136, 293_136), "discriminator": (201_217, 201_217)},
    parameters_source="discriminator from the report; generator computed (chosen sizes)",
    family="gan",
    report="Ponnuru (000)",
    section="§4.2",
    dataset="mnist",
    image_shape=(28, 28, 1),
    epochs=200,
    batch_size=64,
    optimizer=_GAN_OPTIMIZER,
    jit_compile=True,  # measured: benchmarks/README.md
    steps_per_execution=64,  # a step takes milliseconds: call overhead would dominate
)
def build_mlp_gan(*, latent_dim: int = 100, image_shape=(28, 28, 1), d_steps: int = 1) -> GAN:
    """MLP GAN (D 784-256-1, G 100-256-256-784), BCE, as Ponnuru §4.2.

    Report: discriminator 784 -> 256 -> 1 with LeakyReLU(0.2) and sigmoid (201,217 parameters);
    generator of "three linear layers" with ReLU and a tanh output; BCE; one Adam per network at
    2e-4; k discriminator steps per generator step; 100, then 200 epochs.
    Chosen (report silent): generator widths 256 and 256 (*chosen*; 293,136 parameters), latent
    100, k = ``d_steps`` = 1 (Goodfellow et al.'s experiments), batch 64, the non-saturating
    generator loss -log D(G(z)).
    """
    h, w, c = check_divisible(image_shape, 1, "mlp_gan")
    generator = dense_stack((256, 256), input_shape=(check_latent_dim(latent_dim),), activation=_relu,
                            output_units=h * w * c, output_activation="tanh", output_shape=(h, w, c),
                            name="generator", input_name="z")
    discriminator = dense_stack((256,), input_shape=(h, w, c), activation=_leaky, output_units=1,
                                name="discriminator", input_name="images")  # logit; sigmoid in the loss
    return GAN(generator, discriminator, latent_dim=latent_dim, image_shape=(h, w, c), value_range="minus_one_one",
               d_steps=d_steps, generator_loss="non_saturating", name="mlp_gan")


@register(
    "mlp_gan_small",
    parameters={"generator": (114_800, 114_800), "discriminator": (110_849, 110_849)},
    parameters_source="the report's layer sizes",
    family="gan",
    report="Ponnuru (000)",
    section="§5",
    dataset="mnist",
    image_shape=(28, 28, 1),
    epochs=200,
    batch_size=64,
    optimizer=_GAN_OPTIMIZER,
    jit_compile=False,  # measured: benchmarks/README.md
    steps_per_execution=64,  # a step takes milliseconds: call overhead would dominate
)
def build_mlp_gan_small(*, latent_dim: int = 100, image_shape=(28, 28, 1), d_steps: int = 1) -> GAN:
    """Small MLP GAN (G 100-32-64-128-784, D 784-128-64-32-1, dropout 0.3), as Ponnuru §5.

    Report: the printed modules, biases on, ``Dropout(p=0.3)`` in both networks; D 110,849
    parameters, G 114,800; training as §4.2 (BCE, Adam 2e-4 per network, k D-steps, 200 epochs).
    Chosen (report silent): activations as §4.2 (LeakyReLU(0.2) in D, ReLU in G, tanh output),
    dropout after every hidden layer, ``d_steps`` = 1, batch 64, non-saturating generator loss.
    """
    h, w, c = check_divisible(image_shape, 1, "mlp_gan_small")
    generator = dense_stack((32, 64, 128), input_shape=(check_latent_dim(latent_dim),), activation=_relu,
                            dropout=0.3, output_units=h * w * c, output_activation="tanh", output_shape=(h, w, c),
                            name="generator", input_name="z")
    discriminator = dense_stack((128, 64, 32), input_shape=(h, w, c), activation=_leaky, dropout=0.3, output_units=1,
                                name="discriminator", input_name="images")
    return GAN(generator, discriminator, latent_dim=latent_dim, image_shape=(h, w, c), value_range="minus_one_one",
               d_steps=d_steps, generator_loss="non_saturating", name="mlp_gan_small")


@register(
    "vae_mlp",
    parameters={"encoder": (330_040, 330_040), "decoder": (322_784, 322_784)},
    parameters_source="the report's total 652,824; the split computed",
    family="vae",
    report="Ponnuru (000)",
    section="§4.3",
    dataset="mnist",
    image_shape=(28, 28, 1),
    epochs=10,
    batch_size=128,
    optimizer={"name": "adam", "learning_rate": 1e-3},
    jit_compile=False,  # measured: benchmarks/README.md
    steps_per_execution=64,  # a step takes milliseconds: call overhead would dominate
)
def build_vae_mlp(*, latent_dim: int = 20, image_shape=(28, 28, 1), prior_components: int = 0) -> VAE:
    """MLP VAE (784-400-latent-400-784), BCE + KL, as Ponnuru §4.3.

    Report: four fully connected layers, a 400-unit hidden layer on each side, mean and
    log-variance branches, sigmoid output, loss BCE + KL, Adam at its default 1e-3. 652,824
    parameters in all: encoder 330,040 + decoder 322,784.
    Chosen (report silent): latent 20 (*chosen*; PyTorch's VAE example, which this layout is),
    batch 128 and 10 epochs (the same example's), analytic KL.
    ``prior_components=K`` (K >= 1) swaps the standard normal prior for a learnable mixture of K
    Gaussians with a Monte-Carlo KL, the prior of Junnuthula's face VAE (§3.2.2): beyond the report.
    """
    if int(prior_components) < 0:
        raise ValueError(f"prior_components must be 0 (standard normal) or more, got {prior_components}")
    prior = {"kind": "mixture", "components": int(prior_components)} if prior_components else {"kind": "normal"}
    h, w, c = check_divisible(image_shape, 1, "vae_mlp")
    latent_dim = check_latent_dim(latent_dim)
    images = keras.Input((h, w, c), name="images")
    hidden = layers.Dense(400, activation="relu", name="fc1")(layers.Flatten()(images))  # [B, 400]
    encoder = keras.Model(images, [layers.Dense(latent_dim, name="z_mean")(hidden),
                                   layers.Dense(latent_dim, name="z_log_var")(hidden)], name="encoder")
    decoder = dense_stack((400,), input_shape=(latent_dim,), activation=_relu, output_units=math.prod((h, w, c)),
                          output_shape=(h, w, c), name="decoder", input_name="z")  # Bernoulli logits
    return VAE(encoder, decoder, latent_dim=latent_dim, image_shape=(h, w, c), value_range="zero_one",
               likelihood="bernoulli", prior=prior, kl="monte_carlo" if prior_components else "analytic",
               name="vae_mlp")
