"""Workarounds for Keras 3's TensorFlow trainer under ``MultiWorkerMirroredStrategy``.

Which Keras versions need them: every release so far (``KERAS_MULTIWORKER_FIXED_IN`` is None; the
faults are still in Keras 3.15). Set it to the first release that fixes both faults below; once
the project requires that release, delete this module and :class:`MultiWorkerTrainerFixes` from
:class:`keras_gen.families.base.GenerativeModel`'s bases.
"""

from __future__ import annotations

import re

import keras
import tensorflow as tf

# Keras 3's TensorFlow trainer fails under ``tf.distribute.MultiWorkerMirroredStrategy`` with more
# than one worker (keras-team/keras#20585, tensorflow/tensorflow#72388; still in Keras 3.15):
#
# 1. ``_maybe_symbolic_build`` reduces the first (nested) batch with ``strategy.reduce`` to learn
#    its shapes, which raises "Attempt to convert a value (PerReplica...) ... to a Tensor";
# 2. ``reduce_per_replica`` reduces every log with ``strategy.reduce("MEAN", v, axis=0)``, which
#    fails on the scalar logs every train step returns.
#
# :class:`MultiWorkerTrainerFixes` (a base of every family's model) works around both while
# ``keras.__version__`` is older than this version: set it to the first Keras release that fixes
# both, and delete the workaround once the project requires it.
# None = not fixed in any release yet: the workaround applies to every version.
KERAS_MULTIWORKER_FIXED_IN: tuple[int, int, int] | None = None


def version_tuple(version: str) -> tuple[int, ...]:
    """``"3.15.1"`` -> ``(3, 15, 1)``; pre-release suffixes (``3.16.0.dev2026``, ``3.16.0rc1``) are ignored."""
    return tuple(int(m.group()) for m in (re.match(r"\d+", part) for part in version.split(".")[:3]) if m)


def keras_needs_multiworker_workaround(version: str | None = None) -> bool:
    """Whether the Keras ``version`` (the installed one by default) has the multi-worker faults."""
    if KERAS_MULTIWORKER_FIXED_IN is None:
        return True
    return version_tuple(version or keras.__version__) < KERAS_MULTIWORKER_FIXED_IN


def in_multi_worker_mode(strategy) -> bool:
    """Whether ``strategy`` is a ``MultiWorkerMirroredStrategy`` spanning more than one worker."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return False
    check = getattr(strategy.extended, "_in_multi_worker_mode", None)
    return bool(check()) if check is not None else True


def _first_local_value(strategy, value):
    """A ``PerReplica`` batch's first local component (shapes and dtypes are all the symbolic build
    needs); anything else as it is."""
    if isinstance(value, tf.distribute.DistributedValues):
        return strategy.experimental_local_results(value)[0]
    return value


def _rank1_logs(step_function):
    """``step_function`` with every scalar log reshaped to ``[1]``: Keras' multi-worker reduction
    (``strategy.reduce("MEAN", v, axis=0)``) then returns the mean over replicas, a scalar."""

    def step(data):
        return tf.nest.map_structure(
            lambda v: tf.reshape(v, [1]) if isinstance(v, tf.Tensor) and v.shape.rank == 0 else v,
            step_function(data))

    return step


class MultiWorkerTrainerFixes:
    """A mixin before ``keras.Model``: the trainer's hooks with both faults worked around, only
    while the installed Keras needs it and the strategy spans several workers; otherwise Keras' own."""

    def _multi_worker_workaround(self) -> bool:
        return keras_needs_multiworker_workaround() and in_multi_worker_mode(self.distribute_strategy)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras reduces the first distributed batch across workers (fault 1); its first local
        # component has the shapes and dtypes the symbolic build needs, with no collective.
        if iterator is not None and data_batch is None and self._multi_worker_workaround():
            for _, _, batches in iterator:
                strategy = self.distribute_strategy
                data_batch = tf.nest.map_structure(lambda v: _first_local_value(strategy, v), next(batches))
                break
            iterator = None
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def make_train_function(self, force=False):
        if self._multi_worker_workaround() and (self.train_function is None or force):
            self.train_function = self._make_function(_rank1_logs(self.train_step))  # fault 2
            return self.train_function
        return super().make_train_function(force=force)

    def make_test_function(self, force=False):
        if self._multi_worker_workaround() and (self.test_function is None or force):
            self.test_function = self._make_function(_rank1_logs(self.test_step))  # fault 2
            return self.test_function
        return super().make_test_function(force=force)
