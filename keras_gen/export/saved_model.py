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
* GANs: ``discriminate`` (``images`` -> ``score``, the probability that the image is real; the raw
  critic value for WGAN-family models).

``assets/keras_gen.json`` records model, dataset, latent_dim, image_shape, num_classes, value
range, steps trained and the package version. The export loads with ``tf.saved_model.load`` in a
process that never imports keras_gen (that is how TF Serving sees it).

For TF Serving every export also carries ``assets.extra/tf_serving_warmup_requests`` (one
``PredictionLog`` per signature and warm-up batch size, so the first real request does not pay for
graph initialisation), is checked for device pins, non-float32 floating point and ops without
both a CPU and a GPU kernel (:func:`portability_problems`), and ``<root>/models.config`` is
rewritten to list every model under the root, so one ``tensorflow_model_server
--model_config_file=<root>/models.config`` serves them all.

:mod:`keras_gen.export.convert` turns an export into TFLite and ONNX files.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from pathlib import Path
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from keras_gen import __version__
from keras_gen.datasets.pipeline import VALUE_RANGES
from keras_gen.export.publish import check_mode, claim_model, decide, write_models_config
from keras_gen.utils import seeded
from keras_gen.utils.errors import UserError
from keras_gen.utils.fileio import (
    is_disk_full,
    new_version_dir,
    numbered_versions,
    readable_by_all,
)

METADATA_FILE = "keras_gen.json"
WARMUP_FILE = "tf_serving_warmup_requests"  # TF Serving reads <version>/assets.extra/<this>
WARMUP_BATCH_SIZES = (1, 16)  # cuDNN picks algorithms per shape: warm the single request and a batch
# Ops that only load or save variables: they run once on the host, never in a request.
_HOST_ONLY_OPS = frozenset({"SaveV2", "RestoreV2", "MergeV2Checkpoints", "ShardedFilename", "StringJoin",
                            "StaticRegexFullMatch"})


def next_version(model_dir: Path) -> int:
    """The version number the next export of ``model_dir`` would get (informational: exports claim
    theirs under a lock, :func:`keras_gen.utils.fileio.new_version_dir`)."""
    return (numbered_versions(model_dir) or [0])[-1] + 1


def export_name(model_name: str, dataset: str) -> str:
    return f"{model_name}_{dataset}"


def _from_unit(images, value_range):
    """[0, 1] images (what signatures take) -> the model's value range."""
    if value_range == "minus_one_one":
        return images * 2.0 - 1.0
    return images


MAX_BATCH = 4096  # images per request, at most; lower for large images (see max_batch)
MAX_BATCH_BYTES = 512 << 20  # ... so that one request's output stays under 512 MB


