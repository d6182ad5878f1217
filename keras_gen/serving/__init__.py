"""Use an export the way a server does: its signatures, no model code.

``keras-gen sample`` and ``keras-gen interpolate`` are built on
:class:`~keras_gen.serving.runtime.LoadedExport` (a SavedModel through ``tf.saved_model.load``, or
its TFLite or ONNX conversion through their runtimes), so they work on any export (this machine's
or a copied one) without ``models_zoo`` or ``keras_gen.families``:

* :meth:`LoadedExport.sample`: the ``sample`` signature, seeds (+ labels) -> images in [0, 1].
* :meth:`LoadedExport.interpolate`: the ``latent`` signature gives each seed's latent, the
  latents are interpolated linearly or spherically (slerp, which keeps interpolants at the norm a
  Gaussian prior puts its mass at: White 2016, "Sampling Generative Networks", §2.1), and the
  ``generate`` signature draws them.

Inputs are checked before TensorFlow sees them: seeds must be integers in int32's range, labels
integers in ``[0, num_classes)`` for conditional models and absent otherwise; anything else is a
:class:`~keras_gen.utils.errors.UserError` naming the problem and the fix.
"""

METADATA_FILE = "keras_gen.json"  # written by keras_gen.export into <version>/assets/
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
IMAGE_FORMATS = ("png", "npy")
# Examples per request for an export whose keras_gen.json records no max_batch (exports before 0.2):
# the servers' cap (--max-batch) and the chunk size of LoadedExport's own calls. Here, free of
# TensorFlow, so the command lines' --help can show it.
DEFAULT_MAX_BATCH = 1024
