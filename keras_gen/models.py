"""Training families: Keras models that own losses, optimizers and sampling.

The networks themselves come from :mod:`models_zoo`; these classes wrap them. Each overrides
``train_step`` with ``tf.GradientTape``, passes ``training=True`` explicitly to every sub-network
call (BatchNorm and Dropout otherwise run in inference mode), and exposes its loss trackers
through ``metrics`` so ``fit`` logs and resets them each epoch.

Losses are per-example values averaged over the *global* batch with
``tf.nn.compute_average_loss``, so gradients have the right size under ``tf.distribute``
(a plain ``reduce_mean`` would make them N times too large with N replicas).
"""

from __future__ import annotations

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from keras_gen.data import to_unit_range

tfd = tfp.distributions

PACKAGE = "keras_gen"


def _serialize(obj):
    return keras.saving.serialize_keras_object(obj)


def _deserialize(obj):
    return keras.saving.deserialize_keras_object(obj)


def average_over_global_batch(per_example):
    """Mean over the global batch: ``sum / (per-replica batch * replicas)``."""
    return tf.nn.compute_average_loss(per_example)


class GenerativeModel(keras.Model):
    """What every family shares: a latent prior, seeded sampling, and image metadata.

    ``generate(z, labels)`` returns images in the model's ``value_range``; ``sample(seeds)`` draws
    one latent per integer seed from the model's own prior (the same image for the same seed,
    whatever else is in the batch) and returns images in [0, 1].
    """

    family = "generative"
    # The keyword arguments of ``compile`` that take optimizers, the first counting steps.
    optimizer_slots: tuple[str, ...] = ("optimizer",)

    def __init__(self, *, latent_dim: int, image_shape, value_range: str, num_classes=None,
                 data_batch_multiplier: int = 1, **kwargs):
        super().__init__(**kwargs)
        if latent_dim <= 0:
            raise ValueError(f"latent_dim must be positive, got {latent_dim}")
        self.latent_dim = int(latent_dim)
        self.image_shape = tuple(int(d) for d in image_shape)
        self.value_range = value_range
        self.num_classes = None if num_classes is None else int(num_classes)
        # How many model batches one step consumes (k fresh real batches for k critic steps).
        self.data_batch_multiplier = int(data_batch_multiplier)
        self.seed_generator = keras.random.SeedGenerator(1337)

    @property
    def conditional(self) -> bool:
        return self.num_classes is not None

    @property
    def sub_networks(self) -> list:
        raise NotImplementedError

    @property
    def steps_trained(self) -> int:
        optimizer = getattr(self, self.optimizer_slots[0], None)
        return 0 if optimizer is None else int(optimizer.iterations.numpy())  # MirroredVariable-safe

    def get_config(self):
        return {
            **super().get_config(),
            "latent_dim": self.latent_dim,
            "image_shape": list(self.image_shape),
            "value_range": self.value_range,
            "num_classes": self.num_classes,
        }

    # -- prior -----------------------------------------------------------------------------
    def prior(self) -> tfd.Distribution:
        """p(z): a standard normal unless a family overrides it."""
        return tfd.MultivariateNormalDiag(loc=tf.zeros([self.latent_dim]))

    def latent_from_seeds(self, seeds):
        """One latent per int32 seed, drawn statelessly from :meth:`prior`: ``[B] -> [B, latent]``."""
        seeds = tf.cast(seeds, tf.int32)
        prior = self.prior()
        return tf.map_fn(
            lambda s: prior.sample(seed=tf.stack([s, tf.constant(0x6B67, tf.int32)])),
            seeds,
            fn_output_signature=tf.TensorSpec([self.latent_dim], tf.float32),
        )

    def random_latent(self, batch_size):
        """Latents for training: ``[batch, latent]`` from the prior, advancing the seed generator."""
        seed = keras.random.randint([2], 0, 2**31 - 1, seed=self.seed_generator, dtype="int32")
        return self.prior().sample(batch_size, seed=seed)

    def random_labels(self, batch_size):
        return keras.random.randint([batch_size], 0, self.num_classes, seed=self.seed_generator, dtype="int32")

    # -- generation --------------------------------------------------------------------------
    def generate(self, z, labels=None, training=False):
        """Images in the model's value range from latents ``z`` ([B, latent])."""
        raise NotImplementedError

    def generate_unit(self, z, labels=None):
        return to_unit_range(self.generate(z, labels), self.value_range)

    def sample(self, seeds, labels=None):
        """``[B]`` int seeds -> ``[B, H, W, C]`` images in [0, 1], deterministic per seed."""
        return self.generate_unit(self.latent_from_seeds(seeds), labels)

    def call(self, z, training=False):
        return self.generate(z, training=training)

    # -- helpers for train steps --------------------------------------------------------------
    @staticmethod
    def split_batch(data):
        if isinstance(data, (tuple, list)):
            images = data[0]
            labels = data[1] if len(data) > 1 else None
        else:
            images, labels = data, None
        return images, labels

    def _net_inputs(self, x, labels):
        return x if not self.conditional else [x, labels]


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

    def __init__(self, generator, discriminator, *, latent_dim, image_shape, value_range="minus_one_one",
                 num_classes=None, d_steps: int = 1, generator_loss: str = "non_saturating",
                 label_smoothing: float = 0.0, generator_step: str = "fresh", **kwargs):
        if isinstance(generator, dict):
            generator = _deserialize(generator)
        if isinstance(discriminator, dict):
            discriminator = _deserialize(discriminator)
        if generator_loss not in ("non_saturating", "minimax"):
            raise ValueError(f"generator_loss must be 'non_saturating' or 'minimax', got {generator_loss!r}")
        if d_steps < 1:
            raise ValueError(f"d_steps must be >= 1, got {d_steps}")
        if generator_step not in ("fresh", "reuse"):
            raise ValueError(f"generator_step must be 'fresh' or 'reuse', got {generator_step!r}")
        super().__init__(latent_dim=latent_dim, image_shape=image_shape, value_range=value_range,
                         num_classes=num_classes, data_batch_multiplier=d_steps, **kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.d_steps = int(d_steps)
        self.generator_loss = generator_loss
        self.label_smoothing = float(label_smoothing)
        self.generator_step = generator_step
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.d_real_tracker = keras.metrics.Mean(name="d_real")  # mean D(x): drifts to 0.5 at equilibrium
        self.d_fake_tracker = keras.metrics.Mean(name="d_fake")
        self.built = True  # the sub-networks are built functional models

    def get_config(self):
        return {
            **super().get_config(),
            "generator": _serialize(self.generator),
            "discriminator": _serialize(self.discriminator),
            "d_steps": self.d_steps,
            "generator_loss": self.generator_loss,
            "label_smoothing": self.label_smoothing,
            "generator_step": self.generator_step,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    # -- compile / saving ----------------------------------------------------------------------
    def compile(self, *, g_optimizer, d_optimizer, jit_compile=False, **kwargs):
        super().compile(jit_compile=jit_compile, **kwargs)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        # Create the slots now, in the strategy's scope: created lazily inside the replica function,
        # Adam/RMSprop slots fail under MirroredStrategy ("must feed a value for placeholder").
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)

    def get_compile_config(self):
        return {"g_optimizer": _serialize(self.g_optimizer), "d_optimizer": _serialize(self.d_optimizer)}

    def compile_from_config(self, config):
        # compile builds the slots, so the saved optimizer state (moments, step count) loads into them.
        self.compile(g_optimizer=_deserialize(config["g_optimizer"]), d_optimizer=_deserialize(config["d_optimizer"]))

    @property
    def sub_networks(self):
        return [self.generator, self.discriminator]

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker, self.d_real_tracker, self.d_fake_tracker]

    # -- model -------------------------------------------------------------------------------
    def generate(self, z, labels=None, training=False):
        return self.generator(self._net_inputs(z, labels), training=training)

    def discriminate(self, images, labels=None, training=False):
        """Logits that ``images`` are real."""
        return self.discriminator(self._net_inputs(images, labels), training=training)

    def score(self, images, labels=None):
        """Probability that ``images`` (in the model's value range) are real: ``[B]``."""
        return tf.sigmoid(self.discriminate(images, labels))[:, 0]

    @staticmethod
    def _bce(logits, target):
        """Per-example binary cross-entropy against a constant target: ``[B, 1] -> [B]``."""
        logits = tf.reshape(logits, [tf.shape(logits)[0]])
        return tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.fill(tf.shape(logits), target), logits=logits)

    def discriminator_loss(self, real_logits, fake_logits):
        """Per-example -log D(x) - log(1 - D(G(z))): ``[B]``."""
        return self._bce(real_logits, 1.0 - self.label_smoothing) + self._bce(fake_logits, 0.0)

    def generator_objective(self, fake_logits):
        """Per-example generator loss: ``[B]``."""
        if self.generator_loss == "non_saturating":
            return self._bce(fake_logits, 1.0)  # -log D(G(z))
        return -self._bce(fake_logits, 0.0)  # log(1 - D(G(z)))

    def _discriminator_step(self, real, labels):
        """One discriminator update on ``real`` and a fresh fake batch; returns what the generator
        step and the trackers need: ``(d_loss [B], real_logits, fake_logits, fake, labels)``."""
        z = self.random_latent(tf.shape(real)[0])  # [B, latent]
        with tf.GradientTape() as tape:
            fake = self.generate(z, labels, training=True)  # [B, H, W, C]
            real_logits = self.discriminate(real, labels, training=True)  # [B, 1]
            fake_logits = self.discriminate(fake, labels, training=True)
            d_loss = self.discriminator_loss(real_logits, fake_logits)  # [B]
            d_objective = average_over_global_batch(d_loss)
        grads = tape.gradient(d_objective, self.discriminator.trainable_variables)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_variables))
        return d_loss, real_logits, fake_logits, fake, labels

    def _generator_loss(self, fake, labels):
        """Per-example generator loss of ``fake`` under the current discriminator: ``[B]``."""
        return self.generator_objective(self.discriminate(fake, labels, training=True))

    def train_step(self, data):
        real_all, labels_all = self.split_batch(data)
        real_chunks = tf.split(real_all, self.d_steps) if self.d_steps > 1 else [real_all]
        label_chunks = (tf.split(labels_all, self.d_steps) if self.d_steps > 1 else [labels_all]) \
            if labels_all is not None and self.conditional else [None] * self.d_steps
        for real, labels in zip(real_chunks[:-1], label_chunks[:-1]):  # k - 1 discriminator steps, unrolled
            self._discriminator_step(real, labels)
        if self.generator_step == "reuse":
            # The generator's tape records the last discriminator step's generation: its update
            # then runs on that fake batch, through the discriminator updated meanwhile.
            with tf.GradientTape() as tape:
                d_loss, real_logits, fake_logits, fake, g_labels = self._discriminator_step(real_chunks[-1],
                                                                                           label_chunks[-1])
                g_loss = self._generator_loss(fake, g_labels)  # [B]
                g_objective = average_over_global_batch(g_loss)
        else:
            d_loss, real_logits, fake_logits, _, _ = self._discriminator_step(real_chunks[-1], label_chunks[-1])
            batch = tf.shape(real_chunks[-1])[0]
            z = self.random_latent(batch)
            g_labels = self.random_labels(batch) if self.conditional else None
            with tf.GradientTape() as tape:
                g_loss = self._generator_loss(self.generate(z, g_labels, training=True), g_labels)  # [B]
                g_objective = average_over_global_batch(g_loss)
        grads = tape.gradient(g_objective, self.generator.trainable_variables)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_variables))

        # Trackers take per-example values: their mean is right under any number of replicas.
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        self.d_real_tracker.update_state(tf.sigmoid(real_logits))
        self.d_fake_tracker.update_state(tf.sigmoid(fake_logits))
        return {m.name: m.result() for m in self.metrics}


