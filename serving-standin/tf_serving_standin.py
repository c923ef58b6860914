#!/usr/bin/env python3
"""A stand-in for `tensorflow_model_server`: TF Serving's REST API over real TensorFlow.

Docker Hub is out of reach here, so `tensorflow/serving` cannot be pulled. This server takes its
place in two roles:

- as `/usr/bin/tensorflow_model_server` in the stand-in base image that
  `scripts/build-serving-standin.sh` builds (`tfk8s/tensorflow-serving-standin`), so the image our
  generated Dockerfile makes runs, probes and predicts as on Kubernetes;
- as the test double of the end-to-end suite (`test/doubles/tfServingDouble.ts`), so the client,
  the `predict` command and the smoke check are tested without Docker.

Either way it serves `<model_base_path>/<version>/saved_model.pb`, and every prediction comes from
the TensorFlow runtime executing the graph our TypeScript writer produced (`tf.saved_model.load`
and the signature functions).

Command line: TF Serving's (`model_servers/main.cc`, read at tensorflow/serving 9d981c5c), each
flag `--name=value` (a bool also bare `--name`). Implemented: `--rest_api_port`, `--model_name`,
`--model_base_path`, `--version`, `--enable_model_warmup` (default true: the version's
`assets.extra/tf_serving_warmup_requests` is read with TensorFlow's TFRecord reader and each
PredictLog request run through its signature before the version is AVAILABLE; a bad record fails
the load, as in TF Serving's `saved_model_warmup_util.cc`), and `--port`, the gRPC API
(`tf_serving_grpc.py`: PredictionService Predict and GetModelMetadata, ModelService
GetModelStatus, on tensorflow-serving-api's generated servicers), served where that package is
installed; the stand-in base image has none and says so at start. Accepted and checked but without
effect: `--enable_batching` and
`--batching_parameters_file` (parsed as a BatchingParameters text proto; requests are not
batched). `--monitoring_config_file` is parsed as a MonitoringConfig; with
`prometheus_config.enable` its path (default `/monitoring/prometheus/metrics`) serves one metric,
`:tensorflow:serving:request_count{model_name,status}`. Every other TF Serving flag (model config
file, SSL, warmup, thread and timeout tuning, ...) and any unknown argument is refused with an
error: the real server prints `unknown argument: ...` with its usage and starts anyway, which
would hide a typo in our Dockerfile.

Start-up follows the real server (`Server::BuildAndStart` awaits the initial load in
`ServerCore::Create` before it opens any port): it polls the base path every second until a
numeric version directory appears, loads the highest version only (the default `latest`
version policy), and then opens the REST port; a failed load ends the process with
`Failed to start server. Error: ...` and exit status 255. Versions added later are not picked up.

REST contract followed (`api_rest.md`, `http_rest_api_handler.cc`, `http_rest_api_util.cc`,
`get_model_status_impl.cc`, `basic_manager.cc`):

- `GET  /v1/models/<name>[/versions/<v>|/labels/<l>]` -> `{"model_version_status": [...]}`, versions
  as strings (int64 in proto3 JSON), states START/LOADING/AVAILABLE/END, `status.error_code`;
- `GET  …/metadata` -> `{"model_spec": {...}, "metadata": {"signature_def": {"signature_def": …}}}`,
  the SignatureDefMap printed from `saved_model.pb` with proto field names;
- `POST …:predict` with row (`instances`) or columnar (`inputs`) format, optional `signature_name`;
  `:classify` and `:regress` are refused;
- errors: `{ "error": "<C-escaped message>" }` with TF Serving's status mapping (NOT_FOUND 404,
  INVALID_ARGUMENT 400) and its messages for unknown models, versions, labels and signatures.

Options of the stand-in itself, for tests (no TF Serving flag has these names):

- `--standin_listen=HOST:PORT`: listen there instead of `0.0.0.0:<rest_api_port>`; port 0 picks
  a free one. Once listening it prints `{"port": N}` on stdout (with `"grpc_port"` when
  `--standin_grpc_listen=HOST:PORT` also serves the gRPC API there).
- `--standin_serve_while_loading`: open the port at once and load in the background, so status
  moves START -> LOADING -> AVAILABLE (or END with the error) and the metadata and predict calls
  answer 404 `Servable not found` until then: what a running TF Serving reports for a version that
  is loading, here at start-up so the client's waiting can be tested.
- `--standin_load_delay_seconds=S`: stay in START this long before loading.
- `--standin_label=NAME=VERSION` (repeatable): version labels, which TF Serving takes from a model
  config file.
- `--standin_verbose`: log every request on stderr.
"""

