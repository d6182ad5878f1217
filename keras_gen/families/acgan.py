"""Auxiliary-classifier GANs: Odena, Olah & Shlens 2017, "Conditional Image Synthesis with
Auxiliary Classifier GANs".

Dietrich et al. (report 003) §III.C: the generator gets the class label as a second input; the
discriminator gets a second task, predicting the class, with the loss L_c (eq. 7) of the class
prediction on real *and* generated images added for both networks. §V.A.2 puts the same head on a
Wasserstein critic ("Auxiliary WGAN", :class:`ACWGAN`).

The discriminator network takes images only and returns ``[real/fake logit [B, 1], class logits
[B, K]]``; the softmax and sigmoid of the reports' networks live in the losses.
"""

from __future__ import annotations

import keras

from keras_gen.families.base import PACKAGE
from keras_gen.families.gan import GAN, class_hits
from keras_gen.families.wgan import WGAN


class AuxiliaryClassifierMixin:
    """What ACGAN and ACWGAN share: a two-headed discriminator that never sees the label. The
    shared train step (:class:`GAN`) adds the class cross-entropy for both networks whenever
    :meth:`discriminator_outputs` returns class logits."""

    def _check_classes(self):
        if self.num_classes is None or self.num_classes < 2:
            raise ValueError(f"an auxiliary-classifier GAN needs num_classes >= 2, got {self.num_classes}")
        self.class_acc_tracker = keras.metrics.Mean(name="class_acc")  # the head's accuracy on real images

    @property
    def metrics(self):
        return [*super().metrics, self.class_acc_tracker]

    def discriminate(self, images, labels=None, training=False):
        """Real/fake logit (or critic score) ``[B, 1]``; the label is not an input of this discriminator."""
        return self.discriminator(images, training=training)[0]

    def classify(self, images, training=False):
        """Class logits ``[B, K]`` of the auxiliary head."""
        return self.discriminator(images, training=training)[1]

    def discriminator_outputs(self, images, labels=None, training=False):
        scores, class_logits = self.discriminator(images, training=training)  # [B, 1], [B, K]
        return scores[:, 0], class_logits

    def fake_labels(self, real_labels, batch):
        """Fake images get labels drawn uniformly (Odena et al.: c' ~ p_c), not the real batch's."""
        return self.random_labels(batch)

    def update_trackers(self, step: dict, g_loss):
        super().update_trackers(step, g_loss)
        self.class_acc_tracker.update_state(class_hits(step["real_classes"], step["labels"]))


@keras.saving.register_keras_serializable(package=PACKAGE)
class ACGAN(AuxiliaryClassifierMixin, GAN):
    """AC-GAN: BCE real/fake loss plus the auxiliary class cross-entropy for both networks.

    * Discriminator loss per example: -log D(x) - log(1 - D(G(z, c'))) + CE(x, c) + CE(G(z, c'), c'),
      c the real labels, c' labels drawn uniformly (Odena et al. eq. 2-3: D maximises L_S + L_C).
    * Generator loss: the GAN objective (``generator_loss``, non-saturating by default) + CE(G(z, c'), c')
      (G maximises L_C - L_S).

    Logged: ``d_loss``, ``g_loss``, ``d_real``, ``d_fake`` and ``class_acc`` (the head on real images).
    ``score(images, label)`` is the probability that ``images`` are real; the label is not used.
    """

    def __init__(self, generator, discriminator, *, latent_dim, image_shape, value_range="minus_one_one",
                 num_classes=None, **kwargs):
        super().__init__(generator, discriminator, latent_dim=latent_dim, image_shape=image_shape,
                         value_range=value_range, num_classes=num_classes, **kwargs)
        self._check_classes()


@keras.saving.register_keras_serializable(package=PACKAGE)
class ACWGAN(AuxiliaryClassifierMixin, WGAN):
    """Auxiliary WGAN (Dietrich §V.A.2): a Wasserstein critic with an auxiliary class head.

    Critic loss per example: D(G(z, c')) - D(x) + CE(x, c) + CE(G(z, c'), c') (+ the gradient
    penalty when ``gp_weight`` is set); generator loss: -D(G(z, c')) + CE(G(z, c'), c'); c' drawn
    uniformly. Weight clipping (``clip_value``) clips the class head too, as it clips every
    critic weight in Arjovsky et al. Logged: the :class:`WGAN` metrics plus ``class_acc``.
    """

    def __init__(self, generator, critic, *, latent_dim, image_shape, value_range="minus_one_one", num_classes=None,
                 **kwargs):
        super().__init__(generator, critic, latent_dim=latent_dim, image_shape=image_shape, value_range=value_range,
                         num_classes=num_classes, **kwargs)
        self._check_classes()
