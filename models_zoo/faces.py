"""Face-image models of Junnuthula (report 002), §3.2 "Face Images" (CelebA, RGB).

* ``gan_faces_dense``: the Figure 7 "GAN Summary": a fully connected generator from z in R^200 to
  256x256x3 (202,238,720 parameters, 201.5M of them in the last Dense layer) and a fully connected
  discriminator (100,795,393). Goodfellow et al. 2014, "Generative Adversarial Nets".
* ``dcgan_faces``: the §3.2.1 text: latent 32, Dense -> reshape -> convolutions and transposed
  convolutions with LeakyReLU -> 128x128x3; a convolutional discriminator with a sigmoid output;
  10,000 CelebA images at 128x128. No summary is printed: every size is chosen. Radford et al. 2016.
* ``vae_faces``: §3.2.2 and the Figure 9 "VAE Summary": four stride-2 convolutions (32, 64, 64, 64)
  with LeakyReLU, mu and log-variance in R^200, a Dense(4096) -> 8x8x64 decoder with transposed
  convolutions and a Bernoulli output (2,648,531 parameters); the prior is a mixture of two
  Gaussians (TensorFlow Probability) inside the KL term; Adam 5e-4, 30 epochs. Kingma & Welling 2014.
"""

from __future__ import annotations

import keras
from keras import layers

from keras_gen.families import GAN, VAE
from keras_gen.layers import (  # faster on CPU, same maths (keras_gen/layers.py)
    Conv2D,
    Conv2DTranspose,
)
from models_zoo import register
from models_zoo.checks import check_divisible, check_latent_dim


def dense_face_generator(*, latent_dim: int = 200, image_shape=(256, 256, 3), name: str = "generator") -> keras.Model:
    """z [B, latent] -> image [B, H, W, C] in [-1, 1], fully connected (Junnuthula Fig. 7)."""
    h, w, c = check_divisible(image_shape, 1, "gan_faces_dense")
    stack = [keras.Input((check_latent_dim(latent_dim),), name="z")]
    for units in (256, 512, 1024):  # Dense -> LeakyReLU -> BatchNorm, as the summary orders them
        stack += [layers.Dense(units), layers.LeakyReLU(negative_slope=0.2), layers.BatchNormalization()]
    stack += [layers.Dense(h * w * c, activation="tanh"),  # [B, 196608] at 256x256x3
              layers.Reshape((h, w, c))]  # [B, 256, 256, 3]
    return keras.Sequential(stack, name=name)


def dense_face_discriminator(*, image_shape=(256, 256, 3), name: str = "discriminator") -> keras.Model:
    """image [B, H, W, C] -> real/fake logit [B, 1], fully connected (Junnuthula Fig. 7)."""
    h, w, c = check_divisible(image_shape, 1, "gan_faces_dense")
    return keras.Sequential(
        [
            keras.Input((h, w, c), name="images"),
            layers.Flatten(),  # [B, 196608]
            layers.Dense(512),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Dense(256),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Dense(1),  # logit; sigmoid in the loss
        ],
        name=name,
    )


@register(
    "gan_faces_dense",
    parameters={"generator": (202_238_720, 202_235_136), "discriminator": (100_795_393, 100_795_393)},
    parameters_source="the report's figure (Junnuthula Fig. 7)",
    family="gan",
    report="Junnuthula (002)",
    section="§3.2.1, Fig. 7",
    dataset="celeba",
    image_shape=(256, 256, 3),
    epochs=1000,
    batch_size=32,
    optimizer={"name": "adam", "learning_rate": 2e-4, "beta_1": 0.5},
    jit_compile=True,  # measured: benchmarks/README.md
)
def build_gan_faces_dense(*, latent_dim: int = 200, image_shape=(256, 256, 3)) -> GAN:
    """Fully connected face GAN (G 200-256-512-1024-196608, D 196608-512-256-1), as Junnuthula Fig. 7.

    Report: the printed summaries: generator total 202,238,720 (3,584 non-trainable BatchNorm
    statistics), discriminator 100,795,393; CelebA at 256x256x3; "1000 epochs".
    Chosen (report silent): LeakyReLU slope 0.2, tanh output, BCE with the non-saturating
    generator loss, Adam 2e-4 with beta_1 0.5 (Radford et al.), batch 32.
    """
    return GAN(
        dense_face_generator(latent_dim=latent_dim, image_shape=image_shape),
        dense_face_discriminator(image_shape=image_shape),
        latent_dim=latent_dim,
        image_shape=image_shape,
        value_range="minus_one_one",
        name="gan_faces_dense",
    )


