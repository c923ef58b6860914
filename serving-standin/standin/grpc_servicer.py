"""The gRPC API: TF Serving's PredictionService (Predict, GetModelMetadata) and ModelService
(GetModelStatus), on the servicer base classes and messages that the tensorflow-serving-api package
generates from TF Serving's own .proto files. Importing this module fails where that package is not
installed, which is how start-up tells whether the gRPC API can be served.

Each call reaches the same loaded version and the same signature runner as the REST API, so both
APIs answer alike, and errors carry TF Serving's codes and messages as gRPC statuses. Behaviour read
in TF Serving's `predict_util.cc` (`RunPredict`: signature from `model_spec.signature_name`, default
`serving_default`; the response's `model_spec` names the version that ran),
`get_model_metadata_impl.cc` (only the `signature_def` metadata field; a SignatureDefMap packed in
an Any) and `get_model_status_impl.cc`.
"""

from concurrent import futures

import grpc
from google.protobuf import any_pb2
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from .dataplane import run_signature
from .errors import CODE_NAMES, ServingError

STATES = {"UNKNOWN": 0, "START": 10, "LOADING": 20, "AVAILABLE": 30, "UNLOADING": 40, "END": 50}


def tensor_proto(array):
    """A TensorProto of a numpy array, with float_val for float32 as TF Serving sends outputs
    (its --enable_serialization_as_tensor_content is false by default)."""
    import tensorflow as tf

    if array.dtype.name == "float32":
        shape = tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in array.shape]
        )
        return tensor_pb2.TensorProto(dtype=1, tensor_shape=shape, float_val=array.ravel().tolist())
    return tf.make_tensor_proto(array)


def guarded(call):
    """A servicer method running `call(request)`, with ServingErrors as the gRPC status TF Serving
    answers with."""

    def method(self, request, context):
        try:
            return call(self.repository, request)
        except ServingError as err:
            context.abort(getattr(grpc.StatusCode, err.code), err.message)

    return method


def requested(repository, spec):
    """The model name and version number (None for latest) a ModelSpec asks for."""
    which = spec.WhichOneof("version_choice")
    version = str(spec.version.value) if which == "version" else None
    label = spec.version_label if which == "version_label" else None
    return spec.name, repository.resolve(spec.name, version, label)


def predict(repository, request):
    import numpy as np
    import tensorflow as tf

    name, number = requested(repository, request.model_spec)
    version = repository.servable(name, number)
    signature_name = request.model_spec.signature_name or "serving_default"
    arrays = {}
    for key, proto in request.inputs.items():
        try:
            arrays[key] = np.asarray(tf.make_ndarray(proto))
        except (TypeError, ValueError) as err:
            raise ServingError("INVALID_ARGUMENT", f"input {key}: {err}")
    outputs = run_signature(version, signature_name, arrays)
    wanted = list(request.output_filter) or list(outputs)
    unknown = [k for k in wanted if k not in outputs]
    if unknown:
        raise ServingError("INVALID_ARGUMENT", f"output tensor alias not found in signature: {unknown[0]}")
    response = predict_pb2.PredictResponse()
    response.model_spec.name = name
    response.model_spec.version.value = version.number
    response.model_spec.signature_name = signature_name
    for key in wanted:
        response.outputs[key].CopyFrom(tensor_proto(outputs[key]))
    return response


def metadata(repository, request):
    if list(request.metadata_field) != ["signature_def"]:
        raise ServingError(
            "INVALID_ARGUMENT",
            f"Metadata field {','.join(request.metadata_field) or '(none)'} is not supported",
        )
    name, number = requested(repository, request.model_spec)
    version = repository.servable(name, number)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    for key, sig in version.signature_defs.items():
        signatures.signature_def[key].CopyFrom(sig)
    packed = any_pb2.Any()
    packed.Pack(signatures)
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    response.model_spec.name = name
    response.model_spec.version.value = version.number
    response.metadata["signature_def"].CopyFrom(packed)
    return response


def status(repository, request):
    name, number = requested(repository, request.model_spec)
    response = get_model_status_pb2.GetModelStatusResponse()
    for entry in repository.status(name, number)["model_version_status"]:
        v = response.model_version_status.add()
        v.version = int(entry["version"])
        v.state = STATES[entry["state"]]
        v.status.error_code = CODE_NAMES.index(entry["status"]["error_code"])
        v.status.error_message = entry["status"]["error_message"]
    return response


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, repository):
        self.repository = repository

    Predict = guarded(predict)
    GetModelMetadata = guarded(metadata)


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, repository):
        self.repository = repository

    GetModelStatus = guarded(status)


def build_server(repository, address):
    """A gRPC server on `address` (HOST:PORT, port 0 for a free one) and the port it bound."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionService(repository), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(repository), server)
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot bind {address}")
    return server, port
