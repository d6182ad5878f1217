"""TF Serving's gRPC API over the same model repository as the REST server (``keras-gen serve
--grpc-port 8500``): ``PredictionService.Predict`` and ``GetModelMetadata``, and
``ModelService.GetModelStatus``, with the request and reply protos of the ``tensorflow-serving-api``
package, so a client written for TF Serving (``prediction_service_pb2_grpc.PredictionServiceStub``)
works unchanged.

Requests go through the REST server's checks (:func:`keras_gen.serving.rest.run_signature`), so a
bad request gets the same message; the status codes are TF Serving's: an unknown model or version is
``NOT_FOUND``, an unknown signature and every bad input ``INVALID_ARGUMENT``, a request over the batch
cap ``RESOURCE_EXHAUSTED``. Not served: ``Classify``, ``Regress``, ``MultiInference`` (keras_gen
exports have predict signatures only) and ``ModelService.HandleReloadConfigRequest``; they answer
``UNIMPLEMENTED``. Version labels (``version_label``) are refused, as by the REST server.
"""

from __future__ import annotations

from concurrent import futures

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from keras_gen.serving.repository import ApiError, ModelRepository, ServedVersion
from keras_gen.serving.rest import DEFAULT_SIGNATURE, run_signature

# REST status -> gRPC status, as TF Serving maps its own errors to both.
_CODES = {400: grpc.StatusCode.INVALID_ARGUMENT, 404: grpc.StatusCode.NOT_FOUND,
          413: grpc.StatusCode.RESOURCE_EXHAUSTED, 503: grpc.StatusCode.UNAVAILABLE}


def _abort(context, err: ApiError):
    code = _CODES.get(err.status, grpc.StatusCode.INTERNAL)
    if err.status == 400 and "max_batch" in str(err):
        code = grpc.StatusCode.RESOURCE_EXHAUSTED
    context.abort(code, str(err))


def _check_spec(spec) -> None:
    if spec.version_label:
        raise ApiError(400, "version labels are not supported by this server; set model_spec.version")
    if not spec.name:
        raise ApiError(400, "model_spec.name is empty; name the model (see GET /v1/models)")


def _entry(repository: ModelRepository, spec) -> ServedVersion:
    _check_spec(spec)
    repository.refresh()
    return repository.get(spec.name, spec.version.value if spec.HasField("version") else None)


def signature_def_map(entry: ServedVersion) -> get_model_metadata_pb2.SignatureDefMap:
    """The version's signature defs, as TF Serving sends them."""
    out = get_model_metadata_pb2.SignatureDefMap()
    for key, sig in entry.signature_def_protos().items():
        out.signature_def[key].CopyFrom(sig)
    return out


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, repository: ModelRepository, batcher=None):
        self.repository = repository
        self.batcher = batcher

    def Predict(self, request, context):  # noqa: N802 (the proto's method name)
        try:
            entry = _entry(self.repository, request.model_spec)
            module = self.repository.load(entry)
            signature = request.model_spec.signature_name or DEFAULT_SIGNATURE
            try:
                raw = {name: tf.make_ndarray(tensor) for name, tensor in request.inputs.items()}
            except (TypeError, ValueError) as err:
                raise ApiError(400, f"an input is not a valid TensorProto: {err}") from None
            outputs = run_signature(entry, module, signature, raw, batcher=self.batcher,
                                    max_batch=entry.max_batch(self.repository.default_max_batch))
            wanted = list(request.output_filter) or sorted(outputs)
            unknown = [k for k in wanted if k not in outputs]
            if unknown:
                raise ApiError(400, f"output_filter names {unknown[0]!r}, which signature {signature!r} does not "
                                    f"have; it has {', '.join(sorted(outputs))}")
        except ApiError as err:
            _abort(context, err)
        reply = predict_pb2.PredictResponse()
        reply.model_spec.name = entry.name
        reply.model_spec.version.value = entry.version
        reply.model_spec.signature_name = signature
        for key in wanted:
            reply.outputs[key].CopyFrom(tf.make_tensor_proto(np.ascontiguousarray(outputs[key])))
        return reply

    def GetModelMetadata(self, request, context):  # noqa: N802
        try:
            entry = _entry(self.repository, request.model_spec)
            fields = list(request.metadata_field)
            if fields != ["signature_def"]:
                raise ApiError(400, f"metadata_field must be ['signature_def'] (the one field TF Serving "
                                    f"serves), got {fields}")
            defs = signature_def_map(entry)
        except ApiError as err:
            _abort(context, err)
        reply = get_model_metadata_pb2.GetModelMetadataResponse()
        reply.model_spec.name = entry.name
        reply.model_spec.version.value = entry.version
        reply.metadata["signature_def"].Pack(defs)
        return reply

    def Classify(self, request, context):  # noqa: N802
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "keras_gen exports have predict signatures only: use Predict")

    Regress = MultiInference = Classify


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, repository: ModelRepository):
        self.repository = repository

    def GetModelStatus(self, request, context):  # noqa: N802
        try:
            spec = request.model_spec
            if spec.HasField("version"):
                entries = [_entry(self.repository, spec)]
            else:
                _check_spec(spec)
                self.repository.refresh()
                entries = self.repository.versions(spec.name)
        except ApiError as err:
            _abort(context, err)
        reply = get_model_status_pb2.GetModelStatusResponse()
        for entry in entries:
            status = reply.model_version_status.add()
            status.version = entry.version
            try:
                self.repository.load(entry)
                status.state = get_model_status_pb2.ModelVersionStatus.AVAILABLE
            except ApiError:
                status.state = get_model_status_pb2.ModelVersionStatus.END
                status.status.error_code = 2  # UNKNOWN, as TF Serving reports a version that failed to load
                status.status.error_message = entry.error or ""
        return reply

    def HandleReloadConfigRequest(self, request, context):  # noqa: N802
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "this server rescans its export root on every request; "
                                                     "there is no model config to reload")


def start_grpc_server(repository: ModelRepository, host: str, port: int, *, workers: int = 8,
                      batcher=None) -> tuple:
    """Serve ``repository`` over gRPC on ``host:port`` (0: a free port); ``(server, bound port)``,
    the server already started (``server.stop(grace)`` ends it)."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers),
                         options=[("grpc.max_receive_message_length", 64 * 1024 * 1024),
                                  ("grpc.max_send_message_length", 256 * 1024 * 1024)])
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionService(repository, batcher),
                                                                        server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(repository), server)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    bound = server.add_insecure_port(address)
    if bound == 0:
        raise OSError(f"cannot listen on {address} for gRPC")
    server.start()
    return server, bound
