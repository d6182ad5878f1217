"""A local server speaking TF Serving's REST API over the exports under an export root.

Production serving is TF Serving (see the README); this server is for local use, tests and the
latent explorer (:mod:`keras_gen.serving.explorer_app`). It answers the part of TF Serving's REST API
that keras_gen exports need, with TF Serving's request and reply shapes:

* ``GET /v1/models/<name>[/versions/<v>]``: model status, ``{"model_version_status": [{"version":
  "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}``;
* ``GET /v1/models/<name>[/versions/<v>]/metadata``: the signature defs, in TF Serving's JSON shape;
* ``POST /v1/models/<name>[/versions/<v>]:predict``: ``signature_name`` (default
  ``serving_default``) with the row format (``instances`` -> ``{"predictions": [...]}``) or the
  columnar format (``inputs`` -> ``{"outputs": ...}``: the tensor itself for one output, an object
  keyed by output name for several);
* ``GET /v1/keras_gen/models``: not TF Serving's: every model under the root, with each version's
  ``keras_gen.json`` and the batch cap, ``{"models": [{"name", "latest_version", "versions":
  [{"version", "keras_gen", "max_batch"}]}]}`` (newest version first). Read from the files, no model
  is loaded for it.

Errors are ``{"error": "..."}`` with 400 for a bad request (malformed JSON, an unknown signature, a
missing or unknown input, a wrong shape or dtype, NaN or infinity, a seed outside int32, a label
outside the model's classes, a batch over the cap, an encoding other than gzip, ``true`` where a
number belongs, a URL or method none of the API's forms takes, a version label), 404 for an
unknown model or version, 413 for a body over ``max_body_bytes`` (after gzip's decompression): the
codes TF Serving gives (its ``http_rest_api_handler_test.cc``, ported in tests/test_rest_server.py);
the server keeps serving after any of them. As in TF Serving, ``"signature_name":
""`` is ``serving_default`` and a whole float is written with its ``.0``.

Exports are found by scanning: a root holds ``<name>/<version>/saved_model.pb`` (TF Serving's
layout, ``name`` = ``<model>_<dataset>``); a model directory or a version directory can be given
instead. The scan runs again on every request, so a version written by a later export is served by
the next request (and the newest version is the default). Versions are loaded with
``tf.saved_model.load`` only, on first use (``preload`` loads each model's newest at start-up), and
kept. The batch per request is capped by ``max_batch`` in the version's ``keras_gen.json`` when it
has one, else by the server's (1024).

The exports come from :mod:`keras_gen.serving.repository`, the server loop from
:mod:`keras_gen.serving.server`. This module imports nothing from keras_gen but
:mod:`keras_gen.serving` and :mod:`keras_gen.utils`.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import traceback
import zlib

import numpy as np
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge
from werkzeug.routing import BaseConverter, Map, Rule
from werkzeug.wrappers import Request, Response

from keras_gen.serving import DEFAULT_MAX_BATCH, INT32_MAX, INT32_MIN
from keras_gen.serving.repository import ApiError, ModelRepository, ServedVersion

DEFAULT_MAX_BODY_BYTES = 64 << 20  # a 1024 x 28 x 28 batch of floats is about 15 MiB of JSON
DEFAULT_SIGNATURE = "serving_default"
FLOAT32_MAX_INT = 2**24 - 1  # the largest integer TF Serving's JSON reader puts into a float tensor exactly
_DTYPES = {"float32": "DT_FLOAT", "int32": "DT_INT32", "int64": "DT_INT64", "float64": "DT_DOUBLE",
           "string": "DT_STRING", "bool": "DT_BOOL", "uint8": "DT_UINT8", "float16": "DT_HALF"}


# --------------------------------------------------------------------------- metadata
def _tensor_info(info) -> dict:
    from tensorflow.core.framework import types_pb2

    dims = [{"size": str(d.size), "name": d.name} for d in info.tensor_shape.dim]
    return {"dtype": types_pb2.DataType.Name(info.dtype),
            "tensor_shape": {"dim": dims, "unknown_rank": bool(info.tensor_shape.unknown_rank)},
            "name": info.name}


def signature_defs(entry: ServedVersion) -> dict:
    """The version's signature defs as TF Serving's metadata reply shows them."""
    return {key: {"inputs": {k: _tensor_info(v) for k, v in sig.inputs.items()},
                  "outputs": {k: _tensor_info(v) for k, v in sig.outputs.items()},
                  "method_name": sig.method_name, "defaults": {}}
            for key, sig in entry.signature_def_protos().items()}


# --------------------------------------------------------------------------- predict
def _shape_text(shape) -> str:
    return "[" + ", ".join("B" if i == 0 and d is None else ("?" if d is None else str(d))
                           for i, d in enumerate(shape)) + "]"


def check_version(version: int | None) -> None:
    """A version number TF Serving can hold (int64); else its 400."""
    if version is not None and version > 2**63 - 1:
        raise ApiError(400, f"Failed to convert version: {version} (versions are 64-bit integers)")


def holds_boolean(value) -> bool:
    """Whether a JSON value holds ``true``/``false`` anywhere: TF Serving reads them only into bool
    tensors, while numpy would read ``[true, 1]`` as the integers ``[1, 1]``."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, bool):
            return True
        if isinstance(item, list):
            stack.extend(item)
    return False


