"""keras_gen: train, evaluate, compare and serve GANs and VAEs with Keras 3 and TensorFlow."""

import os as _os

# Keras 3 must use TensorFlow; quiet TensorFlow's C++ start-up chatter unless the user set it.
_os.environ.setdefault("KERAS_BACKEND", "tensorflow")
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
