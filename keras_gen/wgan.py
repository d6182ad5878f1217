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

from keras_gen.models import GAN, PACKAGE, average_over_global_batch


def class_cross_entropy(class_logits, labels):
    """Per-example softmax cross-entropy of integer ``labels`` ([B]) under ``class_logits`` ([B, K]): ``[B]``."""
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(labels, tf.int32), logits=class_logits)


def class_hits(class_logits, labels):
    """1.0 where the arg-max class is ``labels``, else 0.0: ``[B]``."""
    predicted = tf.argmax(class_logits, axis=-1, output_type=tf.int32)
    return tf.cast(tf.equal(predicted, tf.cast(labels, tf.int32)), tf.float32)


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
        for key in ("d_steps", "generator_loss", "label_smoothing"):
            config.pop(key, None)
        config["critic"] = config.pop("discriminator")
        config.update(n_critic=self.n_critic, clip_value=self.clip_value, gp_weight=self.gp_weight)
        return config

    @property
    def critic(self):
        return self.discriminator

    @property
    def metrics(self):
        trackers = [self.d_loss_tracker, self.g_loss_tracker, self.wasserstein_tracker]
        return trackers + ([self.gp_tracker] if self.gp_weight is not None else [])

    # -- model -------------------------------------------------------------------------------
    def critic_outputs(self, images, labels=None, training=False):
        """``(scores [B], class_logits [B, K] or None)``; families with an auxiliary head override it."""
        return self.discriminate(images, labels, training=training)[:, 0], None

    def score(self, images, labels=None):
        """The critic's value for ``images`` (in the model's value range): ``[B]``, higher = more real."""
        return self.critic_outputs(images, labels)[0]

    def fake_labels(self, real_labels, batch):
        """Labels for a critic step's fake images: the real batch's (conditional), or None."""
        return real_labels if self.conditional else None

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
            scores, _ = self.critic_outputs(x_hat, labels, training=True)  # [B]
            total = tf.reduce_sum(scores)
        # Examples do not interact in the critic (no BatchNorm), so d(sum of scores)/dx_hat holds
        # each example's own gradient.
        grads = tape.gradient(total, x_hat)  # [B, H, W, C]
        norms = tf.sqrt(tf.reduce_sum(tf.square(tf.reshape(grads, [tf.shape(grads)[0], -1])), axis=-1) + 1e-12)
        return tf.square(norms - 1.0)

    def clip_critic_weights(self):
        for variable in self.discriminator.trainable_variables:
            variable.assign(tf.clip_by_value(variable, -self.clip_value, self.clip_value))

    # -- training ----------------------------------------------------------------------------
    def train_step(self, data):
        real_all, labels_all = self.split_batch(data)
        real_chunks = tf.split(real_all, self.n_critic) if self.n_critic > 1 else [real_all]
        if self.conditional:
            label_chunks = tf.split(labels_all, self.n_critic) if self.n_critic > 1 else [labels_all]
        else:
            label_chunks = [None] * self.n_critic
        batch = tf.shape(real_chunks[0])[0]
        for real, labels in zip(real_chunks, label_chunks):  # n_critic critic steps, unrolled
            z = self.random_latent(batch)  # [B, latent]
            fake_labels = self.fake_labels(labels, batch)
            with tf.GradientTape() as tape:
                fake = self.generate(z, fake_labels, training=True)  # [B, H, W, C]
                real_scores, real_classes = self.critic_outputs(real, labels, training=True)  # [B], [B, K]|None
                fake_scores, fake_classes = self.critic_outputs(fake, fake_labels, training=True)
                d_loss = fake_scores - real_scores  # [B]
                if self.gp_weight is not None:
                    penalty = self.gradient_penalty(real, fake, labels)  # [B]
                    d_loss += self.gp_weight * penalty
                if real_classes is not None:
                    d_loss += class_cross_entropy(real_classes, labels) + class_cross_entropy(fake_classes, fake_labels)
                d_objective = average_over_global_batch(d_loss)
            grads = tape.gradient(d_objective, self.discriminator.trainable_variables)
            self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_variables))
            if self.clip_value is not None:
                self.clip_critic_weights()

        z = self.random_latent(batch)
        g_labels = self.random_labels(batch) if self.conditional else None
        with tf.GradientTape() as tape:
            fake = self.generate(z, g_labels, training=True)
            scores, classes = self.critic_outputs(fake, g_labels, training=True)
            g_loss = -scores  # [B]
            if classes is not None:
                g_loss += class_cross_entropy(classes, g_labels)
            g_objective = average_over_global_batch(g_loss)
        grads = tape.gradient(g_objective, self.generator.trainable_variables)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_variables))

        # Trackers take per-example values: their means are right under any number of replicas.
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        self.wasserstein_tracker.update_state(real_scores - fake_scores)
        if self.gp_weight is not None:
            self.gp_tracker.update_state(penalty)
        self._update_class_trackers(real_classes, labels)
        return {m.name: m.result() for m in self.metrics}

    def _update_class_trackers(self, class_logits, labels):
        """Hook for families with an auxiliary classifier."""
