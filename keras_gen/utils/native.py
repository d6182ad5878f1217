"""TensorFlow's native (C++) output: kept off the terminal unless ``KERAS_GEN_TF_LOGS=1``."""

from __future__ import annotations

import contextlib
import os

_imported = False


@contextlib.contextmanager
def quiet_native_stderr():
    """Silence file descriptor 2 (not Python's ``sys.stderr`` object) for the duration.

    TensorFlow 2.21 prints CUDA-probe lines from C++ before absl logging is initialised, which no
    environment variable suppresses; they would bury the one-line errors our commands print.
    Python exceptions raised inside still reach stderr: it is restored before they print.
    Set KERAS_GEN_TF_LOGS=1 to see the native messages.
    """
    if os.environ.get("KERAS_GEN_TF_LOGS"):
        yield
        return
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def import_tensorflow() -> None:
    """Import TensorFlow and TFP once, with their native start-up messages silenced."""
    global _imported
    if _imported:
        return
    with quiet_native_stderr():
        import tensorflow as tf
        import tensorflow_probability  # noqa: F401

        tf.config.list_physical_devices()  # the CUDA probe (and its cuInit line on CPU-only hosts) runs here
    _imported = True
