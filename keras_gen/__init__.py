"""keras_gen: train, evaluate, compare and serve GANs and VAEs with Keras 3 and TensorFlow.

Importing the package itself is light (no TensorFlow), so ``keras-gen --help`` answers at once;
the sub-packages that need TensorFlow import it through :func:`keras_gen.utils.native.import_tensorflow`,
which keeps TensorFlow's native start-up chatter off the terminal.
"""

import os as _os

__version__ = "0.2.0"

# Keras 3 must use TensorFlow; quiet TensorFlow's C++ start-up chatter unless the user set it.
_os.environ.setdefault("KERAS_BACKEND", "tensorflow")
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
