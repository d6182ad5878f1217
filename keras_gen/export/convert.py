"""TFLite and ONNX conversions of a SavedModel export.

:func:`export_tflite` (``TFLiteConverter`` with the signatures kept) and :func:`export_onnx`
(``tf2onnx``) keep every signature of exports made since keras_gen 0.2, ``sample`` and ``latent``
included: those draw latents from noise tables (:mod:`keras_gen.utils.seeded`: a uint32 multiply,
a shift and a gather; 0.2's exports hash with uint32 ops and Box-Muller), ops both formats have, so
a seed gives the SavedModel's latent (bit for bit since 0.3) and image (to float rounding).
Exports of keras_gen 0.1 drew with TensorFlow's stateless Philox kernels
(``StatelessRandomGetKeyCounter``, ``StatelessRandomNormalV2``), which neither format has: their
seed signatures are left out, and ``generate`` takes latents drawn from the prior instead. Each
converted file is run once before it is written.
"""

from __future__ import annotations

import json
import logging
import os
import re
import warnings
from pathlib import Path

import tensorflow as tf

from keras_gen.export.saved_model import (
    METADATA_FILE,
    export_name,
    read_metadata,
    signature_inputs,
    warmup_inputs,
)
from keras_gen.utils.errors import UserError
from keras_gen.utils.fileio import new_version_dir, readable_by_all
from keras_gen.utils.native import quiet_native_stderr

# Signatures that draw latents: in exports of keras_gen 0.1 (no ``seed_generator`` in keras_gen.json)
# with TF's stateless Philox kernels, which TFLite and ONNX lack.
RNG_SIGNATURES = ("sample", "serving_default", "latent")
RNG_REASON = ("this export (keras_gen {version}) draws latents with TensorFlow's stateless Philox RNG "
              "(StatelessRandomGetKeyCounter, StatelessRandomNormalV2), which {fmt} cannot represent; re-export "
              "the run with this keras_gen to keep them, or call generate with latents drawn from the prior")
ONNX_OPSET = 18  # BitwiseXor, which seeded.uniform (a mixture prior's component) uses, is opset 18

def _error_line(err: BaseException) -> str:
    """The most telling line of a converter's (often many-line) error."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    for line in lines:
        if re.search(r"error:|not supported|No Op registered|unsupported", line, re.IGNORECASE):
            return line[:300]
    return (lines[0] if lines else type(err).__name__)[:300]


def read_export(export_path: str | os.PathLike) -> dict:
    """An export's metadata, or a UserError saying ``export_path`` is not a keras_gen SavedModel."""
    path = Path(export_path)
    if not (path / "saved_model.pb").is_file() or not (path / "assets" / METADATA_FILE).is_file():
        raise UserError(f"{path} is not a keras_gen export (no saved_model.pb and assets/{METADATA_FILE}); "
                        "pass saved_models/<model>_<dataset>/<version>")
    return read_metadata(path)


def split_signatures(export_path: str | os.PathLike, *, fmt: str) -> tuple[list[str], dict[str, str]]:
    """``(signatures a converted format keeps, {left-out signature: why})``."""
    names = sorted(signature_inputs(export_path))
    meta = read_export(export_path)
    if meta.get("seed_generator"):  # keras_gen.utils.seeded: elementwise integer ops, convertible
        return names, {}
    reason = RNG_REASON.format(version=meta.get("keras_gen_version", "0.1"),
                               fmt={"tflite": "TFLite's built-in ops", "onnx": "ONNX"}[fmt])
    return [n for n in names if n not in RNG_SIGNATURES], {n: reason for n in names if n in RNG_SIGNATURES}


def _warmup_feed(inputs: dict, batch_size: int = 1) -> dict:
    return {key: warmup_inputs(shape, dtype, input_name=key, batch_size=batch_size)
            for key, (shape, dtype) in inputs.items()}


def _write_converted(root, meta: dict, *, fmt: str, files: dict[str, bytes], info: dict) -> Path:
    model_dir = Path(root) / fmt / export_name(meta["model"], meta["dataset"])
    with new_version_dir(model_dir) as (tmp, published):
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        (tmp / METADATA_FILE).write_text(json.dumps({**meta, "format": fmt, **info}, indent=2) + "\n")
        readable_by_all(tmp)
    return published[0]