def to_input_array(value, spec, *, name: str, signature: str) -> np.ndarray:
    """A JSON value as the numpy array ``spec`` (a TensorSpec) takes; ApiError 400 otherwise."""
    dtype = spec.dtype.name
    want = f"{dtype} {_shape_text(spec.shape.as_list())}"
    if dtype != "bool" and holds_boolean(value):
        raise ApiError(400, f"input {name!r} of signature {signature!r} holds booleans, not of expected type: "
                            f"{dtype}; it takes {want}")
    try:
        array = np.array(value)
    except (ValueError, OverflowError, TypeError):
        raise ApiError(400, f"input {name!r} of signature {signature!r} is not a rectangular array of numbers "
                            f"(Encountered list at unexpected size); it takes {want}") from None
    if array.ndim == 1 and array.size == 0:  # an empty batch gets an empty answer, as in TF Serving
        return np.zeros([0, *(d or 0 for d in spec.shape.as_list()[1:])], dtype)
    if array.dtype.kind not in "iuf":
        if array.dtype == object and all(isinstance(v, int) for v in np.ravel(array)) and array.size:
            raise ApiError(400, f"input {name!r} must fit in {dtype}"
                                + (f" ({INT32_MIN}..{INT32_MAX})" if dtype == "int32" else "")
                                + ", got integers beyond int64")
        kind = {"b": "booleans", "U": "strings", "S": "strings"}.get(array.dtype.kind, "non-numbers or ragged rows")
        raise ApiError(400, f"input {name!r} of signature {signature!r} holds {kind}, not of expected type: "
                            f"{dtype}; it takes {want}")
    shape = spec.shape.as_list()
    if array.ndim != len(shape) or any(d is not None and d != a for d, a in zip(shape, array.shape)):
        raise ApiError(400, f"input {name!r} of signature {signature!r} must have shape {_shape_text(shape)} "
                            f"({dtype}), got {list(array.shape)}")
    if dtype == "int32":
        if array.dtype.kind == "f":
            raise ApiError(400, f"input {name!r} of signature {signature!r} must be integers (int32), got "
                                "numbers with a fraction or exponent")
        if array.size and (array.min() < INT32_MIN or array.max() > INT32_MAX):
            raise ApiError(400, f"input {name!r} must fit in int32 ({INT32_MIN}..{INT32_MAX}), got "
                                f"{array.min()}..{array.max()}")
        return array.astype(np.int32)
    if dtype == "float32":
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise ApiError(400, f"input {name!r} of signature {signature!r} holds NaN or infinite values; "
                                "pass finite numbers")
        with np.errstate(over="ignore"):
            converted = array.astype(np.float32)
        # As TF Serving's json_tensor: a number float32 cannot hold (beyond its range, or an integer
        # beyond 2**24 - 1, the last it holds exactly) is refused, not rounded.
        if not np.isfinite(converted).all() or (array.dtype.kind in "iu" and array.size
                                                   and np.abs(array).max() > FLOAT32_MAX_INT):
            raise ApiError(400, f"input {name!r} of signature {signature!r}: cannot convert a value to float32 "
                                f"without loss of precision (beyond float32's range, or an integer beyond "
                                f"{FLOAT32_MAX_INT:,}); pass a number float32 holds")
        return converted
    try:
        return array.astype(dtype)
    except (TypeError, ValueError):
        raise ApiError(400, f"input {name!r} cannot be converted to {dtype}") from None