import importlib.metadata
import json
import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREDICT_PATH = re.compile(
    r"^/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)$",
    re.IGNORECASE,
)
STATUS_PATH = re.compile(
    r"^/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?$",
    re.IGNORECASE,
)
INT32 = re.compile(r"^[+-]?\d+$")

# Each flag: (type, default, help). TF Serving's defaults where the flag is TF Serving's.
FLAGS = {
    "port": (int, 8500, "gRPC port; served when tensorflow-serving-api is installed (tf_serving_grpc.py)."),
    "rest_api_port": (int, 0, "Port of the HTTP/REST API. 0 disables it, which the stand-in refuses."),
    "model_name": (str, "", "Name of the model in request URLs."),
    "model_base_path": (str, "", "Directory of the model's numeric version directories."),
    "enable_batching": (bool, False, "Accepted; requests are not batched."),
    "batching_parameters_file": (str, "", "BatchingParameters text proto: parsed, not applied."),
    "monitoring_config_file": (str, "", "MonitoringConfig text proto; prometheus_config is served."),
    "enable_model_warmup": (bool, True, "Replay assets.extra/tf_serving_warmup_requests at load."),
    "version": (bool, False, "Display version"),
    "standin_listen": (str, "", "HOST:PORT to listen on instead of 0.0.0.0:<rest_api_port> (tests)."),
    "standin_grpc_listen": (str, "", "HOST:PORT of the gRPC API with --standin_listen (tests)."),
    "standin_serve_while_loading": (bool, False, "Open the port before the model has loaded (tests)."),
    "standin_load_delay_seconds": (float, 0.0, "Seconds to stay in START before loading (tests)."),
    "standin_label": (list, [], "NAME=VERSION version label, repeatable (tests)."),
    "standin_verbose": (bool, False, "Log every request on stderr."),
}
# The rest of TF Serving's flags (main.cc at 9d981c5c): named in the error, so it says "not
# implemented" rather than "unknown".
NOT_IMPLEMENTED = set(
    "grpc_socket_path rest_api_num_threads rest_api_timeout_in_ms rest_api_enable_cors_support "
    "allow_version_labels_for_unavailable_models enable_per_model_batching_parameters "
    "model_config_file model_config_file_poll_wait_seconds num_load_threads num_unload_threads "
    "max_num_load_retries load_retry_interval_micros file_system_poll_wait_seconds "
    "flush_filesystem_caches tensorflow_session_parallelism tensorflow_session_config_file "
    "tensorflow_intra_op_parallelism tensorflow_inter_op_parallelism use_alts_credentials "
    "ssl_config_file platform_config_file per_process_gpu_memory_fraction saved_model_tags "
    "grpc_channel_arguments grpc_max_threads "
    "num_request_iterations_for_warmup remove_unused_fields_from_bundle_metagraph "
    "prefer_tflite_model num_tflite_pools num_tflite_interpreters_per_pool "
    "enable_signature_method_name_check xla_cpu_compilation_enabled xla_gpu_compilation_enabled "
    "enable_profiler thread_pool_factory_config_file mixed_precision skip_initialize_tpu "
    "enable_grpc_healthcheck_service enable_serialization_as_tensor_content".split()
)
DEFAULT_PROMETHEUS_PATH = "/monitoring/prometheus/metrics"
# google.rpc.Code names by number, and the HTTP status TF Serving answers each with
# (`ToHTTPStatusCode` in http_server.cc).
CODES = [
    ("OK", 200), ("CANCELLED", 499), ("UNKNOWN", 500), ("INVALID_ARGUMENT", 400),
    ("DEADLINE_EXCEEDED", 504), ("NOT_FOUND", 404), ("ALREADY_EXISTS", 409),
    ("PERMISSION_DENIED", 403), ("RESOURCE_EXHAUSTED", 429), ("FAILED_PRECONDITION", 400),
    ("ABORTED", 409), ("OUT_OF_RANGE", 400), ("UNIMPLEMENTED", 501), ("INTERNAL", 500),
    ("UNAVAILABLE", 503), ("DATA_LOSS", 500), ("UNAUTHENTICATED", 401),
]


