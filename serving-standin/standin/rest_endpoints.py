"""TF Serving's REST API (`api_rest.md`, `http_rest_api_handler.cc`, `http_rest_api_util.cc`): which
call a /v1/ path makes, and the JSON each call takes and answers with."""

import json
import re

from .dataplane import run_signature, signature_of
from .errors import ServingError

PREDICT_PATH = re.compile(
    r"^/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)$",
    re.IGNORECASE,
)
STATUS_PATH = re.compile(
    r"^/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?$",
    re.IGNORECASE,
)


def route(method, path):
    """The call a /v1/ path asks for: (model name, version, label, verb), the verb `status`,
    `metadata` or the one after the colon of a POST; or TF Serving's error for a malformed path."""
    match = (PREDICT_PATH if method == "POST" else STATUS_PATH).match(path)
    if match is None:
        raise ServingError("INVALID_ARGUMENT", f"Malformed request: {method} {path}")
    name, version, label, last = match.groups()
    if method == "POST":
        return name, version, label, last
    return name, version, label, "metadata" if last else "status"


def answer(repository, name, version, label, verb, body):
    """The JSON answer to one routed call, or a ServingError."""
    if verb in ("status", "metadata"):
        if name is None:
            raise ServingError("INVALID_ARGUMENT", "Missing model name in request.")
    elif verb != "predict":
        raise ServingError("UNIMPLEMENTED", f"{verb} is not supported by this stand-in")
    number = repository.resolve(name, version, label)
    if verb == "predict":
        return predict_json(repository, name, number, body)
    if verb == "metadata":
        return metadata_json(repository, name, number)
    return repository.status(name, number)


def metadata_json(repository, name, number):
    """GetModelMetadataResponse as the REST handler prints it (http_rest_api_util.cc)."""
    version = repository.servable(name, number)  # First: while loading, importing TensorFlow stalls.
    from google.protobuf import json_format
    from tensorflow.core.protobuf import meta_graph_pb2

    # A MetaGraphDef holding only the signatures prints its map exactly as a SignatureDefMap does.
    holder = meta_graph_pb2.MetaGraphDef()
    for key, sig in version.signature_defs.items():
        holder.signature_def[key].CopyFrom(sig)
    try:
        as_dict = json_format.MessageToDict(
            holder, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )
    except TypeError:  # protobuf < 5.26 spells the option differently
        as_dict = json_format.MessageToDict(
            holder, preserving_proto_field_name=True, including_default_value_fields=True
        )
    return {
        "model_spec": {"name": name, "signature_name": "", "version": str(version.number)},
        "metadata": {"signature_def": {"signature_def": as_dict.get("signature_def", {})}},
    }


def parse_predict_request(body):
    """The predict request's JSON object, checked as TF Serving checks it."""
    try:
        request = json.loads(body)
    except ValueError as err:
        raise ServingError("INVALID_ARGUMENT", f"JSON Parse error: {err}")
    if not isinstance(request, dict) or ("instances" not in request and "inputs" not in request):
        raise ServingError("INVALID_ARGUMENT", "Missing 'inputs' or 'instances' key")
    if "instances" in request and "inputs" in request:
        raise ServingError(
            "INVALID_ARGUMENT", "Not formatted correctly expecting only one of 'inputs' or 'instances' keys"
        )
    return request


def input_arrays(signature, value, row_format):
    """The signature's inputs as numpy arrays from the row (`instances`) or columnar (`inputs`) value."""
    import numpy as np
    import tensorflow as tf

    input_keys = list(signature.inputs.keys())
    if len(input_keys) == 1 and not (isinstance(value, dict) and input_keys[0] in value):
        feeds = {input_keys[0]: value}
    elif row_format:
        feeds = {k: [row[k] for row in value] for k in input_keys}
    else:
        feeds = value
    arrays = {}
    for key in input_keys:
        dtype = tf.dtypes.as_dtype(signature.inputs[key].dtype)
        try:
            arrays[key] = np.asarray(feeds[key], dtype=dtype.as_numpy_dtype)
        except (KeyError, ValueError, TypeError) as err:
            raise ServingError(
                "INVALID_ARGUMENT", f"Failed to process element: {key} of 'instances' list. Error: {err}"
            )
    return arrays


def predict_json(repository, name, number, body):
    """Runs the signature function on the request's tensors; one output gives plain rows."""
    request = parse_predict_request(body)
    version = repository.servable(name, number)  # Before TensorFlow's import, as in metadata_json.
    signature_name = request.get("signature_name") or "serving_default"
    signature = signature_of(version, signature_name)
    row_format = "instances" in request
    value = request["instances"] if row_format else request["inputs"]
    outputs = run_signature(version, signature_name, input_arrays(signature, value, row_format))
    values = {k: v.tolist() for k, v in outputs.items()}
    if len(values) == 1:
        (only,) = values.values()
        return {"predictions": only} if row_format else {"outputs": only}
    if row_format:
        n = len(next(iter(values.values())))
        return {"predictions": [{k: v[i] for k, v in values.items()} for i in range(n)]}
    return {"outputs": values}