def _named_inputs(value, input_names: list[str], signature: str, *, where: str) -> dict:
    """``value`` -> ``{input: value}``: an object keyed by input name, or the bare value when the
    signature has one input."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(input_names))
        if unknown:
            raise ApiError(400, f"unknown input {unknown[0]!r} in {where} (does not have named input: "
                                f"{unknown[0]}); signature {signature!r} takes {', '.join(input_names)}")
        missing = [n for n in input_names if n not in value]
        if missing:
            phrase = f"keys must be equal to: {','.join(input_names)}" if where == "an instance" else \
                f"Missing named input: {missing[0]}"
            raise ApiError(400, f"missing input {missing[0]!r} in {where} ({phrase}); signature {signature!r} "
                                f"takes {', '.join(input_names)}")
        return value
    if len(input_names) != 1:
        plain = "instances is a plain list, but expecting list of objects" if where == "an instance" else \
            "inputs is a plain value/list, but expecting an object"
        raise ApiError(400, f"{where} must be an object keyed by input name ({plain} as multiple input tensors "
                            f"required): signature {signature!r} takes {', '.join(input_names)}")
    return {input_names[0]: value}


def _instance_arrays(rows: list[dict], input_names: list[str]) -> dict:
    """The row format's instances stacked per input, checked as TF Serving's json_tensor checks
    them: every instance of an input has the first one's size, then its shape."""
    raw = {}
    for name in input_names:
        raw[name] = [row[name] for row in rows]
        if _rectangular(raw[name]):
            continue  # every instance alike: the common case, checked in one conversion
        shapes = [np.shape(row[name]) if _rectangular(row[name]) else None for row in rows]
        first = shapes[0]
        for i, shape in enumerate(shapes[1:], 1):
            if shape is None or first is None:
                break  # a ragged instance: to_input_array says so
            if int(np.prod(shape)) != int(np.prod(first)):
                raise ApiError(400, f"instance {i} of input {name!r} (Expecting tensor size: {int(np.prod(first))} "
                                    f"but got: {int(np.prod(shape))}); every instance must have the first's shape "
                                    f"{list(first)}")
            if shape != first:
                raise ApiError(400, f"instance {i} of input {name!r} (Expecting shape {list(first)} but got: "
                                    f"{list(shape)}); every instance must have the first's shape")
    return raw


def _rectangular(value) -> bool:
    try:
        return np.array(value).dtype != object
    except (ValueError, OverflowError, TypeError):
        return False


def parse_predict_body(body: bytes) -> dict:
    if not body.strip():
        raise ApiError(400, "empty request body; send JSON such as "
                            '{"signature_name": "sample", "inputs": {"seed": [0, 1]}}')
    try:
        request = json.loads(body)
    except UnicodeDecodeError:
        raise ApiError(400, "the request body is not UTF-8 JSON") from None
    except json.JSONDecodeError as err:
        raise ApiError(400, f"malformed JSON in the request body: {err}") from None
    except RecursionError:
        raise ApiError(400, "malformed JSON in the request body: nested too deeply") from None
    if not isinstance(request, dict):
        raise ApiError(400, "the request body must be a JSON object with signature_name and instances or inputs")
    unknown = sorted(set(request) - {"signature_name", "instances", "inputs"})
    if unknown:
        raise ApiError(400, f"unknown key {unknown[0]!r} in the request; expected signature_name and "
                            "instances (row format) or inputs (columnar format)")
    if "instances" in request and "inputs" in request:
        raise ApiError(400, "the request needs exactly one of instances (row format) or inputs (columnar format) "
                            "(Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist)")
    if "instances" not in request and "inputs" not in request:
        raise ApiError(400, "the request needs exactly one of instances (row format) or inputs (columnar format) "
                            "(Missing 'inputs' or 'instances' key)")
    if not isinstance(request.get("signature_name", DEFAULT_SIGNATURE), str):
        raise ApiError(400, "signature_name must be a string ('signature_name' key must be a string value)")
    return request


