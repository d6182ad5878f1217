"""``tfp.distributions`` (TensorFlow Probability), imported at its first use rather than with the
module that uses it.

Importing TFP costs about 2 CPU-s on a 2-core EPYC (its version check imports ``tf_keras``, then its
``import *`` loads every submodule): 40% on top of TensorFlow's own import. Commands that never
draw from a distribution (``keras-gen serve``, ``explore``, ``fid`` on images, ``train.py
--list-models``) no longer pay it; training pays it once, at the first prior or posterior it builds.
"""

from __future__ import annotations


class _Distributions:
    """Stands for ``tfp.distributions``: ``tfd.Normal`` imports TFP on the first attribute read."""

    def __getattr__(self, name: str):
        import tensorflow_probability as tfp

        return getattr(tfp.distributions, name)


tfd = _Distributions()