def export_tflite(export_path: str | os.PathLike, root: str | os.PathLike, *, source: str | None = None) -> Path:
    """Convert a SavedModel export to ``<root>/tflite/<model>_<dataset>/<version>/model.tflite`` with
    its signatures kept (TFLite's signature runner calls them by name), built-in ops only, so the
    plain TFLite runtime on a phone runs it. The RNG signatures are left out (see the module doc).
    ``source`` (recorded in the metadata) defaults to ``export_path``."""
    meta = read_export(export_path)
    kept, left_out = split_signatures(export_path, fmt="tflite")
    converter = tf.lite.TFLiteConverter.from_saved_model(str(export_path), signature_keys=kept)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    try:
        flatbuffer = converter.convert()
    except Exception as err:  # ConverterError and friends: the model uses an op TFLite lacks
        raise UserError(f"TFLite cannot represent model {meta['model']}: {_error_line(err)}; "
                        "export it as saved_model or onnx instead") from None
    inputs = signature_inputs(export_path)
    with warnings.catch_warnings(), quiet_native_stderr():  # deprecation notice; XNNPACK's INFO line
        warnings.simplefilter("ignore")
        interpreter = tf.lite.Interpreter(model_content=flatbuffer)
        for name in kept:  # every kept signature runs, so the file is usable as written
            try:
                interpreter.get_signature_runner(name)(**_warmup_feed(inputs[name]))
            except Exception as err:
                raise UserError(f"TFLite cannot run signature {name} of model {meta['model']}: "
                                f"{_error_line(err)}; export it as saved_model or onnx instead") from None
    return _write_converted(root, meta, fmt="tflite", files={"model.tflite": flatbuffer},
                            info={"signatures": kept, "left_out": left_out, "source": source or str(export_path)})


def export_onnx(export_path: str | os.PathLike, root: str | os.PathLike, *, opset: int = ONNX_OPSET,
                source: str | None = None) -> Path:
    """Convert a SavedModel export with ``tf2onnx`` to ``<root>/onnx/<model>_<dataset>/<version>/``,
    one ``<signature>.onnx`` per kept signature, each checked by running it through ONNX Runtime.
    ``source`` (recorded in the metadata) defaults to ``export_path``.

    ONNX names every value once, so an output named like an input gets ``_out`` appended
    (``reconstruct``: ``images`` -> ``images_out``); the metadata records every such rename."""
    try:
        import onnxruntime
        import tf2onnx
    except ImportError as err:
        raise UserError(f"ONNX export needs tf2onnx and onnxruntime ({err.name} is missing): "
                        "pip install 'keras-gen[serving]'") from None
    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    meta = read_export(export_path)
    kept, left_out = split_signatures(export_path, fmt="onnx")
    loaded = tf.saved_model.load(str(export_path))
    inputs = signature_inputs(export_path)
    files, renamed = {}, {}
    for name in kept:
        fn = loaded.signatures[name]
        keys = sorted(inputs[name])
        out_names = {k: f"{k}_out" if k in inputs[name] else k for k in fn.structured_outputs}
        if any(k != v for k, v in out_names.items()):
            renamed[name] = {k: v for k, v in out_names.items() if k != v}
        spec = [tf.TensorSpec(inputs[name][k][0], inputs[name][k][1], name=k) for k in keys]

        @tf.function(input_signature=spec)
        def wrapped(*args, fn=fn, keys=keys, out_names=out_names):
            return {out_names[k]: v for k, v in fn(**dict(zip(keys, args))).items()}

        try:
            proto, _ = tf2onnx.convert.from_function(wrapped, input_signature=spec, opset=opset)
            data = proto.SerializeToString()
            session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
            session.run(None, _warmup_feed(inputs[name]))
        except Exception as err:  # an op ONNX (or tf2onnx) lacks: the converter leaves it as a TF op
            raise UserError(f"ONNX cannot represent signature {name} of model {meta['model']}: "
                            f"{_error_line(err)}; export it as saved_model or tflite instead") from None
        files[f"{name}.onnx"] = data
    return _write_converted(root, meta, fmt="onnx", files=files,
                            info={"signatures": kept, "left_out": left_out, "renamed_outputs": renamed,
                                  "opset": opset, "tf2onnx_version": tf2onnx.__version__,
                                  "source": source or str(export_path)})