def run_signature(entry: ServedVersion, module, signature: str, raw: dict, *, max_batch: int, batcher=None) -> dict:
    """Run ``signature`` of a loaded version on ``raw`` ({input: array-like}, every input named):
    ``{output: numpy array}``. Every check TF Serving's clients rely on comes first (dtype, shape,
    batch size, labels in range), as an ApiError (400; 404 for an unknown signature), so the REST and
    the gRPC front ends answer a bad request alike. With a ``batcher``
    (:class:`keras_gen.serving.batching.Batcher`), the call joins concurrent requests'."""
    import tensorflow as tf

    signatures = module.signatures
    if signature not in signatures:  # 400, as TF Serving answers it (the model exists; the request is wrong)
        raise ApiError(400, f"model {entry.name!r} version {entry.version} has no signature {signature!r}; it has "
                            f"{', '.join(sorted(signatures))}")
    fn = signatures[signature]
    specs = fn.structured_input_signature[1]
    raw = _named_inputs(raw, sorted(specs), signature, where="inputs")
    arrays = {n: to_input_array(raw[n], specs[n], name=n, signature=signature) for n in sorted(specs)}
    sizes = {n: (a.shape[0] if a.ndim else None) for n, a in arrays.items()}
    batch = {s for s in sizes.values() if s is not None}
    if len(batch) > 1:
        raise ApiError(400, "inputs disagree on the batch size: "
                            + ", ".join(f"{n} has {s}" for n, s in sizes.items()))
    size = batch.pop() if batch else 1
    if size > max_batch:
        raise _batch_error(size, max_batch)
    if "label" in arrays and entry.num_classes is not None:
        labels = arrays["label"]
        bad = labels[(labels < 0) | (labels >= entry.num_classes)]
        if bad.size:
            raise ApiError(400, f"label {int(bad[0])} is out of range: model {entry.name!r} has "
                                f"{entry.num_classes} classes (0..{entry.num_classes - 1})")

    def call(inputs: dict) -> dict:
        try:
            outputs = fn(**{n: tf.constant(a) for n, a in inputs.items()})
        except (tf.errors.InvalidArgumentError, ValueError, TypeError) as err:
            raise ApiError(400, f"signature {signature!r} rejected the inputs: "
                                f"{(str(err).strip().splitlines() or [''])[0][:300]}") from None
        return {k: v.numpy() for k, v in outputs.items()}

    if size == 0:  # an empty batch gets an empty answer, as in TF Serving, without running the network
        # (a Reshape that infers a dimension cannot on zero elements: cgan's generator fails on one)
        return {k: np.zeros([0, *(d or 0 for d in spec.shape.as_list()[1:])], spec.dtype.as_numpy_dtype)
                for k, spec in fn.structured_outputs.items()}
    if batcher is None or any(a.ndim == 0 for a in arrays.values()):
        return call(arrays)
    return batcher.run((entry.name, entry.version, signature), call, arrays)


