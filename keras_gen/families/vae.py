"""Kingma & Welling 2014, "Auto-Encoding Variational Bayes": the VAE family (and, with labels,
the conditional VAE of Sohn et al. 2015 that Dietrich et al., report 003 §II.C, train)."""

from __future__ import annotations

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from keras_gen.families.base import (
    PACKAGE,
    GenerativeModel,
    as_float32,
    average_over_global_batch,
    deserialize,
)
from keras_gen.utils import seeded

tfd = tfp.distributions


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
    network_args = ("encoder", "decoder")

    def __init__(self, encoder, decoder, *, latent_dim, image_shape, value_range="zero_one", num_classes=None,
                 likelihood: str = "bernoulli", prior=None, kl: str = "analytic", beta: float = 1.0, **kwargs):
        if likelihood not in ("bernoulli", "gaussian"):
            raise ValueError(f"likelihood must be 'bernoulli' or 'gaussian', got {likelihood!r}")
        if kl not in ("analytic", "monte_carlo"):
            raise ValueError(f"kl must be 'analytic' or 'monte_carlo', got {kl!r}")
        prior = dict(prior or {"kind": "normal"})
        if prior.get("kind") not in ("normal", "mixture"):
            raise ValueError(f"prior kind must be 'normal' or 'mixture', got {prior.get('kind')!r}")
        super().__init__(latent_dim=latent_dim, image_shape=image_shape, value_range=value_range,
                         num_classes=num_classes, **kwargs)
        self.encoder = deserialize(encoder)
        self.decoder = deserialize(decoder)
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
            "likelihood": self.likelihood,
            "prior": self.prior_config,
            "kl": self.kl,
            "beta": self.beta,
        }

    def compile(self, optimizer=None, *, jit_compile=False, **kwargs):
        """Compile with ``optimizer``; left out, the report's (zoo models)."""
        optimizer = self._optimizers({"optimizer": optimizer})["optimizer"]
        # Under mixed_float16 Keras wraps ``optimizer`` in a LossScaleOptimizer (auto_scale_loss).
        super().compile(optimizer=optimizer, jit_compile=jit_compile, **kwargs)
        self.optimizer.build(self.trainable_variables)  # slots in the strategy's scope (see GAN.compile)

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

    def latent_from_noise(self, eps, seeds):
        if self.prior_config["kind"] != "mixture":
            return eps
        # A mixture draw: the component from a uniform on its own stream (inverse CDF of the
        # softmax weights), then that component's location + scale * eps.
        u = seeded.uniform(seeds, 1, stream=1)  # [B, 1]
        cdf = tf.cumsum(tf.nn.softmax(self.prior_logits))[:-1]  # [K - 1]
        component = tf.reduce_sum(tf.cast(u > cdf[None, :], tf.int32), axis=1)  # [B]
        loc = tf.gather(self.prior_locs, component)  # [B, latent]
        scale = tf.exp(tf.gather(self.prior_log_scales, component))
        return loc + scale * eps

    def encode(self, images, labels=None, training=False):
        """``images -> (z_mean, z_log_var)``, each ``[B, latent]``, float32."""
        out = self.encoder(self._net_inputs(images, labels), training=training)
        if isinstance(out, (list, tuple)):
            z_mean, z_log_var = out
        else:
            z_mean, z_log_var = tf.split(out, 2, axis=-1)
        return as_float32(z_mean, z_log_var)  # float16 under mixed precision: the distributions are float32

    def decode_logits(self, z, labels=None, training=False):
        return as_float32(self.decoder(self._net_inputs(z, labels), training=training))

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
        with tf.GradientTape() as tape:
            loss, recon, kl = self.losses_per_example(images, labels, training=True)  # each [B]
            objective = self.optimizer.scale_loss(average_over_global_batch(loss))  # loss scaling: mixed precision
        grads = tape.gradient(objective, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return self._update_trackers(loss, recon, kl)

    def test_step(self, data):
        images, labels = self.split_batch(data)
        return self._update_trackers(*self.losses_per_example(images, labels, training=False))
