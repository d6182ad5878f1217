"""SavedModel export in TF Serving's layout: ``<root>/<model>_<dataset>/<version>/``.

Signatures (other tools rely on these names exactly); every image is float32 in [0, 1]:

* ``sample``: ``seed`` int32 [B] (+ ``label`` int32 [B] for conditional models) -> ``images``
  [B, H, W, C], drawn from the model's own prior, the same image for the same seed every time.
  ``serving_default`` is ``sample``.
* ``generate``: ``z`` float32 [B, latent] (+ ``label``) -> ``images``.
* ``latent``: ``seed`` int32 [B] -> ``z`` float32 [B, latent], the latents ``sample`` decodes
  (``sample(seed) == generate(latent(seed))``), for interpolating between seeds.
* VAEs: ``encode`` (``images`` -> ``z_mean``, ``z_log_var``), ``decode`` (``z`` -> ``images``),
  ``reconstruct`` (``images`` -> ``images``).
* GANs: ``discriminate`` (``images`` -> ``score``, the probability that the image is real; the raw critic value for WGAN-family models).

``assets/keras_gen.json`` records model, dataset, latent_dim, image_shape, num_classes, value
range, steps trained and the package version. The export loads with ``tf.saved_model.load`` in a
process that never imports keras_gen (that is how TF Serving sees it).

For TF Serving every export also carries ``assets.extra/tf_serving_warmup_requests`` (one
``PredictionLog`` per signature and warm-up batch size, so the first real request does not pay for
graph initialisation), is checked for device pins, non-float32 floating point and ops without
both a CPU and a GPU kernel (:func:`portability_problems`), and ``<root>/models.config`` is
rewritten to list every model under the root, so one ``tensorflow_model_server
--model_config_file=<root>/models.config`` serves them all.

:func:`export_tflite` and :func:`export_onnx` convert an export for TFLite (``TFLiteConverter``
with the signatures kept) and ONNX Runtime (``tf2onnx``). Both leave out the signatures that draw
latents (``sample``, ``serving_default``, ``latent``): those use TensorFlow's stateless Philox
kernels (``StatelessRandomGetKeyCounter``, ``StatelessRandomNormalV2``), which neither TFLite's
built-in ops nor ONNX have; feed ``generate`` latents drawn from the prior instead.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import warnings
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from keras_gen import __version__, _quiet_native_stderr
from keras_gen.data import VALUE_RANGES
from keras_gen.errors import UserError
from keras_gen.fileio import atomic_dir, readable_by_all, write_text

METADATA_FILE = "keras_gen.json"
WARMUP_FILE = "tf_serving_warmup_requests"  # TF Serving reads <version>/assets.extra/<this>
MODELS_CONFIG = "models.config"
WARMUP_BATCH_SIZES = (1, 16)  # cuDNN picks algorithms per shape: warm the single request and a batch
FORMATS = ("saved_model", "tflite", "onnx")
ONNX_OPSET = 17
# Signatures that draw latents with TF's stateless RNG kernels, which TFLite and ONNX lack.
RNG_SIGNATURES = ("sample", "serving_default", "latent")
RNG_REASON = ("they draw latents with TensorFlow's stateless Philox RNG (StatelessRandomGetKeyCounter, "
              "StatelessRandomNormalV2), which {fmt} cannot represent; call generate with latents drawn "
              "from the prior instead")
# Ops that only load or save variables: they run once on the host, never in a request.
_HOST_ONLY_OPS = frozenset({"SaveV2", "RestoreV2", "MergeV2Checkpoints", "ShardedFilename", "StringJoin",
                            "StaticRegexFullMatch"})


def next_version(model_dir: Path) -> int:
    versions = [int(p.name) for p in model_dir.iterdir() if p.is_dir() and re.fullmatch(r"\d+", p.name)] \
        if model_dir.is_dir() else []
    return max(versions, default=0) + 1


def export_name(model_name: str, dataset: str) -> str:
    return f"{model_name}_{dataset}"


def _from_unit(images, value_range):
    """[0, 1] images (what signatures take) -> the model's value range."""
    if value_range == "minus_one_one":
        return images * 2.0 - 1.0
    return images


