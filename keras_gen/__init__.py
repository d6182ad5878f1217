"""keras_gen: train, evaluate, compare and serve GANs and VAEs with Keras 3 and TensorFlow.

Importing the package itself is light (no TensorFlow), so ``keras-gen --help`` answers at once;
the sub-packages that need TensorFlow import it through :func:`keras_gen.utils.native.import_tensorflow`,
which keeps TensorFlow's native start-up chatter off the terminal.
"""

import os as _os

__version__ = "0.3.0"

# Keras 3 must use TensorFlow; quiet TensorFlow's C++ start-up chatter unless the user set it.
_os.environ.setdefault("KERAS_BACKEND", "tensorflow")
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TensorFlow turns its oneDNN kernels on by default only on CPUs with AVX-512 VNNI/BF16 or AMX; on
# an AVX2 machine (the 2-core AMD EPYC this was measured on) it falls back to Eigen, whose fp32
# matmul reached 106-120 GFLOP/s there against oneDNN's 136-156, and dcgan trained at about
# 105 images/s against 140 (benchmarks/README.md, issue 19). Read once, when TensorFlow is first
# imported, so it only takes effect if keras_gen is imported first; TF_ENABLE_ONEDNN_OPTS=0 turns it off.
_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

# keras.saving.load_model reads keras_gen's .keras files in any process that imported keras_gen
# (keras_gen/registration.py: a hook on Keras' import, which imports nothing until a lookup needs it).
from keras_gen import registration as _registration  # noqa: E402

_registration.install()

# What the API and the commands raise for bad input: the message names the problem and the fix.
from keras_gen.utils.errors import UserError  # noqa: E402, F401

# The Python API (keras_gen/api.py, docs/api.md), imported on first use so that `import keras_gen`
# and `keras-gen --help` stay free of TensorFlow.
# Not "export": the subpackage of that name.
_API = ("build", "evaluate", "export_model", "fid", "list_models", "load_export", "load_images", "publish")


def __getattr__(name):
    if name in _API:
        import importlib

        return getattr(importlib.import_module("keras_gen.api"), name)
    raise AttributeError(f"module 'keras_gen' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_API])
