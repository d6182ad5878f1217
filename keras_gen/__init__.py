"""keras_gen: train, evaluate, compare and serve GANs and VAEs with Keras 3 and TensorFlow."""

import contextlib as _contextlib
import os as _os

__version__ = "0.1.0"

# Keras 3 must use TensorFlow; quiet TensorFlow's C++ start-up chatter unless the user set it.
_os.environ.setdefault("KERAS_BACKEND", "tensorflow")
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@_contextlib.contextmanager
def _quiet_native_stderr():
    """Silence file descriptor 2 while TensorFlow loads.

    TensorFlow 2.21 prints CUDA-probe lines from C++ before absl logging is initialised, which no
    environment variable suppresses; they would bury the one-line errors our commands print.
    Python exceptions raised by the import still reach stderr: it is restored before they print.
    Set KERAS_GEN_TF_LOGS=1 to see the native messages.
    """
    if _os.environ.get("KERAS_GEN_TF_LOGS"):
        yield
        return
    saved = _os.dup(2)
    try:
        with open(_os.devnull, "w") as devnull:
            _os.dup2(devnull.fileno(), 2)
            yield
    finally:
        _os.dup2(saved, 2)
        _os.close(saved)


with _quiet_native_stderr():
    import tensorflow as _tf  # noqa: F401
    import tensorflow_probability as _tfp  # noqa: F401

    _tf.config.list_physical_devices()  # the CUDA probe (and its cuInit line on CPU-only hosts) runs here