def build_archive(model) -> keras.export.ExportArchive:
    """An ``ExportArchive`` with every signature ``model`` supports (``sample`` first)."""
    h, w, c = model.image_shape
    seed = tf.TensorSpec([None], tf.int32, name="seed")
    label = tf.TensorSpec([None], tf.int32, name="label")
    z = tf.TensorSpec([None, model.latent_dim], tf.float32, name="z")
    images = tf.TensorSpec([None, h, w, c], tf.float32, name="images")
    value_range = model.value_range

    archive = keras.export.ExportArchive()
    archive.track(model)
    if model.conditional:
        archive.add_endpoint("sample", lambda seed, label: {"images": model.sample(seed, label)},
                             input_signature=[seed, label])
        archive.add_endpoint("generate", lambda z, label: {"images": model.generate_unit(z, label)},
                             input_signature=[z, label])
    else:
        archive.add_endpoint("sample", lambda seed: {"images": model.sample(seed)}, input_signature=[seed])
        archive.add_endpoint("generate", lambda z: {"images": model.generate_unit(z)}, input_signature=[z])
    archive.add_endpoint("latent", lambda seed: {"z": model.latent_from_seeds(seed)}, input_signature=[seed])

    if model.family == "vae":
        if model.conditional:
            def encode(images, label):
                z_mean, z_log_var = model.encode(images, label)
                return {"z_mean": z_mean, "z_log_var": z_log_var}

            archive.add_endpoint("encode", encode, input_signature=[images, label])
            archive.add_endpoint("decode", lambda z, label: {"images": model.generate_unit(z, label)},
                                 input_signature=[z, label])
            archive.add_endpoint("reconstruct", lambda images, label: {"images": model.reconstruct(images, label)},
                                 input_signature=[images, label])
        else:
            def encode(images):
                z_mean, z_log_var = model.encode(images)
                return {"z_mean": z_mean, "z_log_var": z_log_var}

            archive.add_endpoint("encode", encode, input_signature=[images])
            archive.add_endpoint("decode", lambda z: {"images": model.generate_unit(z)}, input_signature=[z])
            archive.add_endpoint("reconstruct", lambda images: {"images": model.reconstruct(images)},
                                 input_signature=[images])
    else:
        if model.conditional:
            archive.add_endpoint(
                "discriminate",
                lambda images, label: {"score": model.score(_from_unit(images, value_range), label)},
                input_signature=[images, label])
        else:
            archive.add_endpoint("discriminate",
                                 lambda images: {"score": model.score(_from_unit(images, value_range))},
                                 input_signature=[images])
    return archive


def metadata(model, *, model_name: str, dataset: str, steps: int, extra: dict | None = None) -> dict:
    return {
        "model": model_name,
        "family": model.family,
        "dataset": dataset,
        "latent_dim": model.latent_dim,
        "image_shape": list(model.image_shape),
        "num_classes": model.num_classes,
        "value_range": list(VALUE_RANGES[model.value_range]),
        "output_range": [0.0, 1.0],
        "steps_trained": int(steps),
        "parameters": {net.name: int(net.count_params()) for net in model.sub_networks},
        "keras_gen_version": __version__,
        "signatures": sorted(_signature_names(model)),
        **(extra or {}),
    }


def _signature_names(model):
    names = {"sample", "generate", "latent", "serving_default"}
    names |= {"encode", "decode", "reconstruct"} if model.family == "vae" else {"discriminate"}
    return names