def predict(entry: ServedVersion, module, request: dict, *, max_batch: int, batcher=None) -> dict:
    """Run one parsed predict request on a loaded version; TF Serving's reply as a dict."""
    signature = request.get("signature_name") or DEFAULT_SIGNATURE  # "" is serving_default, as in TF Serving
    if signature not in module.signatures:
        run_signature(entry, module, signature, {}, max_batch=max_batch)  # the unknown-signature error
    input_names = sorted(module.signatures[signature].structured_input_signature[1])
    row_format = "instances" in request
    if row_format:
        instances = request["instances"]
        if not isinstance(instances, list) or not instances:
            raise ApiError(400, "instances must be a non-empty list, one entry per example (No values in "
                                "'instances' array)")
        if len(instances) > max_batch:
            raise _batch_error(len(instances), max_batch)
        objects = isinstance(instances[0], dict)
        for i, instance in enumerate(instances):
            if isinstance(instance, dict) != objects:
                got, want = ("list", "object") if objects else ("object", "value/list")
                raise ApiError(400, f"instances mix objects with values and lists (Expecting {want} but got {got} "
                                    f"at item {i} of input list); make every instance the same kind")
        rows = [_named_inputs(i, input_names, signature, where="an instance") for i in instances]
        raw = _instance_arrays(rows, input_names)
    else:
        raw = _named_inputs(request["inputs"], input_names, signature, where="inputs")
    outputs = run_signature(entry, module, signature, raw, max_batch=max_batch, batcher=batcher)
    if row_format:
        if len(outputs) == 1:
            (value,) = outputs.values()
            return {"predictions": value}
        size = len(next(iter(outputs.values())))
        keys = sorted(outputs)
        return {"predictions": [{k: outputs[k][i] for k in keys} for i in range(size)]}
    if len(outputs) == 1:
        (value,) = outputs.values()
        return {"outputs": value}
    return {"outputs": dict(sorted(outputs.items()))}


def array_json(array: np.ndarray) -> str:
    """A numpy array as JSON nested lists, fast: float32 with 9 significant digits (exact for
    float32, and half the text of Python's float repr), a whole float with its ``.0`` (``1.0``, as
    TF Serving writes it, so a client parsing floats never meets an integer), integers as integers."""
    array = np.asarray(array)
    if array.ndim == 0 or array.dtype.kind not in "fiu" or (array.dtype.kind == "f" and not np.isfinite(array).all()):
        return json.dumps(array.tolist())  # NaN and infinity as Python's json writes them (as TF Serving does)
    spec = "%.9g" if array.dtype.kind == "f" else "%d"
    last = array.shape[-1]
    if array.size == 0:
        return json.dumps(np.zeros(array.shape).tolist())
    row = "[" + ",".join([spec] * last) + "]"
    parts = [row % tuple(r) for r in array.reshape(-1, last).tolist()]
    if array.dtype.kind == "f":
        parts = [_WHOLE.sub(r"\1.0", part) for part in parts]
    for n in reversed(array.shape[:-1]):
        parts = ["[" + ",".join(parts[i:i + n]) + "]" for i in range(0, len(parts), n)]
    return parts[0]


# A %g number without a point or an exponent (a whole float), at the end of its list entry.
_WHOLE = re.compile(r"(?<=[\[,])(-?\d+)(?=[,\]])")


def to_json(value) -> str:
    """``json.dumps`` that writes numpy arrays with :func:`array_json`."""
    if isinstance(value, np.ndarray):
        return array_json(value)
    if isinstance(value, np.generic):
        return json.dumps(value.item())
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(to_json(v) for v in value) + "]"
    return json.dumps(value)


def _batch_error(size: int, cap: int) -> ApiError:
    return ApiError(400, f"batch of {size} is over this server's cap of {cap} examples per request "
                         "(max_batch in the export's keras_gen.json, else the server's); split it into "
                         "smaller requests")


# --------------------------------------------------------------------------- the WSGI app
class _NameConverter(BaseConverter):
    regex = "[^/:]+"


def json_response(payload, status: int = 200) -> Response:
    return Response(to_json(payload), status=status, mimetype="application/json",
                    headers={"Cache-Control": "no-store"})


