"""Kingma & Welling 2014, "Auto-Encoding Variational Bayes": the VAE family (and, with labels,
the conditional VAE of Sohn et al. 2015 that Dietrich et al., report 003 §II.C, train)."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from keras_gen.families.base import (
    PACKAGE,
    GenerativeModel,
    as_float32,
    average_over_global_batch,
    deserialize,
)
from keras_gen.utils import seeded
from keras_gen.utils.mixture import COVARIANCES
from keras_gen.utils.probability import tfd


def mixture_draw(logits, locs, log_scales, eps, seeds, scale_trils=None):
    """One draw per seed from a mixture of Gaussians, ``logits`` ``[K]``, ``locs`` ``[K, latent]``:
    the component from a uniform on the seed's second stream (inverse CDF of the softmax weights),
    then that component's location + scale * ``eps`` [B, latent], the scale being diagonal
    (``log_scales`` ``[K, latent]``) or, given ``scale_trils`` ``[K, latent, latent]``, a full
    covariance's Cholesky factor."""
    u = seeded.uniform(seeds, 1, stream=1)  # [B, 1]
    cdf = tf.cumsum(tf.nn.softmax(logits))[:-1]  # [K - 1]
    component = tf.reduce_sum(tf.cast(u > cdf[None, :], tf.int32), axis=1)  # [B]
    if scale_trils is not None:
        return tf.gather(locs, component) + tf.linalg.matvec(tf.gather(scale_trils, component), eps)  # [B, latent]
    return tf.gather(locs, component) + tf.exp(tf.gather(log_scales, component)) * eps  # [B, latent]


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
    * ``latent_sampler``: ``{"components": K, "covariance": "full" | "diag"}`` once
      :meth:`fit_latent_sampler` has fitted a mixture of K Gaussians (full or diagonal covariances;
      a config without ``covariance`` is diagonal, as before full ones were added) to the encoder's
      means over the training images: sampling
      (``sample``, ``latent_from_seeds``, an export's ``sample``/``latent``) then draws from that
      aggregate posterior instead of the prior, which the encoder's codes rarely fill (Ghosh et al.
      2020, "From Variational to Deterministic Autoencoders", §4's ex-post density estimation;
      Dai & Wipf 2019's second stage plays the same part). Training, ``generate``/``decode`` and
      the likelihood figures are unchanged.
    """

    family = "vae"
    network_args = ("encoder", "decoder")

    def __init__(self, encoder, decoder, *, latent_dim, image_shape, value_range="zero_one", num_classes=None,
                 likelihood: str = "bernoulli", prior=None, kl: str = "analytic", beta: float = 1.0,
                 latent_sampler=None, **kwargs):
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
        self.latent_sampler = None
        if latent_sampler:
            self._add_sampler_weights(int(latent_sampler["components"]), latent_sampler.get("covariance", "diag"))
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
            "latent_sampler": self.latent_sampler,
        }

    # -- the ex-post latent sampler ----------------------------------------------------------
    def _add_sampler_weights(self, components: int, covariance: str) -> None:
        wanted = {"components": int(components), "covariance": covariance}
        if self.latent_sampler is not None:
            if self.latent_sampler == wanted:
                return
            have = self.latent_sampler
            raise ValueError(f"this model's latent sampler has {have['components']} components with "
                             f"{have['covariance']} covariances; refit it with {have['components']} and "
                             f"{have['covariance']}, or fit a fresh copy of the model")
        if covariance not in COVARIANCES:
            raise ValueError(f"covariance must be one of {', '.join(COVARIANCES)}, got {covariance!r}")
        self.latent_sampler = wanted
        k, d = int(components), self.latent_dim
        self.sampler_logits = self.add_weight(shape=(k,), initializer="zeros", trainable=False,
                                              name="sampler_logits")
        self.sampler_locs = self.add_weight(shape=(k, d), initializer="zeros", trainable=False, name="sampler_locs")
        self.sampler_log_scales = self.sampler_scale_trils = None
        if covariance == "full":
            self.sampler_scale_trils = self.add_weight(shape=(k, d, d), initializer="zeros", trainable=False,
                                                       name="sampler_scale_trils")
        else:
            self.sampler_log_scales = self.add_weight(shape=(k, d), initializer="zeros", trainable=False,
                                                      name="sampler_log_scales")

    def encoder_means(self, data) -> np.ndarray:
        """The encoder's means ``[N, latent]`` over ``data``: a dataset of image batches (or of
        ``(images, labels)``) in the model's value range."""
        means = []
        for batch in data:
            images, labels = self.split_batch(batch)
            means.append(self.encode(images, labels)[0].numpy())
        return np.concatenate(means)

    def fit_latent_sampler(self, data, labels=None, *, components: int = 10, covariance: str = "full",
                           seed: int = 0, progress=None) -> dict:
        """Fit the sampler's mixture to the encoder's means over ``data`` (see the class doc):
        EM with ``covariance`` ("full" or "diag") covariances from a k-means++ start
        (:mod:`keras_gen.utils.mixture`). ``data`` is a
        NumPy array of images (uint8 or [0, 1]; ``labels`` for a conditional model) or a dataset as
        :meth:`encoder_means` takes. Returns what was fitted: components, images, mean
        log-likelihood per code, and that of the N(0, I) prior for the same codes. ``progress``: see
        :func:`~keras_gen.utils.mixture.fit_gmm`."""
        from keras_gen.utils.mixture import fit_gmm

        if isinstance(data, np.ndarray):
            from keras_gen.datasets.pipeline import images_dataset

            data = images_dataset(data, labels, image_shape=self.image_shape, value_range=self.value_range,
                                  batch_size=256, num_classes=self.num_classes, training=False)
        codes = self.encoder_means(data).astype(np.float64)  # [N, latent]
        if len(codes) < components:
            raise ValueError(f"a {components}-component sampler needs at least {components} images, got {len(codes)}")
        self._add_sampler_weights(components, covariance)  # before the fit: a clash is reported at once
        mixture = fit_gmm(codes, components, covariance=covariance, seed=seed, progress=progress)
        self.sampler_logits.assign(np.log(mixture["weights"]).astype(np.float32))
        self.sampler_locs.assign(mixture["means"].astype(np.float32))
        if covariance == "full":
            self.sampler_scale_trils.assign(mixture["scale_trils"].astype(np.float32))
        else:
            self.sampler_log_scales.assign((0.5 * np.log(mixture["variances"])).astype(np.float32))
        prior = -0.5 * (codes ** 2 + np.log(2 * np.pi)).sum(axis=1).mean()
        return {"components": int(components), "covariance": covariance, "images": int(len(codes)),
                "log_likelihood": mixture["log_likelihood"], "prior_log_likelihood": float(prior)}

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
        if self.latent_sampler is not None:  # the fitted aggregate posterior, when there is one
            return mixture_draw(self.sampler_logits, self.sampler_locs, self.sampler_log_scales, eps, seeds,
                                scale_trils=self.sampler_scale_trils)
        if self.prior_config["kind"] != "mixture":
            return eps
        return mixture_draw(self.prior_logits, self.prior_locs, self.prior_log_scales, eps, seeds)

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