class RestServer(ThreadingHTTPServer):
    """The REST port's server. TF Serving binds its REST port with libevent's
    evhttp_bind_socket_with_handle, which listens with a queue of 128 connections not yet accepted;
    socketserver's default of 5 reset some of sixteen clients connecting at once."""

    request_queue_size = 128


def log(message):
    print(f"tensorflow_model_server (tfk8s stand-in): {message}", file=sys.stderr, flush=True)


class StartError(Exception):
    """Why the server does not start; `main` prints it as TF Serving does and exits 255."""


class RestError(Exception):
    """An error TF Serving would return: a canonical code name and a message."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.status = dict(CODES)[code]
        self.message = message


def usage(program):
    lines = [f"usage: {program}", "Flags:"]
    types = {int: "int32", str: "string", bool: "bool", float: "float", list: "string"}
    for name, (kind, default, text) in FLAGS.items():
        shown = {bool: "true" if default else "false", str: f'"{default}"', list: '""'}.get(kind, default)
        lines.append(f"\t--{name}={shown}\t{types[kind]}\t{text}")
    return "\n".join(lines) + "\n"


def parse_flags(argv):
    """The options, parsed as tsl's `Flags::Parse` does; exits as the real server does on errors."""
    options = {name: (list(d) if kind is list else d) for name, (kind, d, _) in FLAGS.items()}
    program = os.path.basename(argv[0]) if argv else "tensorflow_model_server"
    failed = False
    unknown = []
    for arg in argv[1:]:
        match = re.match(r"^--([A-Za-z0-9_]+)(?:=(.*))?$", arg, re.DOTALL)
        name, value = (match.group(1), match.group(2)) if match else (None, None)
        kind = FLAGS.get(name, (None,))[0]
        if kind is None or (value is None and kind is not bool):
            unknown.append(arg)
            continue
        if kind is bool:
            if value is None or value.lower() == "true" or value == "1":
                options[name] = True
            elif value.lower() == "false" or value == "0":
                options[name] = False
            else:
                print(f"Couldn't interpret value {value} for flag {name}.", file=sys.stderr)
                failed = True
        elif kind is int:
            if INT32.match(value) and -(2**31) <= int(value) < 2**31:
                options[name] = int(value)
            else:
                print(f"Couldn't interpret value {value} for flag {name}.", file=sys.stderr)
                failed = True
        elif kind is float:
            try:
                options[name] = float(value)
            except ValueError:
                print(f"Couldn't interpret value {value} for flag {name}.", file=sys.stderr)
                failed = True
        elif kind is list:
            options[name].append(value)
        else:
            options[name] = value
    if failed or (unknown and unknown[0] == "--help"):
        sys.stdout.write(usage(program))
        sys.exit(255)
    if unknown:
        arg = unknown[0]
        name = re.sub(r"^--([A-Za-z0-9_]+).*$", r"\1", arg, flags=re.DOTALL)
        print(f"unknown argument: {arg}", flush=True)
        if name in NOT_IMPLEMENTED:
            why = f"--{name} is a TF Serving flag that this stand-in does not implement"
        elif name in FLAGS:
            why = f"--{name} needs a value: --{name}=VALUE (TF Serving reads no separate value)"
        else:
            why = "TF Serving has no such flag"
        print(
            f"{why}. The real server would print its usage and start anyway, ignoring it; the "
            "stand-in refuses instead.",
            file=sys.stderr,
        )
        sys.exit(255)
    labels = {}
    for item in options["standin_label"]:
        label, _, number = item.partition("=")
        if not label or not number.isdigit():
            print(f"--standin_label={item}: expected NAME=VERSION", file=sys.stderr)
            sys.exit(255)
        labels[label] = int(number)
    options["standin_label"] = labels
    return options