def error_response(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


class RestApp:
    """The WSGI application: TF Serving's REST API over a :class:`ModelRepository`."""

    def __init__(self, repository: ModelRepository, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                 allowed_hosts: set[str] | None = None, log=None, batching=None):
        self.repository = repository
        # TF Serving's --enable_batching (keras_gen.serving.batching), shared with the gRPC front end
        self.batcher = None
        if batching is not None:
            from keras_gen.serving.batching import Batcher

            self.batcher = Batcher(batching)
        self.max_body_bytes = max_body_bytes
        self.allowed_hosts = allowed_hosts
        self.log = log or (lambda message: print(message, file=sys.stderr, flush=True))
        self.url_map = Map([
            Rule("/v1/models/<name:name>", endpoint="status", methods=["GET"]),
            Rule("/v1/models/<name:name>/versions/<int:version>", endpoint="status", methods=["GET"]),
            Rule("/v1/models/<name:name>/metadata", endpoint="metadata", methods=["GET"]),
            Rule("/v1/models/<name:name>/versions/<int:version>/metadata", endpoint="metadata", methods=["GET"]),
            Rule("/v1/models/<name:name>:predict", endpoint="predict", methods=["POST"]),
            Rule("/v1/models/<name:name>/versions/<int:version>:predict", endpoint="predict", methods=["POST"]),
            Rule("/v1/models/<name:name>:<verb>", endpoint="other_verb", methods=["POST"]),
            Rule("/v1/models/<name:name>/versions/<int:version>:<verb>", endpoint="other_verb", methods=["POST"]),
            Rule("/v1/models/<name:name>/labels/<path:rest>", endpoint="labels"),
            Rule("/v1/keras_gen/models", endpoint="listing", methods=["GET"]),
        ], converters={"name": _NameConverter}, strict_slashes=False)

    # -- plumbing
    def __call__(self, environ, start_response):
        return self.handle(Request(environ))(environ, start_response)

    def host_allowed(self, request: Request) -> bool:
        """With a loopback bind, only loopback Host headers (no DNS rebinding from a web page)."""
        if self.allowed_hosts is None:
            return True
        host = request.host or ""
        host = host[1:host.find("]")] if host.startswith("[") else host.split(":")[0]
        return host.lower() in self.allowed_hosts

    def handle(self, request: Request) -> Response:
        if not self.host_allowed(request):
            return error_response(403, f"Host {request.host!r} is not served; use http://127.0.0.1 or localhost, or "
                                       "start the server with --allowed-host NAME for a name a proxy forwards")
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
            return getattr(self, f"on_{endpoint}")(request, **args)
        except ApiError as err:
            return error_response(err.status, str(err))
        except MethodNotAllowed as err:  # TF Serving: any request its URL patterns do not match is malformed (400)
            return error_response(400, f"Malformed request: {request.method} {request.path}; use "
                                       f"{', '.join(sorted(set(err.valid_methods or []) - {'HEAD', 'OPTIONS'}))}")
        except NotFound:
            if request.method == "GET" and request.path.rstrip("/") == "/v1/models":
                return error_response(400, "Missing model name in request; GET /v1/models/<name>")
            return error_response(400, f"Malformed request: {request.method} {request.path}; see GET "
                                       "/v1/models/<name>[/versions/<n>][/metadata], POST "
                                       "/v1/models/<name>[/versions/<n>]:predict")
        except RequestEntityTooLarge:
            return error_response(413, f"request body over {self.max_body_bytes} bytes; send smaller batches")
        except HTTPException as err:
            return error_response(err.code or 500, err.description or err.name)
        except Exception as err:  # a bug: logged with its traceback, answered, and the server goes on
            self.log(f"internal error on {request.method} {request.path}:\n{traceback.format_exc()}")
            return error_response(500, f"internal error: {type(err).__name__}: {err}")

    def _entry(self, name: str, version: int | None) -> ServedVersion:
        check_version(version)
        self.repository.refresh()
        return self.repository.get(name, version)

    # -- endpoints
    def on_status(self, request, name, version=None):
        check_version(version)
        self.repository.refresh()
        entries = [self.repository.get(name, version)] if version is not None else self.repository.versions(name)
        statuses = []
        for entry in entries:
            try:
                self.repository.load(entry)
                statuses.append({"version": str(entry.version), "state": "AVAILABLE",
                                 "status": {"error_code": "OK", "error_message": ""}})
            except ApiError:
                statuses.append({"version": str(entry.version), "state": "END",
                                 "status": {"error_code": "UNKNOWN", "error_message": entry.error or ""}})
        return json_response({"model_version_status": statuses})

    def on_metadata(self, request, name, version=None):
        entry = self._entry(name, version)
        return json_response({
            "model_spec": {"name": name, "signature_name": "", "version": str(entry.version)},
            "metadata": {"signature_def": {"signature_def": signature_defs(entry)}},
        })

    def on_predict(self, request, name, version=None):
        entry = self._entry(name, version)
        if request.content_length is not None and request.content_length > self.max_body_bytes:
            raise RequestEntityTooLarge()
        body = request.stream.read(self.max_body_bytes + 1)
        if len(body) > self.max_body_bytes:
            raise RequestEntityTooLarge()
        parsed = parse_predict_body(self._decoded(body, request.headers.get("Content-Encoding", "")))
        module = self.repository.load(entry)
        return json_response(predict(entry, module, parsed, batcher=self.batcher,
                                     max_batch=entry.max_batch(self.repository.default_max_batch)))

    def _decoded(self, body: bytes, encoding: str) -> bytes:
        """The body without its ``Content-Encoding``: gzip, as TF Serving's HTTP server accepts it
        (decompressed to at most the body limit), or none."""
        encoding = encoding.strip().lower()
        if encoding in ("", "identity"):
            return body
        if encoding != "gzip":
            raise ApiError(400, f"unsupported Content-Encoding {encoding!r}; send the body as is or gzip-compressed")
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)  # the gzip container
        try:
            out = inflate.decompress(body, self.max_body_bytes + 1)
        except zlib.error as err:
            raise ApiError(400, f"the gzip-encoded body cannot be decompressed ({err})") from None
        if len(out) > self.max_body_bytes or inflate.unconsumed_tail:
            raise RequestEntityTooLarge()
        return out

    def on_other_verb(self, request, name, verb, version=None):
        if verb not in ("classify", "regress"):
            raise ApiError(400, f"Malformed request: POST {request.path}; the verbs are :predict, :classify and "
                                ":regress")
        self._entry(name, version)
        raise ApiError(400, f":{verb} needs a classify or regress signature; keras_gen exports have "
                            "predict signatures only: use :predict")

    def on_labels(self, request, name, rest):
        """``.../labels/<label>[/metadata | :predict | :classify | :regress]``: TF Serving's forms; no
        label is assigned (keras_gen's models.config pins one version and names no label)."""
        form = re.fullmatch(r"([^/:]+)(/metadata|:predict|:classify|:regress)?", rest)
        method = "POST" if form and form.group(2) and form.group(2).startswith(":") else "GET"
        if form is None or request.method != method:
            raise ApiError(400, f"Malformed request: {request.method} {request.path}")
        self.repository.refresh()
        self.repository.versions(name)  # an unknown model: 404 first
        raise ApiError(400, f"Unrecognized servable version label: {form.group(1)} (no labels are assigned here; "
                            "use /versions/<number>)")

    def on_listing(self, request):
        self.repository.refresh()
        batching = {} if self.batcher is None else {"batching": {
            **dataclasses.asdict(self.batcher.options), "batches": self.batcher.batches,
            "requests": self.batcher.requests}}  # requests per batch: what batching gained
        return json_response({"models": self.repository.listing(), **batching})


def create_app(sources, *, max_batch: int = DEFAULT_MAX_BATCH, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
               allowed_hosts: set[str] | None = None, batching=None) -> RestApp:
    """The WSGI app serving the exports under ``sources`` (export roots, model or version dirs);
    ``batching``: a :class:`keras_gen.serving.batching.BatchingOptions` to batch concurrent requests."""
    return RestApp(ModelRepository(sources, max_batch=max_batch), max_body_bytes=max_body_bytes,
                   allowed_hosts=allowed_hosts, batching=batching)