@keras.saving.register_keras_serializable(package=PACKAGE)
class VAE(GenerativeModel):
    """Kingma & Welling 2014 variational auto-encoder.

    * Encoder: Gaussian q(z|x) = N(mu, diag(exp(log_var))); the network returns either one tensor
      ``[B, 2*latent]`` (mean then log-variance, as TF's CVAE tutorial) or a pair ``(mu, log_var)``.
    * Decoder: ``likelihood="bernoulli"`` reads the output as logits (data in [0, 1]);
      ``"gaussian"`` as the mean with one learned global scale (sigma-VAE, Rybkin et al. 2021).
    * Prior: ``{"kind": "normal"}`` (analytic KL unless ``kl="monte_carlo"``), or
      ``{"kind": "mixture", "components": K}``, a learnable mixture of K diagonal Gaussians
      (``tfd.MixtureSameFamily``) whose KL is always the single-sample Monte-Carlo estimate
      log q(z|x) - log p(z).
    * ``beta`` weights the KL term (beta-VAE, Higgins et al. 2017); 1 is the ELBO.
    """

    family = "vae"

    def __init__(self, encoder, decoder, *, latent_dim, image_shape, value_range="zero_one", num_classes=None,
                 likelihood: str = "bernoulli", prior=None, kl: str = "analytic", beta: float = 1.0, **kwargs):
        if isinstance(encoder, dict):
            encoder = _deserialize(encoder)
        if isinstance(decoder, dict):
            decoder = _deserialize(decoder)
        if likelihood not in ("bernoulli", "gaussian"):
            raise ValueError(f"likelihood must be 'bernoulli' or 'gaussian', got {likelihood!r}")
        if kl not in ("analytic", "monte_carlo"):
            raise ValueError(f"kl must be 'analytic' or 'monte_carlo', got {kl!r}")
        prior = dict(prior or {"kind": "normal"})
        if prior.get("kind") not in ("normal", "mixture"):
            raise ValueError(f"prior kind must be 'normal' or 'mixture', got {prior.get('kind')!r}")
        super().__init__(latent_dim=latent_dim, image_shape=image_shape, value_range=value_range,
                         num_classes=num_classes, **kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.likelihood = likelihood
        self.prior_config = prior
        self.kl = kl
        self.beta = float(beta)
        if likelihood == "gaussian":
            self.log_scale = self.add_weight(shape=(), initializer="zeros", name="decoder_log_scale")
        if prior["kind"] == "mixture":
            k = int(prior.get("components", 2))
            # Means spread so the components start apart; scales start at 1.
            self.prior_logits = self.add_weight(shape=(k,), initializer="zeros", name="prior_logits")
            self.prior_locs = self.add_weight(shape=(k, self.latent_dim),
                                              initializer=keras.initializers.RandomNormal(stddev=1.0, seed=7),
                                              name="prior_locs")
            self.prior_log_scales = self.add_weight(shape=(k, self.latent_dim), initializer="zeros",
                                                    name="prior_log_scales")
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.recon_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")
        self.built = True  # the sub-networks are built functional models

    def get_config(self):
        return {
            **super().get_config(),
            "encoder": _serialize(self.encoder),
            "decoder": _serialize(self.decoder),
            "likelihood": self.likelihood,
            "prior": self.prior_config,
            "kl": self.kl,
            "beta": self.beta,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def compile(self, *, optimizer, jit_compile=False, **kwargs):
        super().compile(optimizer=optimizer, jit_compile=jit_compile, **kwargs)

    def get_compile_config(self):
        return {"optimizer": _serialize(self.optimizer)}

    def compile_from_config(self, config):
        self.compile(optimizer=_deserialize(config["optimizer"]))
        self.optimizer.build(self.trainable_variables)

    @property
    def sub_networks(self):
        return [self.encoder, self.decoder]

    @property
    def metrics(self):
        return [self.loss_tracker, self.recon_tracker, self.kl_tracker]

    # -- distributions -----------------------------------------------------------------------
    def prior(self):
        if self.prior_config["kind"] == "mixture":
            return tfd.MixtureSameFamily(
                mixture_distribution=tfd.Categorical(logits=self.prior_logits),
                components_distribution=tfd.MultivariateNormalDiag(
                    loc=self.prior_locs, scale_diag=tf.exp(self.prior_log_scales)),
            )
        return super().prior()

    def encode(self, images, labels=None, training=False):
        """``images -> (z_mean, z_log_var)``, each ``[B, latent]``."""
        out = self.encoder(self._net_inputs(images, labels), training=training)
        if isinstance(out, (list, tuple)):
            z_mean, z_log_var = out
        else:
            z_mean, z_log_var = tf.split(out, 2, axis=-1)
        return z_mean, z_log_var

    def decode_logits(self, z, labels=None, training=False):
        return self.decoder(self._net_inputs(z, labels), training=training)

    def generate(self, z, labels=None, training=False):
        """The decoder's mean: sigmoid(logits) for Bernoulli, the Gaussian mean otherwise."""
        out = self.decode_logits(z, labels, training=training)
        return tf.sigmoid(out) if self.likelihood == "bernoulli" else out

    def reconstruct(self, images, labels=None):
        z_mean, _ = self.encode(images, labels)
        return self.generate_unit(z_mean, labels)

    def log_likelihood(self, images, decoded):
        """log p(x|z) per example, summed over pixels: ``[B]``."""
        if self.likelihood == "bernoulli":
            per_pixel = -tf.nn.sigmoid_cross_entropy_with_logits(labels=images, logits=decoded)
        else:
            dist = tfd.Normal(loc=decoded, scale=tf.exp(self.log_scale))
            per_pixel = dist.log_prob(images)
        return tf.reduce_sum(tf.reshape(per_pixel, [tf.shape(images)[0], -1]), axis=-1)

    def kl_divergence(self, z, z_mean, z_log_var):
        """KL(q(z|x) || p(z)) per example: ``[B]``; analytic or single-sample Monte-Carlo."""
        if self.kl == "analytic" and self.prior_config["kind"] == "normal":
            return -0.5 * tf.reduce_sum(1.0 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var), axis=-1)
        posterior = tfd.MultivariateNormalDiag(loc=z_mean, scale_diag=tf.exp(0.5 * z_log_var))
        return posterior.log_prob(z) - self.prior().log_prob(z)

    def losses_per_example(self, images, labels=None, training=False):
        """``(negative ELBO, -log p(x|z), KL)`` per example, each ``[B]``; beta applied to the first."""
        z_mean, z_log_var = self.encode(images, labels, training=training)
        eps = keras.random.normal(tf.shape(z_mean), seed=self.seed_generator)
        z = z_mean + tf.exp(0.5 * z_log_var) * eps  # reparameterisation, [B, latent]
        decoded = self.decode_logits(z, labels, training=training)
        recon = -self.log_likelihood(images, decoded)
        kl = self.kl_divergence(z, z_mean, z_log_var)
        return recon + self.beta * kl, recon, kl

    def _update_trackers(self, loss, recon, kl):
        """Per-example values: the trackers' means are right under any number of replicas."""
        self.loss_tracker.update_state(loss)
        self.recon_tracker.update_state(recon)
        self.kl_tracker.update_state(kl)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        images, labels = self.split_batch(data)
        labels = labels if self.conditional else None
        with tf.GradientTape() as tape:
            loss, recon, kl = self.losses_per_example(images, labels, training=True)  # each [B]
            objective = average_over_global_batch(loss)
        grads = tape.gradient(objective, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return self._update_trackers(loss, recon, kl)

    def test_step(self, data):
        images, labels = self.split_batch(data)
        labels = labels if self.conditional else None
        return self._update_trackers(*self.losses_per_example(images, labels, training=False))
