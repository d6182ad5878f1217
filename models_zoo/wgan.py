"""Wasserstein GANs on MNIST.

* ``wgan``: Dietrich et al. (report 003), §III.B "Wasserstein GAN" (the critic loses its output
  activation; the loss tracks the Wasserstein distance) with the defaults of Arjovsky, Chintala &
  Bottou 2017, "Wasserstein GAN", Algorithm 1: weight clipping c = 0.01, n_critic = 5, RMSprop 5e-5,
  batch 64. Generator: ``dcgan_upsample``'s (Dietrich §III.A); critic: ``dcgan``'s discriminator
  (Junnuthula §3.1.2) with its linear output.
* ``wgan_gp``: beyond the reports (Schulz (report 004), §8 "Conclusion": "Future work will
  explore ... Wasserstein GANs (WGANs) and gradient penalty methods"): Gulrajani et al. 2017,
  "Improved Training of Wasserstein GANs", Algorithm 1: gradient
  penalty lambda = 10 at interpolates x_hat = eps x + (1 - eps) G(z), eps ~ U(0, 1) per example,
  n_critic = 5, Adam(1e-4, beta_1 0.5, beta_2 0.9). Generator: ``dcgan``'s; critic: ``dcgan``'s
  discriminator without Dropout (and, as the paper requires, without BatchNorm: the penalty is per
  example).
* Both critics drop the output layer's bias (one parameter fewer than ``dcgan``'s discriminator):
  the Wasserstein losses E[D(G(z))] - E[D(x)] and -E[D(G(z))], and the gradient penalty, do not
  change when a constant is added to D, so that bias gets a zero gradient and would never train.
"""

from __future__ import annotations

from keras_gen.families import WGAN
from models_zoo import register
from models_zoo.dcgan import dcgan_generator
from models_zoo.dcgan_upsample import conv_discriminator, upsample_generator


@register(
    "wgan",
    parameters={"generator": (2_330_944, 2_305_472), "critic": (4_305_408, 4_305_408)},
    parameters_source="computed: dcgan's discriminator without the output bias",
    family="gan",
    report="Dietrich (003)",
    section="§III.B",
    dataset="mnist",
    image_shape=(28, 28, 1),
    epochs=50,
    batch_size=64,
    optimizer={"name": "rmsprop", "learning_rate": 5e-5, "rho": 0.99},
)
def build_wgan(*, latent_dim: int = 100, image_shape=(28, 28, 1), n_critic: int = 5) -> WGAN:
    """WGAN with weight clipping (``dcgan_upsample`` generator, ``dcgan`` critic), as Dietrich §III.B.

    Report: Wasserstein loss with a linear critic output, the critic trained more often than the
    generator, Arjovsky et al.'s method ([1]): clip 0.01, 5 critic steps per generator step,
    RMSprop 5e-5. Generator 2,330,944 parameters (as ``dcgan_upsample``), critic 4,305,408
    (``dcgan``'s discriminator without the output bias, see the module docstring).
    Chosen (report silent): batch 64 and RMSprop's rho 0.99 (Arjovsky et al.'s code, PyTorch's
    default), 50 epochs, latent 100.
    """
    return WGAN(
        upsample_generator(latent_dim=latent_dim, image_shape=image_shape),
        conv_discriminator(image_shape=image_shape, batch_norm=False, dropout=0.3, negative_slope=0.3,
                           output_bias=False, name="critic"),
        latent_dim=latent_dim,
        image_shape=image_shape,
        value_range="minus_one_one",
        n_critic=n_critic,
        clip_value=0.01,
        name="wgan",
    )


@register(
    "wgan_gp",
    parameters={"generator": (2_330_944, 2_305_472), "critic": (4_305_408, 4_305_408)},
    parameters_source="computed: dcgan's discriminator without the output bias",
    family="gan",
    report="beyond the reports: Gulrajani et al. 2017; Schulz (004)",
    section="§8 (future work)",
    dataset="mnist",
    image_shape=(28, 28, 1),
    epochs=50,
    batch_size=64,
    optimizer={"name": "adam", "learning_rate": 1e-4, "beta_1": 0.5, "beta_2": 0.9},
)
def build_wgan_gp(*, latent_dim: int = 100, image_shape=(28, 28, 1), n_critic: int = 5) -> WGAN:
    """WGAN-GP (``dcgan`` generator, ``dcgan`` critic without Dropout), lambda 10, as Gulrajani et al.

    Paper: gradient penalty lambda = 10 with eps ~ U(0, 1) per example, n_critic 5, Adam 1e-4 with
    beta_2 0.9, no BatchNorm in the critic. Generator 2,330,944 and critic 4,305,408 parameters
    (no output bias).
    Chosen: beta_1 0.5 (the paper's Algorithm 1 has 0; its MNIST DCGAN code uses 0.5), batch 64,
    50 epochs, latent 100, the critic's LeakyReLU slope 0.3 (``dcgan``'s).
    """
    return WGAN(
        dcgan_generator(latent_dim=latent_dim, image_shape=image_shape),
        conv_discriminator(image_shape=image_shape, batch_norm=False, dropout=0.0, negative_slope=0.3,
                           output_bias=False, name="critic"),
        latent_dim=latent_dim,
        image_shape=image_shape,
        value_range="minus_one_one",
        n_critic=n_critic,
        gp_weight=10.0,
        name="wgan_gp",
    )
