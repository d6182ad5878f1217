"""Wasserstein GANs: Arjovsky, Chintala & Bottou 2017, "Wasserstein GAN" (weight clipping), and
Gulrajani et al. 2017, "Improved Training of Wasserstein GANs" (gradient penalty).

Dietrich et al. (report 003) §III.B: the critic has no output activation; its loss
E[D(G(z))] - E[D(x)] estimates (minus) the Wasserstein distance up to a constant, "so one can
easily determine convergence behaviour of the model" — the one GAN loss that tracks sample
quality, logged here as ``wasserstein`` = E[D(x)] - E[D(G(z))].
"""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_gen.families.base import PACKAGE
from keras_gen.families.gan import GAN


@keras.saving.register_keras_serializable(package=PACKAGE)
class WGAN(GAN):
    """Wasserstein GAN with a linear critic and ``n_critic`` critic steps per generator step.

    * The critic (``self.discriminator``, a network named ``critic``) outputs an unbounded score
      ``[B, 1]``. Critic loss per example: D(G(z)) - D(x); generator loss: -D(G(z)).
    * Every critic step uses a fresh real batch: the input pipeline delivers ``n_critic`` batches
      per step (``data_batch_multiplier``), split here.
    * Lipschitz constraint, one or both of: ``clip_value`` c clips every critic weight to [-c, c]
      after each critic update (Arjovsky et al.: c = 0.01, RMSprop 5e-5, n_critic 5);
      ``gp_weight`` lambda adds lambda * (||grad D(x_hat)||_2 - 1)^2 at x_hat = eps x + (1 - eps) G(z)
      with eps ~ U(0, 1) drawn per example (Gulrajani et al. Algorithm 1: lambda 10, Adam).
    * With ``num_classes`` the critic and generator both take the label (conditional WGAN); the
      fake images of a critic step use the real batch's labels.

    Logged: ``d_loss`` (critic loss, with penalty), ``g_loss``, ``wasserstein`` (E[D(x)] - E[D(G(z))])
    and ``gradient_penalty`` when ``gp_weight`` is set. ``score`` returns the critic's value.
    """

    network_args = ("generator", "critic")

    def __init__(self, generator, critic, *, latent_dim, image_shape, value_range="minus_one_one", num_classes=None,
                 n_critic: int = 5, clip_value: float | None = None, gp_weight: float | None = None, **kwargs):
        if clip_value is None and gp_weight is None:
            raise ValueError("a WGAN needs a Lipschitz constraint: clip_value (weight clipping) or gp_weight "
                             "(gradient penalty)")
        if clip_value is not None and not clip_value > 0:
            raise ValueError(f"clip_value must be positive, got {clip_value}")
        if gp_weight is not None and not gp_weight > 0:
            raise ValueError(f"gp_weight must be positive, got {gp_weight}")
        if n_critic < 1:
            raise ValueError(f"n_critic must be >= 1, got {n_critic}")
        super().__init__(generator, critic, latent_dim=latent_dim, image_shape=image_shape, value_range=value_range,
                         num_classes=num_classes, d_steps=n_critic, **kwargs)
        self.n_critic = int(n_critic)
        self.clip_value = None if clip_value is None else float(clip_value)
        self.gp_weight = None if gp_weight is None else float(gp_weight)
        self.wasserstein_tracker = keras.metrics.Mean(name="wasserstein")
        self.gp_tracker = keras.metrics.Mean(name="gradient_penalty")

    def get_config(self):
        config = super().get_config()
        for key in ("d_steps", "generator_loss", "label_smoothing", "generator_step"):
            config.pop(key, None)
        config.update(n_critic=self.n_critic, clip_value=self.clip_value, gp_weight=self.gp_weight)
        return config

    @property
    def critic(self):
        return self.discriminator

    @property
    def metrics(self):
        trackers = [self.d_loss_tracker, self.g_loss_tracker, self.wasserstein_tracker]
        return trackers + ([self.gp_tracker] if self.gp_weight is not None else [])

    # -- hooks: the Wasserstein objectives ------------------------------------------------------
    def discriminator_loss(self, real_scores, fake_scores):
        """Per-example critic loss D(G(z)) - D(x): ``[B]``."""
        return fake_scores - real_scores

    def generator_objective(self, fake_scores):
        """Per-example generator loss -D(G(z)): ``[B]``."""
        return -fake_scores

    def discriminator_penalty(self, real, fake, labels):
        if self.gp_weight is None:
            return None
        return self.gp_weight * self.gradient_penalty(real, fake, labels)

    def after_discriminator_update(self):
        if self.clip_value is not None:
            self.clip_critic_weights()

    def update_trackers(self, step: dict, g_loss):
        self.d_loss_tracker.update_state(step["d_loss"])
        self.g_loss_tracker.update_state(g_loss)
        self.wasserstein_tracker.update_state(step["real_scores"] - step["fake_scores"])
        if self.gp_weight is not None:
            self.gp_tracker.update_state(step["penalty"] / self.gp_weight)

    def score(self, images, labels=None):
        """The critic's value for ``images`` (in the model's value range): ``[B]``, higher = more real."""
        return self.discriminator_outputs(images, labels)[0]

    def interpolate(self, real, fake):
        """``(x_hat, eps)``: x_hat = eps * real + (1 - eps) * fake, one eps ~ U(0, 1) per example.

        ``real``, ``fake``: ``[B, H, W, C]``; ``eps``: ``[B, 1, 1, 1]`` (Gulrajani et al. Algorithm 1).
        """
        batch = tf.shape(real)[0]
        eps = keras.random.uniform(tf.stack([batch, 1, 1, 1]), minval=0.0, maxval=1.0, seed=self.seed_generator)
        return eps * real + (1.0 - eps) * fake, eps

    def gradient_penalty(self, real, fake, labels=None):
        """Per-example (||grad_x D(x_hat)||_2 - 1)^2 at random interpolates: ``[B]``."""
        x_hat, _ = self.interpolate(real, fake)  # [B, H, W, C]
        with tf.GradientTape() as tape:
            tape.watch(x_hat)
            scores, _ = self.discriminator_outputs(x_hat, labels, training=True)  # [B]
            total = tf.reduce_sum(scores)
        # Examples do not interact in the critic (no BatchNorm), so d(sum of scores)/dx_hat holds
        # each example's own gradient.
        grads = tape.gradient(total, x_hat)  # [B, H, W, C]
        norms = tf.sqrt(tf.reduce_sum(tf.square(tf.reshape(grads, [tf.shape(grads)[0], -1])), axis=-1) + 1e-12)
        return tf.square(norms - 1.0)

    def clip_critic_weights(self):
        for variable in self.discriminator.trainable_variables:
            variable.assign(tf.clip_by_value(variable, -self.clip_value, self.clip_value))