def max_batch(image_shape) -> int:
    """The largest batch a signature accepts (recorded as ``max_batch`` in keras_gen.json): a
    100,000-seed request is refused with an error instead of exhausting the server's memory."""
    return int(max(1, min(MAX_BATCH, MAX_BATCH_BYTES // (4 * math.prod(image_shape)))))


def checked_input(name: str, x, *, cap: int, num_classes: int | None, shape=None):
    """``x`` with TF Serving-visible checks (InvalidArgumentError, HTTP 400) attached: the batch cap
    for every input, the shape past the batch (``shape``; a served signature does not enforce its
    own), finite latents, finite images in [0, 1], labels in [0, num_classes)."""
    checks = [tf.debugging.assert_less_equal(tf.shape(x)[0], cap,
                                             message=f"{name}: batch larger than max_batch={cap}; split the request")]
    if shape:
        checks.append(tf.debugging.assert_equal(
            tf.shape(x)[1:], tf.constant(shape, tf.int32),
            message=f"{name} must have shape [batch, {', '.join(map(str, shape))}]"))
    if name in ("z", "images"):
        checks.append(tf.debugging.assert_all_finite(x, f"{name} holds NaN or infinity"))
    if name == "images":
        checks += [tf.debugging.assert_greater_equal(x, 0.0, message="images must be in [0, 1]"),
                   tf.debugging.assert_less_equal(x, 1.0, message="images must be in [0, 1]")]
    if name == "label" and num_classes is not None:
        checks += [tf.debugging.assert_greater_equal(x, 0, message=f"label must be in [0, {num_classes})"),
                   tf.debugging.assert_less(x, num_classes, message=f"label must be in [0, {num_classes})")]
    with tf.control_dependencies(checks):
        return tf.identity(x)


def build_archive(model) -> keras.export.ExportArchive:
    """An ``ExportArchive`` with every signature ``model`` supports (``sample`` first); each checks
    its inputs (:func:`checked_input`) before the network sees them."""
    h, w, c = model.image_shape
    specs = {"seed": tf.TensorSpec([None], tf.int32, name="seed"),
             "label": tf.TensorSpec([None], tf.int32, name="label"),
             "z": tf.TensorSpec([None, model.latent_dim], tf.float32, name="z"),
             "images": tf.TensorSpec([None, h, w, c], tf.float32, name="images")}
    cap = max_batch(model.image_shape)
    value_range = model.value_range
    label = ("label",) if model.conditional else ()

    def encode(images, *labels):
        z_mean, z_log_var = model.encode(images, *labels)
        return {"z_mean": z_mean, "z_log_var": z_log_var}

    endpoints = {  # name -> (function of the inputs, input names)
        "sample": (lambda seed, *labels: {"images": model.sample(seed, *labels)}, ("seed", *label)),
        "generate": (lambda z, *labels: {"images": model.generate_unit(z, *labels)}, ("z", *label)),
        "latent": (lambda seed: {"z": model.latent_from_seeds(seed)}, ("seed",)),
    }
    if model.family == "vae":
        endpoints["encode"] = (encode, ("images", *label))
        endpoints["decode"] = (lambda z, *labels: {"images": model.generate_unit(z, *labels)}, ("z", *label))
        endpoints["reconstruct"] = (lambda images, *labels: {"images": model.reconstruct(images, *labels)},
                                    ("images", *label))
    else:
        endpoints["discriminate"] = (
            lambda images, *labels: {"score": model.score(_from_unit(images, value_range), *labels)},
            ("images", *label))

    # No ``archive.track(model)``: the endpoints' traces capture every variable they read, and
    # tracking the model as well wrote each weight twice (Keras' ``keras.Variable`` wrappers beside
    # the captured ``tf.Variable``s: keras-team/keras#23553), doubling the export's size and the
    # server's memory. Untracked, an export holds what its signatures read and nothing else: no
    # optimizer slots, and for a GAN with ``--ema`` only the averaged generator.
    archive = keras.export.ExportArchive()
    def checked(fn, inputs):
        def endpoint(*args):
            return fn(*(checked_input(n, x, cap=cap, num_classes=model.num_classes,
                                      shape=tuple(specs[n].shape[1:])) for n, x in zip(inputs, args)))
        return endpoint

    for name, (fn, inputs) in endpoints.items():
        archive.add_endpoint(name, checked(fn, inputs), input_signature=[specs[n] for n in inputs])
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
        "max_batch": max_batch(model.image_shape),  # larger requests are refused (InvalidArgumentError)
        "seed_generator": seeded.NAME,  # how sample/latent turn a seed into a latent (keras_gen.utils.seeded)
        **(extra or {}),
    }


def _signature_names(model):
    names = {"sample", "generate", "latent", "serving_default"}
    names |= {"encode", "decode", "reconstruct"} if model.family == "vae" else {"discriminate"}
    return names


def export_model(model, root: str | os.PathLike, *, model_name: str, dataset: str, steps: int,
                 extra_metadata: dict | None = None, name: str | None = None, publish: str = "auto",
                 log: Callable[[str], None] = lambda line: None) -> Path:
    """Write the next version of ``<root>/<model>_<dataset>/`` atomically, with TF Serving warm-up
    requests and after the portability check; decide whether it is served (``publish``: auto,
    always or never, see :mod:`keras_gen.export.publish`; the decision's line goes to ``log``);
    rewrite ``<root>/models.config``; return the version's path. ``name`` replaces the directory's
    name ``<model>_<dataset>``."""
    check_mode(publish)
    model_dir = Path(root) / (name or export_name(model_name, dataset))
    check_finite(model, what=f"model {model_name}")
    archive = build_archive(model)
    try:
        model_dir.mkdir(parents=True, exist_ok=True)
        claim_model(Path(root), model_dir.name)
        with new_version_dir(model_dir) as (tmp, published):
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
        write_models_config(root)  # the new version is on disk, not served yet
    except (OSError, tf.errors.OpError) as err:  # TensorFlow's own file system reports tf.errors
        if is_disk_full(err):
            raise UserError(no_space_message(model_dir, needed=export_size_estimate(model),
                                             fix="free space or pass --export-dir on another disk")) from None
        raise
    log(decide(published[0], publish, log=log).line())
    return published[0]


def check_finite(model, *, what: str) -> None:
    """Refuse weights that are NaN or infinite (a diverged run): they would serve garbage."""
    bad = model.non_finite_weights()
    if bad:
        raise UserError(f"{what} has non-finite weights ({bad[0]}); it diverged: export an earlier "
                        "checkpoint (--checkpoint N) or retrain with a lower --lr")


def export_size_estimate(model) -> int:
    """Bytes an export of ``model`` takes, about: its weights, plus the graph."""
    return int(sum(np.prod(v.shape) * 4 for v in model.weights)) + (2 << 20)


def no_space_message(where: Path, *, needed: int, fix: str) -> str:
    free = shutil.disk_usage(where if where.exists() else where.parent).free if where.parent.exists() else 0
    return (f"no space left on the device writing {where} (needs about {needed / 1e6:.1f} MB, "
            f"{free / 1e6:.1f} MB free); {fix}")


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
