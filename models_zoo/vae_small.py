"""A small convolutional VAE built for CPU speed: **not from the reports**.

Issue 27 asks what a VAE reaches in half an hour on a 2-core laptop. The reports' VAEs are either
fully connected (Ponnuru's ``vae_mlp``: fast, blurry) or convolutional at 512 filters and latent 2
(Junnuthula's ``vae_conv``: under an epoch in three minutes here). This one keeps the layout of
the usual small MNIST autoencoders -- two stride-2 convolutions down, two stride-2 transposed
convolutions up, as in TF's CVAE tutorial (the published VAEs it is measured against are deeper and
wider) -- and is sized for an epoch of MNIST in under a minute on two cores (31-50 s measured).

Kingma & Welling 2014, "Auto-Encoding Variational Bayes"; sampled best through the ex-post
mixture of Ghosh et al. 2020, "From Variational to Deterministic Autoencoders" (``--latent-sampler``
/ ``keras-gen fit-sampler``), which plays the part of Dai & Wipf 2019's second stage.
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


@register(
    "vae_small",
    parameters={"encoder": (333_024, 333_024), "decoder": (238_785, 238_785)},
    parameters_source="computed (beyond the reports)",
    family="vae",
    report="beyond the reports: Kingma & Welling 2014",
    section="(no report section: built for CPU speed, issue 27)",
    dataset="mnist",
    image_shape=(28, 28, 1),
    epochs=30,
    batch_size=128,
    optimizer={"name": "adam", "learning_rate": 1e-3},
    jit_compile=False,  # measured: XLA 0.75x (benchmarks/README.md, "vae_small's settings")
    steps_per_execution=8,  # measured: 1.14x over 1 (the same section)
)
def build_vae_small(*, latent_dim: int = 16, image_shape=(28, 28, 1), filters: int = 64,
                    likelihood: str = "bernoulli", beta: float = 1.0) -> VAE:
    """Small convolutional VAE for CPUs (two convolutions each way), not from the reports.

    Chosen (no report): 4x4 stride-2 convolutions of ``filters`` and 2x``filters`` channels with
    ReLU down to a quarter of the image size, one Dense to the mean and log-variance, the mirror
    image up (Dense, then two 4x4 stride-2 transposed convolutions); latent 16 (Ghosh et al.'s for
    MNIST); batch 128; Adam 1e-3 (Kingma & Ba's default); 30 epochs. ``likelihood`` is Bernoulli on
    logits (data in [0, 1]) or ``"gaussian"`` with one learned scale (sigma-VAE, Rybkin et al. 2021);
    ``beta`` weights the KL term (1: the ELBO).
    """
    h, w, c = check_divisible(image_shape, 4, "vae_small (two stride-2 convolutions each way)")
    latent_dim = check_latent_dim(latent_dim)
    if int(filters) <= 0:
        raise ValueError(f"filters must be positive, got {filters}")
    f = int(filters)
    encoder = keras.Sequential(
        [
            keras.Input((h, w, c), name="images"),
            Conv2D(f, 4, strides=2, padding="same", activation="relu"),  # [B, H/2, W/2, f]
            Conv2D(2 * f, 4, strides=2, padding="same", activation="relu"),  # [B, H/4, W/4, 2f]
            layers.Flatten(),  # [B, H*W*f/8]
            layers.Dense(2 * latent_dim),  # [B, 2*latent]: mean, then log-variance
        ],
        name="encoder",
    )
    decoder = keras.Sequential(
        [
            keras.Input((latent_dim,), name="z"),
            layers.Dense((h // 4) * (w // 4) * 2 * f, activation="relu"),  # [B, H*W*f/8]
            layers.Reshape((h // 4, w // 4, 2 * f)),  # [B, H/4, W/4, 2f]
            Conv2DTranspose(f, 4, strides=2, padding="same", activation="relu"),  # [B, H/2, W/2, f]
            Conv2DTranspose(c, 4, strides=2, padding="same"),  # [B, H, W, C]: logits, or the Gaussian's mean
        ],
        name="decoder",
    )
    return VAE(encoder, decoder, latent_dim=latent_dim, image_shape=(h, w, c), value_range="zero_one",
               likelihood=likelihood, beta=beta, name="vae_small")
