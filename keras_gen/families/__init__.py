"""Training families: Keras models that own the objective, the optimizers and sampling.

``base`` (what every family shares) <- ``gan`` (the one adversarial train step, with hooks) <-
``wgan`` and ``acgan`` (override losses, not the loop); ``vae``. Each family is registered for
Keras serialization under ``keras_gen>ClassName``, the name every ``.keras`` checkpoint records.
"""

from keras_gen.families.acgan import ACGAN, ACWGAN
from keras_gen.families.base import GenerativeModel, average_over_global_batch
from keras_gen.families.gan import GAN
from keras_gen.families.vae import VAE
from keras_gen.families.wgan import WGAN

__all__ = ["ACGAN", "ACWGAN", "GAN", "GenerativeModel", "VAE", "WGAN", "average_over_global_batch"]
