"""Exports: a SavedModel in TF Serving's layout (signatures, metadata, warm-up requests,
``models.config``), TFLite and ONNX conversions of it, and the export of a run's checkpoint.

``saved_model`` <- ``convert`` <- ``from_run``. Add a format as a module beside ``convert`` and a
name in :data:`keras_gen.export.from_run.FORMATS`.
"""

FORMATS = ("saved_model", "tflite", "onnx")  # keras-gen export --format
