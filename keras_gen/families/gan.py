"""Goodfellow et al. 2014, "Generative Adversarial Nets": the adversarial train step every GAN
family shares.

One train step, written once: k discriminator (critic) updates, each on a fresh real batch (the
first k - 1 in a ``tf.while_loop`` on one device), then one generator update. The variants change
only what they must, by overriding hooks:

* :meth:`GAN.discriminator_outputs` -- what the discriminator says about a batch (an auxiliary
  class head adds class logits: :mod:`keras_gen.families.acgan`);
* :meth:`GAN.discriminator_loss`, :meth:`GAN.generator_objective` -- the per-example objectives
  (the Wasserstein losses: :mod:`keras_gen.families.wgan`);
* :meth:`GAN.discriminator_penalty` -- an extra per-example term for the critic (WGAN-GP);
* :meth:`GAN.after_discriminator_update` -- work after each critic update (weight clipping);
* :meth:`GAN.fake_labels` -- the labels of a discriminator step's fake batch;
* :meth:`GAN.update_trackers` -- what is logged.

The auxiliary class cross-entropy (AC-GAN) is added by the loop whenever the discriminator returns
class logits, for both networks, so every family with a class head gets the same L_C.

``ema_decay`` keeps an exponential moving average of the generator's weights (Karras et al. 2018,
"Progressive Growing of GANs", §A.1; Yazıcı et al. 2019, "The Unusual Effectiveness of Averaging in
GAN Training"): ``generator_ema`` is a second copy of the network, updated after every generator
step, ``ema <- decay * ema + (1 - decay) * weights`` for every float weight (BatchNorm's moving
statistics included); it is what ``generate`` runs outside training, so samples, grids,
evaluations and exports are the averaged network's. Checkpoints hold both networks.

``diffaugment`` (a list of :mod:`keras_gen.families.augment`'s policies) augments real and fake
images wherever the discriminator sees them, in its own update and in the generator's (Zhao et al.
2020). WGAN-GP's penalty is computed on the images before augmentation.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_gen.families.augment import augment as augment_images
from keras_gen.families.augment import check_policies
from keras_gen.families.base import (
    PACKAGE,
    GenerativeModel,
    as_float32,
    average_over_global_batch,
    deserialize,
    loss_scaled,
)


def class_cross_entropy(class_logits, labels):
    """Per-example softmax cross-entropy of integer ``labels`` ([B]) under ``class_logits`` ([B, K]): ``[B]``."""
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(labels, tf.int32), logits=class_logits)


def class_hits(class_logits, labels):
    """1.0 where the arg-max class is ``labels``, else 0.0: ``[B]``."""
    predicted = tf.argmax(class_logits, axis=-1, output_type=tf.int32)
    return tf.cast(tf.equal(predicted, tf.cast(labels, tf.int32)), tf.float32)


@keras.saving.register_keras_serializable(package=PACKAGE)
class GAN(GenerativeModel):
    """Goodfellow et al. 2014 GAN with a binary cross-entropy objective.

    The discriminator outputs a *logit*; the sigmoid that the reports put in the network lives in
    the loss (``from_logits``), which is numerically stable and has the same parameters.

    * ``generator_loss="non_saturating"`` minimises -log D(G(z)) (Goodfellow et al. §3; Schulz §6);
      ``"minimax"`` minimises log(1 - D(G(z))), the objective as written in the reports' equations.
    * ``d_steps`` discriminator steps per generator step (Ponnuru's *k*), each on a fresh real
      batch: the input pipeline delivers ``d_steps`` batches per step.
    * ``generator_step="fresh"`` draws new latents for the generator's update (Goodfellow et al.
      Algorithm 1); ``"reuse"`` updates the generator on the fake batch of the last discriminator
      step, through the updated discriminator (one fake batch per iteration, as PyTorch's DCGAN
      loop and the reports that print theirs do; it saves one generator forward pass per step).
    """

    family = "gan"
    optimizer_slots = ("g_optimizer", "d_optimizer")
    network_args = ("generator", "discriminator")

    def __init__(self, generator, discriminator, *, latent_dim, image_shape, value_range="minus_one_one",
                 num_classes=None, d_steps: int = 1, generator_loss: str = "non_saturating",
                 label_smoothing: float = 0.0, generator_step: str = "fresh", ema_decay: float | None = None,
                 diffaugment=None, **kwargs):
        if generator_loss not in ("non_saturating", "minimax"):
            raise ValueError(f"generator_loss must be 'non_saturating' or 'minimax', got {generator_loss!r}")
        if d_steps < 1:
            raise ValueError(f"d_steps must be >= 1, got {d_steps}")
        if generator_step not in ("fresh", "reuse"):
            raise ValueError(f"generator_step must be 'fresh' or 'reuse', got {generator_step!r}")
        super().__init__(latent_dim=latent_dim, image_shape=image_shape, value_range=value_range,
                         num_classes=num_classes, data_batch_multiplier=d_steps, **kwargs)
        self.generator = deserialize(generator)
        self.discriminator = deserialize(discriminator)
        self.d_steps = int(d_steps)
        self.generator_loss = generator_loss
        self.label_smoothing = float(label_smoothing)
        self.generator_step = generator_step
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.d_real_tracker = keras.metrics.Mean(name="d_real")  # mean D(x): drifts to 0.5 at equilibrium
        self.d_fake_tracker = keras.metrics.Mean(name="d_fake")
        self.ema_decay = None
        self.generator_ema = None
        if ema_decay is not None:
            self.enable_ema(ema_decay)
        self.diffaugment = None
        if diffaugment:
            self.enable_diffaugment(diffaugment)
        self.built = True  # the sub-networks are built functional models

    def enable_ema(self, decay: float) -> None:
        """Keep a moving average of the generator's weights, starting from its current ones."""
        decay = float(decay)
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1), e.g. 0.999, got {decay}")
        if self.generator_ema is None:
            self.generator_ema = keras.models.clone_model(self.generator)
            self.generator_ema.set_weights(self.generator.get_weights())
            self.generator_ema.trainable = False
        self.ema_decay = decay

    def enable_diffaugment(self, policies) -> None:
        """Augment what the discriminator sees with ``policies`` (e.g. ``["translation", "cutout"]``)."""
        self.diffaugment = list(check_policies(policies, self.image_shape[-1]))

    def augmented(self, images):
        """``images`` as the discriminator sees them in training: augmented when asked for."""
        return images if not self.diffaugment else augment_images(images, self.diffaugment, self.seed_generator)

    def update_ema(self):
        """One step of the average (inside the compiled step, after the generator's update)."""
        for average, weight in zip(self.generator_ema.weights, self.generator.weights):
            if "float" in str(average.dtype):
                average.assign(self.ema_decay * average + (1.0 - self.ema_decay) * tf.cast(weight, average.dtype))

    def get_config(self):
        return {
            **super().get_config(),
            "d_steps": self.d_steps,
            "generator_loss": self.generator_loss,
            "label_smoothing": self.label_smoothing,
            "generator_step": self.generator_step,
            "ema_decay": self.ema_decay,
            "diffaugment": self.diffaugment,
        }

    def compile(self, *, g_optimizer=None, d_optimizer=None, jit_compile=False, **kwargs):
        """Compile with one optimizer per network; one left out is the report's (zoo models)."""
        super().compile(jit_compile=jit_compile, **kwargs)
        g_optimizer, d_optimizer = self._optimizers({"g_optimizer": g_optimizer, "d_optimizer": d_optimizer}).values()
        # Under mixed_float16, dynamic loss scaling (what Keras' compile does for ``optimizer``).
        self.g_optimizer = loss_scaled(g_optimizer, self.dtype_policy)
        self.d_optimizer = loss_scaled(d_optimizer, self.dtype_policy)
        # Create the slots now, in the strategy's scope: created lazily inside the replica function,
        # Adam/RMSprop slots fail under MirroredStrategy ("must feed a value for placeholder").
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)

    @property
    def sub_networks(self):
        return [self.generator, self.discriminator]

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker, self.d_real_tracker, self.d_fake_tracker]

    # -- model -------------------------------------------------------------------------------
    def generate(self, z, labels=None, training=False):
        # Outside training, the averaged generator when there is one (samples, grids, exports).
        network = self.generator if training or self.generator_ema is None else self.generator_ema
        # float32 whatever the policy (the generator computes in float16 under mixed precision).
        return as_float32(network(self._net_inputs(z, labels), training=training))

    def discriminate(self, images, labels=None, training=False):
        """Logits that ``images`` are real: ``[B, 1]``, float32."""
        return as_float32(self.discriminator(self._net_inputs(images, labels), training=training))

    def score(self, images, labels=None):
        """Probability that ``images`` (in the model's value range) are real: ``[B]``."""
        return tf.sigmoid(as_float32(self.discriminate(images, labels)))[:, 0]

    # -- hooks: what the variants override -------------------------------------------------------
    def discriminator_outputs(self, images, labels=None, training=False):
        """``(scores [B], class logits [B, K] or None)``: real/fake logits here."""
        return self.discriminate(images, labels, training=training)[:, 0], None

    @staticmethod
    def _bce(logits, target):
        """Per-example binary cross-entropy of logits ``[B]`` against a constant target: ``[B]``."""
        logits = tf.reshape(logits, [tf.shape(logits)[0]])
        return tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.fill(tf.shape(logits), target), logits=logits)

    def discriminator_loss(self, real_scores, fake_scores):
        """Per-example -log D(x) - log(1 - D(G(z))): ``[B]``."""
        return self._bce(real_scores, 1.0 - self.label_smoothing) + self._bce(fake_scores, 0.0)

    def generator_objective(self, fake_scores):
        """Per-example generator loss: ``[B]``."""
        if self.generator_loss == "non_saturating":
            return self._bce(fake_scores, 1.0)  # -log D(G(z))
        return -self._bce(fake_scores, 0.0)  # log(1 - D(G(z)))

    def discriminator_penalty(self, real, fake, labels):
        """An extra per-example term of the discriminator's loss (``[B]``, already weighted), or None."""
        return None

    def after_discriminator_update(self):
        """Runs after every discriminator update (inside the compiled step)."""

    def fake_labels(self, real_labels, batch):
        """Labels of a discriminator step's fake batch: the real batch's (conditional), or None."""
        return real_labels

    def update_trackers(self, step: dict, g_loss):
        """Log one train step; ``step`` is :meth:`discriminator_step`'s result for the last update."""
        self.d_loss_tracker.update_state(step["d_loss"])
        self.g_loss_tracker.update_state(g_loss)
        self.d_real_tracker.update_state(tf.sigmoid(step["real_scores"]))
        self.d_fake_tracker.update_state(tf.sigmoid(step["fake_scores"]))

    # -- the train step ------------------------------------------------------------------------
    def discriminator_step(self, real, labels):
        """One discriminator update on ``real`` ([B, H, W, C]) and a fresh fake batch. Returns what
        the generator step and the trackers need: per-example ``d_loss`` [B], ``real_scores``,
        ``fake_scores`` [B], ``real_classes`` ([B, K] or None), ``penalty``, ``fake``, ``fake_labels``."""
        batch = tf.shape(real)[0]
        z = self.random_latent(batch)  # [B, latent]
        fake_labels = self.fake_labels(labels, batch)
        with tf.GradientTape() as tape:
            fake = self.generate(z, fake_labels, training=True)  # [B, H, W, C]
            # float32 whatever the hooks return (a variant's head may compute in float16).
            real_scores, real_classes = as_float32(
                *self.discriminator_outputs(self.augmented(real), labels, training=True))  # [B], [B, K]
            fake_scores, fake_classes = as_float32(
                *self.discriminator_outputs(self.augmented(fake), fake_labels, training=True))
            d_loss = self.discriminator_loss(real_scores, fake_scores)  # [B]
            penalty = self.discriminator_penalty(real, fake, labels)
            if penalty is not None:
                d_loss += penalty
            if real_classes is not None:  # auxiliary classifier: L_C on real and fake images
                d_loss += class_cross_entropy(real_classes, labels) + class_cross_entropy(fake_classes, fake_labels)
            # Scaled by the LossScaleOptimizer under mixed precision; unchanged otherwise.
            d_objective = self.d_optimizer.scale_loss(average_over_global_batch(d_loss))
        grads = tape.gradient(d_objective, self.discriminator.trainable_variables)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_variables))
        self.after_discriminator_update()
        return {"d_loss": d_loss, "real_scores": real_scores, "fake_scores": fake_scores, "real_classes": real_classes,
                "labels": labels, "penalty": penalty, "fake": fake, "fake_labels": fake_labels}

    def generator_step_loss(self, fake, labels):
        """Per-example generator loss of ``fake`` under the current discriminator: ``[B]``."""
        scores, classes = as_float32(*self.discriminator_outputs(self.augmented(fake), labels, training=True))
        loss = self.generator_objective(scores)
        if classes is not None:
            loss += class_cross_entropy(classes, labels)
        return loss

    def critic_steps(self, real_all, labels_all):
        """The first k - 1 discriminator updates; returns the last real batch and its labels, for
        the update the generator's step shares.

        ``real_all`` ([k * B, H, W, C]) holds k real batches one after another (``split_batch``).
        On one device the updates are one ``tf.while_loop``. Unrolled in Python, WGAN-GP's k = 5
        updates (each with a gradient of a gradient) made a 21,000-op graph: its first ``fit`` took
        27.6 CPU-s, against 16.6 with the loop, for the same losses. Under a distribution strategy
        they stay unrolled: there the optimizer's update is a ``merge_call``, which TensorFlow does
        not allow inside a loop's body."""
        k = self.d_steps
        if k == 1:
            return real_all, labels_all

        def by_step(x):  # [k * B, ...] -> [k, B, ...]: row i is the i-th batch (tf.split's chunks)
            return None if x is None else tf.reshape(x, [k, -1, *x.shape[1:]])

        reals, labels = by_step(real_all), by_step(labels_all)

        def update(i):
            self.discriminator_step(reals[i], None if labels is None else labels[i])
            return (i + 1,)

        if tf.distribute.has_strategy():
            for i in range(k - 1):
                update(i)
        else:
            tf.while_loop(lambda i: i < k - 1, update, (tf.constant(0),))
        return reals[k - 1], (None if labels is None else labels[k - 1])

    def train_step(self, data):
        real, labels = self.critic_steps(*self.split_batch(data))  # [B, H, W, C]: the k-th real batch
        if self.generator_step == "reuse":
            # The generator's tape records the last discriminator step's generation: its update
            # then runs on that fake batch, through the discriminator updated meanwhile.
            with tf.GradientTape() as tape:
                step = self.discriminator_step(real, labels)
                g_loss = self.generator_step_loss(step["fake"], step["fake_labels"])  # [B]
                g_objective = self.g_optimizer.scale_loss(average_over_global_batch(g_loss))
        else:
            step = self.discriminator_step(real, labels)
            batch = tf.shape(real)[0]
            z = self.random_latent(batch)
            g_labels = self.random_labels(batch) if self.conditional else None
            with tf.GradientTape() as tape:
                g_loss = self.generator_step_loss(self.generate(z, g_labels, training=True), g_labels)  # [B]
                g_objective = self.g_optimizer.scale_loss(average_over_global_batch(g_loss))
        grads = tape.gradient(g_objective, self.generator.trainable_variables)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_variables))
        if self.generator_ema is not None:
            self.update_ema()
        # Trackers take per-example values: their mean is right under any number of replicas.
        self.update_trackers(step, g_loss)
        return {m.name: m.result() for m in self.metrics}