def export_model(model, root: str | os.PathLike, *, model_name: str, dataset: str, steps: int,
                 extra_metadata: dict | None = None) -> Path:
    """Write the next version of ``<root>/<model>_<dataset>/`` atomically, with TF Serving warm-up
    requests and after the portability check; rewrite ``<root>/models.config``; return its path."""
    model_dir = Path(root) / export_name(model_name, dataset)
    model_dir.mkdir(parents=True, exist_ok=True)
    target = model_dir / str(next_version(model_dir))
    archive = build_archive(model)
    with atomic_dir(target) as tmp:
        archive.write_out(str(tmp), verbose=False)
        (tmp / "assets").mkdir(exist_ok=True)
        info = metadata(model, model_name=model_name, dataset=dataset, steps=steps, extra=extra_metadata)
        (tmp / "assets" / METADATA_FILE).write_text(json.dumps(info, indent=2) + "\n")
        write_warmup_requests(tmp, model_name=model_dir.name)
        problems = portability_problems(tmp)
        if problems:
            raise UserError(f"model {model_name} cannot be exported for CPU and GPU serving: "
                            f"{'; '.join(problems[:3])}; remove tf.device scopes and non-float32 dtypes "
                            "from its code")
        readable_by_all(tmp)
    write_models_config(root)
    return target


def read_metadata(export_path: str | os.PathLike) -> dict:
    return json.loads((Path(export_path) / "assets" / METADATA_FILE).read_text())


# ------------------------------------------------------------------------------ TF Serving
def _saved_model_proto(export_path: str | os.PathLike):
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((Path(export_path) / "saved_model.pb").read_bytes())
    return proto


def _serving_meta_graph(proto):
    for meta_graph in proto.meta_graphs:
        if "serve" in meta_graph.meta_info_def.tags:
            return meta_graph
    return proto.meta_graphs[0]


def signature_inputs(export_path: str | os.PathLike) -> dict:
    """``{signature: {input: (shape with None for unknown dims, tf.DType)}}`` read from ``saved_model.pb``."""
    meta_graph = _serving_meta_graph(_saved_model_proto(export_path))
    out = {}
    for name, sig in meta_graph.signature_def.items():
        if name.startswith("__"):  # __saved_model_init_op
            continue
        out[name] = {key: ([None if d.size < 0 else d.size for d in info.tensor_shape.dim], tf.as_dtype(info.dtype))
                     for key, info in sig.inputs.items()}
    return out


def warmup_inputs(shape, dtype: tf.DType, *, input_name: str, batch_size: int) -> np.ndarray:
    """A valid input for warm-up: seeds 0..B-1, label 0, zero latents and mid-grey images."""
    shape = [batch_size if d is None else d for d in shape]
    if dtype.is_integer:
        return (np.arange(batch_size) if input_name == "seed" else np.zeros(shape)).astype(dtype.as_numpy_dtype)
    return np.full(shape, 0.5 if input_name == "images" else 0.0, dtype.as_numpy_dtype)


def warmup_logs(export_path: str | os.PathLike, *, model_name: str):
    """One ``PredictionLog`` per signature (``serving_default`` is ``sample``) and warm-up batch size."""
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    logs = []
    for signature, inputs in sorted(signature_inputs(export_path).items()):
        if signature == "serving_default":
            continue
        for batch_size in WARMUP_BATCH_SIZES:
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature))
            for key, (shape, dtype) in inputs.items():
                request.inputs[key].CopyFrom(tf.make_tensor_proto(
                    warmup_inputs(shape, dtype, input_name=key, batch_size=batch_size)))
            logs.append(prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)))
    return logs


def write_warmup_requests(export_path: str | os.PathLike, *, model_name: str) -> Path:
    """``assets.extra/tf_serving_warmup_requests``: TF Serving replays these records when it loads
    the version, before marking it available (TF Serving's "SavedModel Warmup" guide)."""
    path = Path(export_path) / "assets.extra" / WARMUP_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for log in warmup_logs(export_path, model_name=model_name):
            writer.write(log.SerializeToString())
    return path


def _is_export_version(path: Path) -> bool:
    return path.is_dir() and re.fullmatch(r"\d+", path.name) is not None and (path / "saved_model.pb").is_file()


