"""``import keras_gen`` is enough for ``keras.saving.load_model`` to read what keras_gen writes.

Every ``.keras`` file the project writes names its classes ``keras_gen>GAN``, ``keras_gen>Conv2D``,
... and Keras resolves such a name in its registry, which holds a class once the module defining
it has run (``@keras.saving.register_keras_serializable(package="keras_gen")``). Importing those
modules at ``import keras_gen`` would import TensorFlow, seconds that ``keras-gen --help`` must not
pay. So ``import keras_gen`` registers a post-import hook on ``keras`` (``wrapt``, a dependency of
TensorFlow itself); once Keras is imported the hook makes its registry import :data:`MODULES` the
first time it is asked for a ``keras_gen>`` name it does not hold, at load time, when TensorFlow is
there anyway. Nothing runs for a process that never looks such a name up.

The hook replaces ``keras.src.saving.object_registration.GLOBAL_CUSTOM_OBJECTS`` (a module-level
dict Keras reads by name on every lookup, Keras 3.0 to 3.13) with a dict subclass holding the same
entries; on a Keras without it the hook does nothing and :func:`register_all` is the way.
"""

from __future__ import annotations

import importlib

PREFIX = "keras_gen>"
# The modules whose classes keras_gen registers: every family, the custom layers, the FID metric.
MODULES = ("keras_gen.layers", "keras_gen.families", "keras_gen.evaluation.metrics")

_state = {"registered": False, "installed": False}


def register_all() -> None:
    """Register every class keras_gen writes into ``.keras`` files (imports TensorFlow)."""
    if _state["registered"]:
        return
    _state["registered"] = True
    for name in MODULES:
        importlib.import_module(name)


class _RegistryThatImports(dict):
    """Keras' custom-object registry, registering keras_gen's classes on the first lookup of one."""

    def __contains__(self, key) -> bool:
        if (not _state["registered"] and isinstance(key, str) and key.startswith(PREFIX)
                and not dict.__contains__(self, key)):
            register_all()
        return dict.__contains__(self, key)


def _on_keras_import(_keras) -> None:
    try:
        from keras.src.saving import object_registration
    except ImportError:  # another Keras layout: register_all() by hand
        return
    registry = getattr(object_registration, "GLOBAL_CUSTOM_OBJECTS", None)
    if isinstance(registry, dict) and not isinstance(registry, _RegistryThatImports):
        object_registration.GLOBAL_CUSTOM_OBJECTS = _RegistryThatImports(registry)


def install() -> None:
    """Run :func:`_on_keras_import` when Keras is imported (at once if it already is)."""
    if _state["installed"]:
        return
    _state["installed"] = True
    try:
        import wrapt
    except ImportError:  # TensorFlow requires wrapt; without it, register_all() by hand
        return
    wrapt.register_post_import_hook(_on_keras_import, "keras")