def config_message(type_name):
    """An empty message of TF Serving's config protos (only the fields the stand-in reads).

    tensorflow_serving's protos are not in the TensorFlow wheel, so the two text formats our
    Dockerfile passes are declared here, field for field as in `session_bundle_config.proto` and
    `monitoring_config.proto`, so a file the real server would refuse is refused here too.
    """
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2

    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    f = descriptor_pb2.FileDescriptorProto(
        name="tfk8s_standin/serving_config.proto",
        package="tensorflow.serving",
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"],
    )
    field = descriptor_pb2.FieldDescriptorProto
    messages = {
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
    scalar = {"bool": field.TYPE_BOOL, "string": field.TYPE_STRING, "int64": field.TYPE_INT64}
    for message, fields in messages.items():
        m = f.message_type.add(name=message)
        for name, number, kind in fields:
            label = field.LABEL_REPEATED if kind.startswith("repeated ") else field.LABEL_OPTIONAL
            kind = kind.removeprefix("repeated ")
            if kind.startswith("."):
                m.field.add(name=name, number=number, label=label, type=field.TYPE_MESSAGE, type_name=kind)
            else:
                m.field.add(name=name, number=number, label=label, type=scalar[kind])
    pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"tensorflow.serving.{type_name}"))()


def parse_proto_text_file(path, type_name):
    """`ParseProtoTextFile` (util/proto_util.h): the file as a text proto, or TF Serving's error."""
    from google.protobuf import text_format

    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as err:
        raise StartError(f"NOT_FOUND: {path}; {err.strerror}")
    message = config_message(type_name)
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as err:
        log(f"{path}: {err}")
        raise StartError(f"INVALID_ARGUMENT: Invalid protobuf file: '{path}'")
    return message


def c_escape(text):
    """absl::CEscape: TF Serving escapes error messages this way before quoting them."""
    out = []
    for byte in text.encode("utf-8"):
        ch = chr(byte)
        if ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ch in "\"'\\":
            out.append("\\" + ch)
        elif byte < 0x20 or byte >= 0x7F:
            out.append("\\%03o" % byte)
        else:
            out.append(ch)
    return "".join(out)


class Version:
    """One version directory and its lifecycle."""

    def __init__(self, number, path):
        self.number = number
        self.path = path
        self.state = "START"
        self.error_code = "OK"
        self.error_message = ""
        self.loaded = None
        self.signature_defs = None


class Servables:
    """One model's served version and request counts, loaded as TF Serving's manager does."""

    def __init__(self, name, base_path, labels, warmup):
        self.name = name
        self.warmup = warmup
        self.base_path = base_path
        self.labels = labels
        self.lock = threading.Lock()
        self.versions = {}
        self.request_counts = {}

    def wait_for_latest(self, poll_seconds=1.0):
        """Polls like FileSystemStoragePathSource until a numeric version directory exists; the
        highest one becomes the only version (the default `latest` policy serves one)."""
        polls = 0
        while True:
            try:
                numbers = [int(e) for e in os.listdir(self.base_path) if e.isdigit()]
                missing = None
            except OSError as err:
                numbers, missing = [], err.strerror
            if numbers:
                number = max(numbers)
                with self.lock:
                    self.versions[number] = Version(number, os.path.join(self.base_path, str(number)))
                return self.versions[number]
            if polls % 60 == 0:  # TF Serving repeats this every poll; once a minute is enough here
                if missing:
                    log(f"base path {self.base_path} of servable {self.name}: {missing}; polling")
                else:
                    log(
                        f"No versions of servable {self.name} found under base path {self.base_path}. "
                        "Did you forget to name your leaf directory as a number (eg. '/1/')?"
                    )
            polls += 1
            time.sleep(poll_seconds)

    def load(self, delay):
        """Finds and loads the version; returns it, AVAILABLE or END with its error."""
        version = self.wait_for_latest()
        time.sleep(delay)
        with self.lock:
            version.state = "LOADING"
        log(f"Loading servable: {{name: {self.name} version: {version.number}}}")
        import tensorflow as tf  # Imported here so a port opened before loading answers at once.
        from tensorflow.core.protobuf import saved_model_pb2

        try:
            proto = saved_model_pb2.SavedModel()
            with open(os.path.join(version.path, "saved_model.pb"), "rb") as f:
                proto.ParseFromString(f.read())
            serve = [m for m in proto.meta_graphs if list(m.meta_info_def.tags) == ["serve"]]
            if not serve:
                raise ValueError("no meta graph tagged exactly 'serve'")
            loaded = tf.saved_model.load(version.path, tags=["serve"])
            version.signature_defs = serve[0].signature_def
            version.loaded = loaded
            if self.warmup:
                replay_warmup(version)
            with self.lock:
                version.state = "AVAILABLE"
            log(f"Successfully loaded servable version {{name: {self.name} version: {version.number}}}")
        except Exception as err:  # A failed load ends the version with its error, as TF Serving does.
            with self.lock:
                version.state = "END"
                version.error_code = "INVALID_ARGUMENT"
                version.error_message = f"{type(err).__name__}: {err}"
            log(f"version {version.number} failed to load: {err}")
        return version

    def count(self, name, code):
        with self.lock:
            self.request_counts[(name, code)] = self.request_counts.get((name, code), 0) + 1

    def prometheus_page(self):
        """The one metric the stand-in keeps, as TF Serving's PrometheusExporter prints it."""
        metric = ":tensorflow:serving:request_count"
        lines = [f"# TYPE {metric} counter"]
        with self.lock:
            for (name, code), n in sorted(self.request_counts.items()):
                label = name.replace("\\", "\\\\").replace('"', '\\"')
                lines.append(f'{metric}{{model_name="{label}",status="{code}"}} {n}')
        return "\n".join(lines) + "\n"

    def resolve(self, name, version, label):
        """The requested version number (None for latest), or an error for an unknown label."""
        if label is None:
            return None if version is None else int(version)
        number = self.labels.get(label) if name == self.name else None
        if number is None:
            raise RestError("INVALID_ARGUMENT", f"Unrecognized servable version label: {label}")
        return number

    def status(self, name, number):
        with self.lock:
            known = list(self.versions.values()) if name == self.name else []
            chosen = known if number is None else [v for v in known if v.number == number]
            if not chosen:
                if number is None:
                    raise RestError("NOT_FOUND", f"Could not find any versions of model {name}")
                raise RestError("NOT_FOUND", f"Could not find version {number} of model {name}")
            return {
                "model_version_status": [
                    {
                        "version": str(v.number),
                        "state": v.state,
                        "status": {"error_code": v.error_code, "error_message": v.error_message},
                    }
                    for v in chosen
                ]
            }

    def servable(self, name, number):
        """The AVAILABLE version a metadata or predict call reaches (basic_manager.cc's lookup)."""
        with self.lock:
            available = [v for v in self.versions.values() if v.state == "AVAILABLE"] if name == self.name else []
        if number is None:
            found = max(available, key=lambda v: v.number, default=None)
            request = f"Latest({name})"
        else:
            found = next((v for v in available if v.number == number), None)
            request = f"Specific({name}, {number})"
        if found is None:
            raise RestError("NOT_FOUND", f"Servable not found for request: {request}")
        return found


WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
MAX_WARMUP_RECORDS = 1000  # kMaxNumRecords in saved_model_warmup_util.cc


def proto_fields(data):
    """(field number, value) pairs of one protobuf message: ints for varints, bytes otherwise.
    TF's wheel has no tensorflow_serving messages, so PredictionLog is walked by hand."""
    out, at = [], 0

    def varint():
        nonlocal at
        shift = result = 0
        while True:
            if at >= len(data) or shift > 63:
                raise ValueError("truncated or overlong varint")
            byte = data[at]
            at += 1
            result |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return result

    while at < len(data):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            out.append((number, varint()))
        elif wire == 2:
            n = varint()
            if at + n > len(data):
                raise ValueError("truncated length-delimited field")
            out.append((number, data[at : at + n]))
            at += n
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            out.append((number, data[at : at + size]))
            at += size
        else:
            raise ValueError(f"unsupported wire type {wire}")
    return out


def warmup_request(record):
    """The signature name and numpy inputs of one PredictionLog's PredictLog request
    (prediction_log.proto: predict_log = 6; PredictLog.request = 1; PredictRequest model_spec = 1,
    inputs = 2; ModelSpec.signature_name = 3)."""
    import tensorflow as tf
    from tensorflow.core.framework import tensor_pb2

    logs = [v for n, v in proto_fields(record) if n == 6]
    if not logs:
        raise ValueError("a warmup record holds no PredictLog; the stand-in replays Predict only")
    requests = [v for n, v in proto_fields(logs[-1]) if n == 1]
    fields = proto_fields(requests[-1] if requests else b"")
    signature_name = "serving_default"
    for spec in (v for n, v in fields if n == 1):
        for n, v in proto_fields(spec):
            if n == 3 and v:
                signature_name = v.decode("utf-8")
    inputs = {}
    for entry in (v for n, v in fields if n == 2):
        parts = dict(proto_fields(entry))
        inputs[parts.get(1, b"").decode("utf-8")] = tf.make_ndarray(
            tensor_pb2.TensorProto.FromString(parts.get(2, b""))
        )
    return signature_name, inputs


