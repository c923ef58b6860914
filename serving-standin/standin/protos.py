"""The few TF Serving messages the stand-in reads, declared here, and `ParseProtoTextFile`.

tensorflow_serving's protos are not in the TensorFlow wheel, and the stand-in base image has only
TensorFlow and its dependencies (tensorflow-serving-api is installed in `.venv` alone). So the
messages are declared field for field as in TF Serving's `session_bundle_config.proto`,
`monitoring_config.proto`, `prediction_log.proto`, `predict.proto` and `model.proto`, and protobuf's
own parsers read them: a config file the real server would refuse is refused here too. The text
protos are declared whole, since text parsing refuses an unknown field; of the binary warmup
records only what the replay reads is declared, since binary parsing keeps other fields as unknown.
"""

from functools import lru_cache

from .errors import StartError
from .log import log

PACKAGE = "tensorflow.serving"
# Each message: its fields (name, number, type); a type is a scalar, "repeated <scalar>", a message's
# full name with a leading dot, or "map<key, value>".
CONFIG_MESSAGES = {
    "BatchingParameters": [
        ("max_batch_size", 1, ".google.protobuf.Int64Value"),
        ("batch_timeout_micros", 2, ".google.protobuf.Int64Value"),
        ("max_enqueued_batches", 3, ".google.protobuf.Int64Value"),
        ("num_batch_threads", 4, ".google.protobuf.Int64Value"),
        ("thread_pool_name", 5, ".google.protobuf.StringValue"),
        ("allowed_batch_sizes", 6, "repeated int64"),
        ("pad_variable_length_inputs", 7, "bool"),
        ("enable_large_batch_splitting", 8, ".google.protobuf.BoolValue"),
        ("max_execution_batch_size", 9, ".google.protobuf.Int64Value"),
    ],
    "PrometheusConfig": [("enable", 1, "bool"), ("path", 2, "string")],
    "MonitoringConfig": [("prometheus_config", 1, ".tensorflow.serving.PrometheusConfig")],
}
PREDICTION_LOG_MESSAGES = {
    "ModelSpec": [("name", 1, "string"), ("signature_name", 3, "string")],
    "PredictRequest": [
        ("model_spec", 1, ".tensorflow.serving.ModelSpec"),
        ("inputs", 2, "map<string, .tensorflow.TensorProto>"),
    ],
    "PredictLog": [("request", 1, ".tensorflow.serving.PredictRequest")],
    "PredictionLog": [("predict_log", 6, ".tensorflow.serving.PredictLog")],
}


def add_field(message, full_name, name, number, kind):
    """Declares one field of `message` (a DescriptorProto whose full name is `full_name`)."""
    from google.protobuf import descriptor_pb2

    field = descriptor_pb2.FieldDescriptorProto
    scalars = {"bool": field.TYPE_BOOL, "string": field.TYPE_STRING, "int64": field.TYPE_INT64}
    label = field.LABEL_OPTIONAL
    if kind.startswith("repeated "):
        label, kind = field.LABEL_REPEATED, kind.removeprefix("repeated ")
    elif kind.startswith("map<"):
        # A map is a repeated nested entry message, as protoc writes it.
        key, value = kind[len("map<") : -1].split(", ")
        entry = message.nested_type.add(name="".join(p.title() for p in name.split("_")) + "Entry")
        entry.options.map_entry = True
        add_field(entry, f"{full_name}.{entry.name}", "key", 1, key)
        add_field(entry, f"{full_name}.{entry.name}", "value", 2, value)
        label, kind = field.LABEL_REPEATED, f".{full_name}.{entry.name}"
    if kind.startswith("."):
        message.field.add(name=name, number=number, label=label, type=field.TYPE_MESSAGE, type_name=kind)
    else:
        message.field.add(name=name, number=number, label=label, type=scalars[kind])


def add_file_with_dependencies(pool, file):
    """Adds a generated module's file descriptor, and the files it imports, to `pool`."""
    for dependency in file.dependencies:
        add_file_with_dependencies(pool, dependency)
    try:
        pool.FindFileByName(file.name)
    except KeyError:
        pool.AddSerializedFile(file.serialized_pb)


@lru_cache(maxsize=None)
def message_class(type_name):
    """The class of one declared message, from a pool of the stand-in's own (the default pool may
    hold tensorflow_serving's generated messages of the same names, where that package is installed)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2

    if type_name in CONFIG_MESSAGES:
        file_name, messages, dependencies = "serving_config.proto", CONFIG_MESSAGES, [wrappers_pb2]
    else:
        # Imported only for a warmup replay: it imports TensorFlow, which loading has done already.
        from tensorflow.core.framework import tensor_pb2

        file_name, messages, dependencies = "prediction_log.proto", PREDICTION_LOG_MESSAGES, [tensor_pb2]
    pool = descriptor_pool.DescriptorPool()
    for module in dependencies:
        add_file_with_dependencies(pool, module.DESCRIPTOR)
    file = descriptor_pb2.FileDescriptorProto(
        name=f"tfk8s_standin/{file_name}",
        package=PACKAGE,
        syntax="proto3",
        dependency=[module.DESCRIPTOR.name for module in dependencies],
    )
    for name, fields in messages.items():
        message = file.message_type.add(name=name)
        for field in fields:
            add_field(message, f"{PACKAGE}.{name}", *field)
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.{type_name}"))


def parse_proto_text_file(path, type_name):
    """`ParseProtoTextFile` (util/proto_util.h): the file as a text proto, or TF Serving's error."""
    from google.protobuf import text_format

    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as err:
        raise StartError(f"NOT_FOUND: {path}; {err.strerror}")
    message = message_class(type_name)()
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as err:
        log(f"{path}: {err}")
        raise StartError(f"INVALID_ARGUMENT: Invalid protobuf file: '{path}'")
    return message