def conv_face_generator(*, latent_dim: int = 32, image_shape=(128, 128, 3), name: str = "generator") -> keras.Model:
    """z [B, latent] -> image [B, H, W, C] in [-1, 1]; H and W multiples of 16."""
    h, w, c = check_divisible(image_shape, 16, "the dcgan_faces generator (four stride-2 upsamplings)")
    stack = [
        keras.Input((check_latent_dim(latent_dim),), name="z"),
        layers.Dense((h // 16) * (w // 16) * 256),  # [B, 8*8*256] at 128x128
        layers.LeakyReLU(negative_slope=0.2),
        layers.Reshape((h // 16, w // 16, 256)),  # [B, 8, 8, 256]
    ]
    for filters in (128, 64, 32, 16):  # maps 16, 32, 64, 128
        stack += [Conv2DTranspose(filters, 4, strides=2, padding="same"), layers.LeakyReLU(negative_slope=0.2)]
    stack.append(Conv2D(c, 5, padding="same", activation="tanh"))  # [B, 128, 128, C]
    return keras.Sequential(stack, name=name)


def conv_face_discriminator(*, image_shape=(128, 128, 3), name: str = "discriminator") -> keras.Model:
    """image [B, H, W, C] -> real/fake logit [B, 1]."""
    h, w, c = check_divisible(image_shape, 16, "the dcgan_faces discriminator (four stride-2 convolutions)")
    stack = [keras.Input((h, w, c), name="images")]
    for filters in (32, 64, 128, 256):  # maps 64, 32, 16, 8 at 128x128
        stack += [Conv2D(filters, 4, strides=2, padding="same"), layers.LeakyReLU(negative_slope=0.2)]
    stack += [layers.Flatten(), layers.Dropout(0.4), layers.Dense(1)]  # logit; the sigmoid is the loss's
    return keras.Sequential(stack, name=name)


@register(
    "dcgan_faces",
    parameters={"generator": (1_238_435, 1_238_435), "discriminator": (706_529, 706_529)},
    parameters_source="computed (chosen sizes)",
    family="gan",
    report="Junnuthula (002)",
    section="§3.2.1",
    dataset="celeba",
    image_shape=(128, 128, 3),
    epochs=50,
    batch_size=32,
    optimizer={"name": "adam", "learning_rate": 2e-4, "beta_1": 0.5},
)
def build_dcgan_faces(*, latent_dim: int = 32, image_shape=(128, 128, 3)) -> GAN:
    """Convolutional face GAN, latent 32 -> 128x128x3, as Junnuthula §3.2.1's text.

    Report: latent 32; Dense -> reshape -> (transposed) convolutions with LeakyReLU -> 128x128x3;
    a convolutional discriminator, Dense output with a sigmoid, BCE; 10,000 CelebA images at
    128x128 (``--limit 10000``).
    Chosen (report silent; *chosen* sizes throughout): Dense to 8x8x256, four 4x4 stride-2
    transposed convolutions (128, 64, 32, 16 filters) and a 5x5 tanh convolution; discriminator
    4x4 stride-2 convolutions of 32, 64, 128, 256 filters, Dropout 0.4 (Chollet's Keras GAN);
    LeakyReLU 0.2; Adam 2e-4 with beta_1 0.5; batch 32; 50 epochs; non-saturating generator loss.
    """
    return GAN(
        conv_face_generator(latent_dim=latent_dim, image_shape=image_shape),
        conv_face_discriminator(image_shape=image_shape),
        latent_dim=latent_dim,
        image_shape=image_shape,
        value_range="minus_one_one",
        name="dcgan_faces",
    )


def face_vae_encoder(*, latent_dim: int = 200, image_shape=(128, 128, 3), name: str = "encoder") -> keras.Model:
    """image [B, H, W, C] -> (mu, log_var), each [B, latent] (Junnuthula Fig. 9)."""
    h, w, c = check_divisible(image_shape, 16, "the vae_faces decoder (four stride-2 upsamplings)")
    latent_dim = check_latent_dim(latent_dim)
    images = keras.Input((h, w, c), name="encoder_input")
    x = images
    for i, filters in enumerate((32, 64, 64, 64)):  # maps 64, 32, 16, 8 at 128x128
        x = Conv2D(filters, 3, strides=2, padding="same", name=f"encoder_conv_{i}")(x)
        x = layers.LeakyReLU(negative_slope=0.3)(x)
    x = layers.Flatten()(x)  # [B, 4096]
    return keras.Model(images, [layers.Dense(latent_dim, name="mu")(x), layers.Dense(latent_dim, name="log_var")(x)],
                       name=name)


def face_vae_decoder(*, latent_dim: int = 200, image_shape=(128, 128, 3), name: str = "decoder") -> keras.Model:
    """z [B, latent] -> Bernoulli logits [B, H, W, C]."""
    h, w, c = check_divisible(image_shape, 16, "the vae_faces decoder (four stride-2 upsamplings)")
    stack = [
        keras.Input((check_latent_dim(latent_dim),), name="decoder_input"),
        layers.Dense((h // 16) * (w // 16) * 64),  # [B, 4096]
        layers.Reshape((h // 16, w // 16, 64)),  # [B, 8, 8, 64]
    ]
    for filters in (64, 64, 32):  # maps 16, 32, 64
        stack += [Conv2DTranspose(filters, 3, strides=2, padding="same"), layers.LeakyReLU(negative_slope=0.3)]
    stack.append(Conv2DTranspose(c, 3, strides=2, padding="same"))  # logits [B, 128, 128, C]
    return keras.Sequential(stack, name=name)


@register(
    "vae_faces",
    parameters={"encoder": (1_732_048, 1_732_048), "decoder": (916_483, 916_483)},
    parameters_source="the report's encoder figure; the decoder computed",
    family="vae",
    report="Junnuthula (002)",
    section="§3.2.2, Fig. 9",
    dataset="celeba",
    image_shape=(128, 128, 3),
    epochs=30,
    batch_size=32,
    optimizer={"name": "adam", "learning_rate": 5e-4},
)
def build_vae_faces(*, latent_dim: int = 200, image_shape=(128, 128, 3), prior_components: int = 2) -> VAE:
    """Convolutional face VAE with a learnable mixture-of-Gaussians prior, as Junnuthula §3.2.2.

    Report: encoder 4 convolutions (32, 64, 64, 64; 3x3, stride 2, LeakyReLU) -> mu, log-variance in
    R^200 (1,732,048 parameters); decoder Dense(4096) -> 8x8x64 -> transposed convolutions
    (64, 64, 32, 3) with a Bernoulli output (916,483); 2,648,531 in all; prior a mixture of two
    Gaussians (``tfd.MixtureSameFamily``) in the KL term (Monte-Carlo: no closed form); Adam 5e-4;
    30 epochs. Samples are drawn from the mixture.
    Chosen (report silent): LeakyReLU slope 0.3 (Keras' default), no activation on the decoder's
    Dense, the mixture's weights, means and scales learned with the model, batch 32.
    """
    if int(prior_components) < 1:
        raise ValueError(f"prior_components must be at least 1, got {prior_components}")
    return VAE(
        face_vae_encoder(latent_dim=latent_dim, image_shape=image_shape),
        face_vae_decoder(latent_dim=latent_dim, image_shape=image_shape),
        latent_dim=latent_dim,
        image_shape=image_shape,
        value_range="zero_one",
        likelihood="bernoulli",
        prior={"kind": "mixture", "components": int(prior_components)},
        kl="monte_carlo",
        name="vae_faces",
    )