def replay_warmup(version):
    """Runs each warmup request as TF Serving does at load; any failure fails the load."""
    import tensorflow as tf

    path = os.path.join(version.path, WARMUP_FILE)
    if not os.path.exists(path):
        return
    started = time.monotonic()
    count = 0
    for record in tf.data.TFRecordDataset(path):  # TF's reader checks both CRCs of each record
        count += 1
        if count > MAX_WARMUP_RECORDS:
            raise ValueError(f"Number of warmup records exceeds the maximum ({MAX_WARMUP_RECORDS}) at {path}")
        signature_name, inputs = warmup_request(record.numpy())
        try:
            run_signature(version, signature_name, inputs)
        except RestError as err:
            raise ValueError(f"warmup record {count} of {path}: {err.code}: {err.message}")
    micros = int((time.monotonic() - started) * 1e6)
    log(
        f"Finished reading warmup data for model at {path}. Number of warmup records read: {count}. "
        f"Elapsed time (microseconds): {micros}."
    )


def metadata_json(servables, name, number):
    """GetModelMetadataResponse as the REST handler prints it (http_rest_api_util.cc)."""
    version = servables.servable(name, number)  # First: while loading, importing TensorFlow stalls.
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


def signature_of(version, signature_name):
    """The SignatureDef a request names, or TF Serving's error for an unknown one."""
    if signature_name not in version.signature_defs:
        raise RestError(
            "INVALID_ARGUMENT", f'Serving signature name: "{signature_name}" not found in signature def'
        )
    return version.signature_defs[signature_name]


def run_signature(version, signature_name, arrays):
    """Runs a signature on numpy inputs by key; its outputs as numpy arrays, or a RestError. REST,
    gRPC and the warmup replay all predict through here."""
    import tensorflow as tf

    signature = signature_of(version, signature_name)
    missing = [k for k in signature.inputs if k not in arrays]
    extra = [k for k in arrays if k not in signature.inputs]
    if missing or extra:
        raise RestError(
            "INVALID_ARGUMENT",
            f"input keys {sorted(arrays)} do not match the signature's {sorted(signature.inputs)}",
        )
    function = version.loaded.signatures[signature_name]
    try:
        tensors = {
            k: tf.constant(a, dtype=tf.dtypes.as_dtype(signature.inputs[k].dtype)) for k, a in arrays.items()
        }
        outputs = function(**tensors)
    except tf.errors.OpError as err:
        # Eager prefixes the runtime's message with "Graph execution error", a Python traceback and
        # a blank line, and appends " [Op:…]"; TF Serving returns only the runtime's own text.
        message = re.sub(r" \[Op:[^\]]*\]$", "", err.message.split("\n\n")[-1])
        code = CODES[err.error_code][0] if 0 < err.error_code < len(CODES) else "UNKNOWN"
        raise RestError(code, message)
    except (ValueError, TypeError) as err:
        raise RestError("INVALID_ARGUMENT", str(err).strip().split("\n")[0])
    return {k: v.numpy() for k, v in outputs.items()}


def predict_json(servables, name, number, body):
    """Runs the signature function on the request's tensors; one output gives plain rows."""
    try:
        request = json.loads(body)
    except ValueError as err:
        raise RestError("INVALID_ARGUMENT", f"JSON Parse error: {err}")
    if not isinstance(request, dict) or ("instances" not in request and "inputs" not in request):
        raise RestError("INVALID_ARGUMENT", "Missing 'inputs' or 'instances' key")
    if "instances" in request and "inputs" in request:
        raise RestError(
            "INVALID_ARGUMENT", "Not formatted correctly expecting only one of 'inputs' or 'instances' keys"
        )
    version = servables.servable(name, number)
    import numpy as np  # After the lookup, for the same reason as in metadata_json.
    import tensorflow as tf

    signature_name = request.get("signature_name") or "serving_default"
    signature = signature_of(version, signature_name)
    row_format = "instances" in request
    value = request["instances"] if row_format else request["inputs"]
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
            raise RestError(
                "INVALID_ARGUMENT", f"Failed to process element: {key} of 'instances' list. Error: {err}"
            )
    outputs = run_signature(version, signature_name, arrays)
    values = {k: v.tolist() for k, v in outputs.items()}
    if len(values) == 1:
        (only,) = values.values()
        return {"predictions": only} if row_format else {"outputs": only}
    if row_format:
        n = len(next(iter(values.values())))
        return {"predictions": [{k: v[i] for k, v in values.items()} for i in range(n)]}
    return {"outputs": values}