def model_dirs(root: str | os.PathLike) -> list[Path]:
    """Every ``<root>/<name>/`` that holds at least one numbered SavedModel version."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and any(_is_export_version(v) for v in p.iterdir()))


def models_config_text(root: str | os.PathLike) -> str:
    """A ``model_config_list`` text proto serving every model under ``root`` (absolute base paths)."""
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    config = model_server_config_pb2.ModelServerConfig()
    for model_dir in model_dirs(root):
        entry = config.model_config_list.config.add()
        entry.name = model_dir.name
        entry.base_path = str(model_dir.resolve())
        entry.model_platform = "tensorflow"
    return text_format.MessageToString(config)


def write_models_config(root: str | os.PathLike) -> Path:
    """Rewrite ``<root>/models.config`` (atomically) so it lists every export under ``root``."""
    path = Path(root) / MODELS_CONFIG
    header = ("# Written by keras_gen on every export; lists every model under this directory.\n"
              f"# tensorflow_model_server --model_config_file={Path(root).resolve() / MODELS_CONFIG}\n")
    write_text(path, header + models_config_text(root))
    readable_by_all(path)
    return path


def _called_functions(node) -> list[str]:
    names = []
    for value in node.attr.values():
        if value.HasField("func"):
            names.append(value.func.name)
        if value.HasField("list"):
            names.extend(f.name for f in value.list.func)
    return names


def serving_graph(export_path: str | os.PathLike):
    """``[(where, NodeDef)]``: every node the serving signatures can run (graph nodes and the bodies
    of the functions they call, transitively), without the variable save/restore machinery."""
    meta_graph = _serving_meta_graph(_saved_model_proto(export_path))
    graph = meta_graph.graph_def
    nodes = {n.name: n for n in graph.node}
    functions = {f.signature.name: f for f in graph.library.function}
    stack = [("node", info.name.split(":")[0]) for name, sig in meta_graph.signature_def.items()
             if not name.startswith("__") for info in sig.outputs.values()]
    seen, found = set(), []
    while stack:
        kind, name = stack.pop()
        if (kind, name) in seen:
            continue
        seen.add((kind, name))
        if kind == "node":
            node = nodes[name]
            found.append(("graph", node))
            stack += [("node", i.lstrip("^").split(":")[0]) for i in node.input]
            stack += [("function", f) for f in _called_functions(node)]
        elif name in functions:
            for node in functions[name].node_def:
                found.append((name, node))
                stack += [("function", f) for f in _called_functions(node)]
    return found


def portability_problems(export_path: str | os.PathLike) -> list[str]:
    """What would stop one SavedModel serving on a CPU host and a GPU host alike: device pins, floating
    point other than float32, and ops without both a CPU and a GPU (or device-agnostic) kernel.
    Empty when the export is portable."""
    from tensorflow.core.framework import types_pb2
    from tensorflow.python.framework import kernels

    problems, checked = [], set()
    other_floats = {types_pb2.DT_HALF, types_pb2.DT_BFLOAT16, types_pb2.DT_DOUBLE}
    for where, node in serving_graph(export_path):
        if node.device:
            problems.append(f"op {node.name} ({node.op}) in {where} is pinned to {node.device}")
        for value in node.attr.values():
            bad = [t for t in ([value.type] if value.type else value.list.type) if t in other_floats]
            if bad:
                problems.append(f"op {node.name} ({node.op}) in {where} computes in "
                                f"{types_pb2.DataType.Name(bad[0])}, not float32")
                break
        if node.op in _HOST_ONLY_OPS or node.op in checked:
            continue
        checked.add(node.op)
        devices = {k.device_type for k in kernels.get_registered_kernels_for_op(node.op).kernel}
        if "DEFAULT" not in devices and not {"CPU", "GPU"} <= devices:
            problems.append(f"op {node.op} has kernels for {', '.join(sorted(devices)) or 'no device'}, "
                            "not both CPU and GPU")
    return problems


# ------------------------------------------------------------------------------ TFLite and ONNX
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
    reason = RNG_REASON.format(fmt={"tflite": "TFLite's built-in ops", "onnx": "ONNX"}[fmt])
    return [n for n in names if n not in RNG_SIGNATURES], {n: reason for n in names if n in RNG_SIGNATURES}


def _warmup_feed(inputs: dict, batch_size: int = 1) -> dict:
    return {key: warmup_inputs(shape, dtype, input_name=key, batch_size=batch_size)
            for key, (shape, dtype) in inputs.items()}


def _write_converted(root, meta: dict, *, fmt: str, files: dict[str, bytes], info: dict) -> Path:
    model_dir = Path(root) / fmt / export_name(meta["model"], meta["dataset"])
    model_dir.mkdir(parents=True, exist_ok=True)
    target = model_dir / str(next_version(model_dir))
    with atomic_dir(target) as tmp:
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        (tmp / METADATA_FILE).write_text(json.dumps({**meta, "format": fmt, **info}, indent=2) + "\n")
        readable_by_all(tmp)
    return target


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
    with warnings.catch_warnings(), _quiet_native_stderr():  # deprecation notice; XNNPACK's INFO line
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


# ------------------------------------------------------------------------------ keras-gen export
def export_run(run_dir: str | os.PathLike, *, fmt: str = "saved_model", export_dir: str | os.PathLike | None = None,
               checkpoint: str = "latest", out=print) -> Path:
    """Re-export a run from its checkpoint ``checkpoint`` (latest, best or an epoch) as ``fmt`` (one
    of :data:`FORMATS`) under ``export_dir`` (default: the run's export directory); return the
    written directory."""
    from keras_gen.callbacks import find_checkpoint
    from keras_gen.config import RunConfig
    from keras_gen.training import export_checkpoint

    if fmt not in FORMATS:
        raise UserError(f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}")
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise UserError(f"{run_dir} is not a run directory (no config.json); pass a directory train.py wrote, "
                        "e.g. runs/<model>_<dataset>_<timestamp>")
    record = find_checkpoint(run_dir, checkpoint)
    config = RunConfig.load(run_dir / "config.json")
    root = Path(export_dir if export_dir is not None else config.export_dir)
    if fmt == "saved_model":
        path = export_checkpoint(run_dir, config, which=checkpoint, export_dir=root)
        out(f"SavedModel:  {path}")
        out(f"TF Serving:  {root / MODELS_CONFIG}")
        return path
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".export-", dir=root) as tmp:
        saved = export_checkpoint(run_dir, config, which=checkpoint, export_dir=tmp)
        path = (export_tflite if fmt == "tflite" else export_onnx)(saved, root, source=record["path"])
    info = json.loads((path / METADATA_FILE).read_text())
    out(f"{'TFLite:' if fmt == 'tflite' else 'ONNX:':12s} {path}")
    out(f"signatures:  {', '.join(info['signatures'])}")
    if info["left_out"]:
        reason = next(iter(info["left_out"].values()))
        out(f"left out:    {', '.join(sorted(info['left_out']))}: {reason}")
    return path


def export_main(argv=None, prog: str = "keras-gen export") -> int:
    from keras_gen.cli import OneLineParser
    from keras_gen.errors import exit_on_user_error

    p = OneLineParser(prog=prog, description="Re-export a training run from one of its checkpoints.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by train.py")
    p.add_argument("--checkpoint", default="latest", help="latest (default), best (--keep-best) or an epoch number")
    p.add_argument("--format", dest="fmt", choices=FORMATS, default="saved_model",
                   help="saved_model (TF Serving, default), tflite or onnx")
    p.add_argument("--export-dir", help="export root (default: the run's, usually saved_models); TFLite and "
                                        "ONNX go to <root>/tflite/ and <root>/onnx/")
    args = p.parse_args(argv)
    with exit_on_user_error(prog):
        export_run(args.run_dir, fmt=args.fmt, export_dir=args.export_dir, checkpoint=args.checkpoint)
    return 0
