"""Fully connected GANs and VAEs on flattened images.

* ``mlp_gan_wide``: Schulz (report 004), §6 "PyTorch Implementation" (the generator fc1..fc4
  128-256-512-784 with ReLU and tanh; the discriminator 512-256-1 with ReLU and sigmoid) and
  §5 (non-saturating generator loss -log D(G(z))). Goodfellow et al. 2014, "Generative
  Adversarial Nets".
* ``vae_mlp_2d``: Ali (report 001), the printed ``VAE(...)`` module (784-512-256 encoder, mu and
  log_var heads in R^2, 2-256-512-784 sigmoid decoder) and its "about 5 epochs"; Ponnuru
  (report 000), §5. Kingma & Welling 2014, "Auto-Encoding Variational Bayes".

PyTorch's parameter count equals Keras' trainable count for these layers (Linear == Dense).
"""

from __future__ import annotations

import math

import keras
from keras import layers

from keras_gen.families import GAN, VAE
from models_zoo import register
from models_zoo.checks import check_divisible, check_latent_dim


def mlp(units, *, input_shape, activation: str, name: str, output_units: int | None = None,
        output_activation=None, output_shape=None, input_name: str = "x") -> keras.Model:
    """Flatten (if needed) -> Dense(units[i], activation) ... -> Dense(output_units) [-> Reshape]."""
    stack = [keras.Input(tuple(input_shape), name=input_name)]
    if len(input_shape) > 1:
        stack.append(layers.Flatten())
    stack += [layers.Dense(u, activation=activation) for u in units]
    if output_units is not None:
        stack.append(layers.Dense(output_units, activation=output_activation))
    if output_shape is not None:
        stack.append(layers.Reshape(tuple(output_shape)))
    return keras.Sequential(stack, name=name)


@register(
    "mlp_gan_wide",
    parameters={"generator": (579_728, 579_728), "discriminator": (533_505, 533_505)},
    parameters_source="the report's layer sizes",
    family="gan",
    report="Schulz (004)",
    section="§6 (architecture), §5 (losses)",
    dataset="mnist",
    image_shape=(28, 28, 1),
    epochs=50,
    batch_size=64,
    optimizer={"name": "adam", "learning_rate": 2e-4, "beta_1": 0.5},
    jit_compile=True,  # measured: benchmarks/README.md
    steps_per_execution=64,  # a step takes milliseconds: call overhead would dominate
)
def build_mlp_gan_wide(*, latent_dim: int = 100, image_shape=(28, 28, 1),
                       generator_loss: str = "non_saturating") -> GAN:
    """MLP GAN (G 128-256-512, D 512-256) with the non-saturating loss, as Schulz §5-6.

    Report: generator 579,728 and discriminator 533,505 parameters (z_dim 100), BCE,
    generator loss -log D(G(z)), 50 epochs; its printed training loop (§6.2) updates the generator
    on the discriminator step's ``fake_imgs`` (``generator_step="reuse"``). Chosen (report silent):
    Adam 2e-4 with beta_1 0.5 (Radford et al.'s GAN setting) and batch 64.
    ``generator_loss="minimax"`` is the loss §5 sets against it, log(1 - D(G(z))) minimised.
    """
    h, w, c = check_divisible(image_shape, 1, "mlp_gan_wide")
    pixels = h * w * c
    generator = mlp((128, 256, 512), input_shape=(check_latent_dim(latent_dim),), activation="relu",
                    output_units=pixels, output_activation="tanh", output_shape=(h, w, c), name="generator",
                    input_name="z")
    discriminator = mlp((512, 256), input_shape=(h, w, c), activation="relu", output_units=1,
                        name="discriminator", input_name="images")  # logit; sigmoid in the loss
    return GAN(generator, discriminator, latent_dim=latent_dim, image_shape=(h, w, c),
               value_range="minus_one_one", generator_loss=generator_loss, generator_step="reuse",
               name="mlp_gan_wide")


@register(
    "vae_mlp_2d",
    parameters={"encoder": (534_276, 534_276), "decoder": (534_544, 534_544)},
    parameters_source="the report's layer sizes",
    family="vae",
    report="Ali (001); Ponnuru (000)",
    section="Ali's VAE module listing; Ponnuru §5",
    dataset="mnist",
    image_shape=(28, 28, 1),
    epochs=5,
    batch_size=128,
    optimizer={"name": "adam", "learning_rate": 1e-3},
    jit_compile=True,  # measured: benchmarks/README.md
    steps_per_execution=64,  # a step takes milliseconds: call overhead would dominate
)
def build_vae_mlp_2d(*, latent_dim: int = 2, image_shape=(28, 28, 1)) -> VAE:
    """MLP VAE (784-512-256, latent 2), as Ali's listing and Ponnuru §5.

    Report: 1,068,820 parameters (encoder 534,276 + decoder 534,544), sigmoid output (here
    Bernoulli logits, the same parameters), about 5 epochs. Chosen (reports silent): Adam 1e-3
    (Ponnuru's VAE setting), batch 128, analytic KL.
    """
    h, w, c = check_divisible(image_shape, 1, "vae_mlp_2d")
    latent_dim = check_latent_dim(latent_dim)
    images = keras.Input((h, w, c), name="images")
    hidden = mlp((512, 256), input_shape=(h, w, c), activation="relu", name="encoder_body", input_name="images")(images)
    encoder = keras.Model(images, [layers.Dense(latent_dim, name="z_mean")(hidden),
                                   layers.Dense(latent_dim, name="z_log_var")(hidden)], name="encoder")
    decoder = mlp((256, 512), input_shape=(latent_dim,), activation="relu", output_units=math.prod((h, w, c)),
                  output_shape=(h, w, c), name="decoder", input_name="z")
    return VAE(encoder, decoder, latent_dim=latent_dim, image_shape=(h, w, c), value_range="zero_one",
               likelihood="bernoulli", kl="analytic", name="vae_mlp_2d")