def make_handler(servables, prometheus_path, verbose):
    """The request handler class, bound to `servables`; `prometheus_path` None serves no metrics."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body leave in two writes; with Nagle's algorithm the body then waits for the
        # client's delayed ACK of the headers (about 40 ms per call on a kept-alive connection,
        # measured by bench:client). TF Serving writes a response in one go, so it has no such wait.
        disable_nagle_algorithm = True

        def log_message(self, fmt, *args):
            if verbose:
                sys.stderr.write("standin: " + fmt % args + "\n")

        def send_body(self, status, content_type, data):
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # The client gave up (a probe's timeout while TensorFlow held the GIL loading).

        def dispatch(self, method, body):
            path = self.path.split("?")[0]
            if method == "GET" and prometheus_path is not None and path == prometheus_path:
                self.send_body(200, "text/plain", servables.prometheus_page().encode("utf-8"))
                return
            if not re.match(r"^/v1/", path, re.IGNORECASE):
                self.send_body(404, "text/html", b"<html><body>404 Not Found</body></html>")
                return
            name = ""
            try:
                match = (PREDICT_PATH if method == "POST" else STATUS_PATH).match(path)
                if match is None:
                    raise RestError("INVALID_ARGUMENT", f"Malformed request: {method} {path}")
                if method == "POST":
                    name, version, label, verb = match.groups()
                    if verb != "predict":
                        raise RestError("UNIMPLEMENTED", f"{verb} is not supported by this stand-in")
                    number = servables.resolve(name, version, label)
                    result = predict_json(servables, name, number, body)
                else:
                    name, version, label, metadata = match.groups()
                    if name is None:
                        raise RestError("INVALID_ARGUMENT", "Missing model name in request.")
                    number = servables.resolve(name, version, label)
                    if metadata:
                        result = metadata_json(servables, name, number)
                    else:
                        result = servables.status(name, number)
                servables.count(name or "", "OK")
                self.send_body(200, "application/json", json.dumps(result, indent=1).encode("utf-8"))
            except RestError as err:
                servables.count(name or "", err.code)
                text = '{ "error": "%s" }' % c_escape(err.message)
                self.send_body(err.status, "application/json", text.encode("utf-8"))

        def do_GET(self):
            self.dispatch("GET", b"")

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            self.dispatch("POST", self.rfile.read(length))

    return Handler


def listen_address(options):
    """Where the REST API listens: TF Serving's 0.0.0.0:<rest_api_port>, or `--standin_listen`."""
    if options["standin_listen"]:
        host, _, port = options["standin_listen"].rpartition(":")
        if not host or not port.isdigit():
            raise StartError(
                f"INVALID_ARGUMENT: --standin_listen={options['standin_listen']}: expected HOST:PORT"
            )
        return host, int(port)
    if options["rest_api_port"] == 0:
        raise StartError(
            "INVALID_ARGUMENT: --rest_api_port is 0, so TF Serving would export no HTTP/REST API, "
            "and this stand-in serves nothing else"
        )
    if options["rest_api_port"] == options["port"]:
        raise StartError(
            "INVALID_ARGUMENT: --rest_api_port equals --port; TF Serving would skip the HTTP/REST "
            "API, and this stand-in serves nothing else"
        )
    return "0.0.0.0", options["rest_api_port"]


def grpc_api_module(options):
    """The gRPC module and the address it serves, or (None, None) when the gRPC API is off: with
    --standin_listen only if --standin_grpc_listen names its address; otherwise TF Serving's
    0.0.0.0:<port>, where tensorflow-serving-api is installed. Imported before the model loads,
    since it imports TensorFlow (a port opened while loading answers at once)."""
    if options["standin_listen"]:
        address = options["standin_grpc_listen"]
        if not address:
            log("gRPC API: not served (--standin_grpc_listen=HOST:PORT serves it next to --standin_listen)")
            return None, None
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise StartError(f"INVALID_ARGUMENT: --standin_grpc_listen={address}: expected HOST:PORT")
    else:
        address = f"0.0.0.0:{options['port']}"
    try:
        import tf_serving_grpc
    except ImportError as err:
        if options["standin_grpc_listen"]:
            raise StartError(f"UNAVAILABLE: --standin_grpc_listen needs tensorflow-serving-api: {err}")
        log(f"gRPC API on port {options['port']}: NOT served, tensorflow-serving-api is not installed ({err})")
        return None, None
    return tf_serving_grpc, address


def start(options):
    """Checks the options in TF Serving's order (`Server::BuildAndStart`), then serves forever."""
    if options["port"] == 0:
        raise StartError(
            "INVALID_ARGUMENT: At least one of server_options.grpc_port or "
            "server_options.grpc_socket_path must be set."
        )
    if not options["model_base_path"]:
        raise StartError(
            "INVALID_ARGUMENT: Both server_options.model_base_path and "
            "server_options.model_config_file are empty!"
        )
    if options["enable_batching"]:
        if options["batching_parameters_file"]:
            parse_proto_text_file(options["batching_parameters_file"], "BatchingParameters")
        log("--enable_batching: accepted; the stand-in runs each request on its own, unbatched")
    elif options["batching_parameters_file"]:
        raise StartError(
            "INVALID_ARGUMENT: server_options.batching_parameters_file is set without setting "
            "server_options.enable_batching to true."
        )
    prometheus_path = None
    if options["monitoring_config_file"]:
        config = parse_proto_text_file(options["monitoring_config_file"], "MonitoringConfig")
        if config.prometheus_config.enable:
            prometheus_path = config.prometheus_config.path or DEFAULT_PROMETHEUS_PATH
    host, port = listen_address(options)
    grpc_api, grpc_address = grpc_api_module(options)
    log(
        "Building single TensorFlow model file config: "
        f" model_name: {options['model_name']} model_base_path: {options['model_base_path']}"
    )
    servables = Servables(
        options["model_name"],
        options["model_base_path"],
        options["standin_label"],
        options["enable_model_warmup"],
    )
    handler = make_handler(servables, prometheus_path, options["standin_verbose"])
    grpc_port = None
    if grpc_api is not None:
        try:
            grpc_server, grpc_port = grpc_api.build_server(
                servables, run_signature, RestError, CODES, grpc_address
            )
        except (OSError, RuntimeError) as err:
            raise StartError(f"UNAVAILABLE: Failed to start gRPC server at {grpc_address}: {err}")
        grpc_server.start()
        log(f"Running gRPC ModelServer at {grpc_address.rpartition(':')[0]}:{grpc_port} ...")
    delay = options["standin_load_delay_seconds"]
    if options["standin_serve_while_loading"]:
        threading.Thread(target=servables.load, args=(delay,), daemon=True).start()
    else:
        version = servables.load(delay)
        if version.state != "AVAILABLE":
            raise StartError(
                "UNKNOWN: 1 servable(s) did not become available: "
                f"{{{{name: {servables.name} version: {version.number}}} due to error: "
                f"{version.error_code}: {version.error_message}}}, }}"
            )
    try:
        server = RestServer((host, port), handler)
    except OSError as err:
        raise StartError(f"UNAVAILABLE: Failed to start HTTP Server at {host}:{port}: {err.strerror}")
    server.daemon_threads = True
    if prometheus_path is not None:
        log(f"Prometheus metrics (request_count only) at {prometheus_path}")
    log(f"Exporting HTTP/REST API at:{host}:{server.server_address[1]} ...")
    if options["standin_listen"]:
        ports = {"port": server.server_address[1]}
        if grpc_port is not None:
            ports["grpc_port"] = grpc_port
        print(json.dumps(ports), flush=True)
    server.serve_forever()


def main(argv):
    options = parse_flags(argv)
    if options["version"]:
        try:
            tf_version = importlib.metadata.version("tensorflow-cpu")
        except importlib.metadata.PackageNotFoundError:
            tf_version = importlib.metadata.version("tensorflow")
        print("TensorFlow ModelServer: tfk8s stand-in (TF Serving's REST API in Python, not TF Serving)")
        print(f"TensorFlow Library: {tf_version}")
        return 0
    try:
        start(options)
    except StartError as err:
        print(f"Failed to start server. Error: {err}", flush=True)
        return 255
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
