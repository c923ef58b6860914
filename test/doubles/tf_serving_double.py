"""A test double of TensorFlow Serving's REST port that runs our SavedModel with real TensorFlow.

It serves `<model_base_path>/<version>/saved_model.pb` the way `tensorflow_model_server
--rest_api_port` does, so the client, the `predict` command and the smoke check can be tested end to
end without Docker, while every prediction comes from the TensorFlow runtime executing the graph our
TypeScript writer produced (`tf.saved_model.load` and the signature functions).

Contract followed (TF Serving `api_rest.md`, `http_rest_api_handler.cc`, `http_rest_api_util.cc`,
`get_model_status_impl.cc`, `basic_manager.cc`):

- `GET  /v1/models/<name>[/versions/<v>|/labels/<l>]` -> `{"model_version_status": [...]}`, versions
  as strings (int64 in proto3 JSON), states START/LOADING/AVAILABLE/END, `status.error_code`;
- `GET  …/metadata` -> `{"model_spec": {...}, "metadata": {"signature_def": {"signature_def": …}}}`,
  the SignatureDefMap printed from `saved_model.pb` with proto field names;
- `POST …:predict` with row (`instances`) or columnar (`inputs`) format, optional `signature_name`;
- errors: `{ "error": "<C-escaped message>" }` with TF Serving's status mapping (NOT_FOUND 404,
  INVALID_ARGUMENT 400) and its messages for unknown models, versions, labels and signatures.

The HTTP port opens at once and prints `{"port": N}` on stdout; TensorFlow is imported and the
versions loaded in the background, so status moves START -> LOADING -> AVAILABLE (or END with an
error) as on a real server starting up.

Usage: tf_serving_double.py --model-name mymodel --model-base-path DIR [--port 0]
       [--load-delay SECONDS] [--label stable=1 …]
"""

import argparse
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


class RestError(Exception):
    """An error TF Serving would return: an HTTP status and a message."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


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
    """The versions of one model, loaded in the background like TF Serving's manager does."""

    def __init__(self, name, base_path, labels):
        self.name = name
        self.labels = labels
        self.lock = threading.Lock()
        self.versions = {}
        for entry in sorted(os.listdir(base_path)):
            if entry.isdigit():
                self.versions[int(entry)] = Version(int(entry), os.path.join(base_path, entry))
        if not self.versions:
            raise SystemExit(f"{base_path}: no numeric version directories; expected e.g. {base_path}/1")

    def load_all(self, delay):
        time.sleep(delay)
        for version in self.versions.values():
            with self.lock:
                version.state = "LOADING"
        import tensorflow as tf  # Imported here so the port answers while TensorFlow starts.
        from tensorflow.core.protobuf import saved_model_pb2

        for version in self.versions.values():
            try:
                proto = saved_model_pb2.SavedModel()
                with open(os.path.join(version.path, "saved_model.pb"), "rb") as f:
                    proto.ParseFromString(f.read())
                serve = [m for m in proto.meta_graphs if list(m.meta_info_def.tags) == ["serve"]]
                if not serve:
                    raise ValueError("no meta graph tagged exactly 'serve'")
                loaded = tf.saved_model.load(version.path, tags=["serve"])
                with self.lock:
                    version.signature_defs = serve[0].signature_def
                    version.loaded = loaded
                    version.state = "AVAILABLE"
            except Exception as err:  # A failed load ends the version with its error, as TF Serving does.
                with self.lock:
                    version.state = "END"
                    version.error_code = "INVALID_ARGUMENT"
                    version.error_message = f"{type(err).__name__}: {err}"
                print(f"version {version.number} failed to load: {err}", file=sys.stderr, flush=True)

    def resolve(self, name, version, label):
        """The requested version number (None for latest), or an error for an unknown label."""
        if label is None:
            return None if version is None else int(version)
        number = self.labels.get(label) if name == self.name else None
        if number is None:
            raise RestError(400, f"Unrecognized servable version label: {label}")
        return number

    def status(self, name, number):
        known = list(self.versions.values()) if name == self.name else []
        chosen = known if number is None else [v for v in known if v.number == number]
        if not chosen:
            if number is None:
                raise RestError(404, f"Could not find any versions of model {name}")
            raise RestError(404, f"Could not find version {number} of model {name}")
        with self.lock:
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
            raise RestError(404, f"Servable not found for request: {request}")
        return found


def metadata_json(servables, name, number):
    """GetModelMetadataResponse as the REST handler prints it (http_rest_api_util.cc)."""
    from google.protobuf import json_format
    from tensorflow.core.protobuf import meta_graph_pb2

    version = servables.servable(name, number)
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


def predict_json(servables, name, number, body):
    """Runs the signature function on the request's tensors; one output gives plain rows."""
    import numpy as np
    import tensorflow as tf

    try:
        request = json.loads(body)
    except ValueError as err:
        raise RestError(400, f"JSON Parse error: {err}")
    if not isinstance(request, dict) or ("instances" not in request and "inputs" not in request):
        raise RestError(400, "Missing 'inputs' or 'instances' key")
    if "instances" in request and "inputs" in request:
        raise RestError(400, "Not formatted correctly expecting only one of 'inputs' or 'instances' keys")
    version = servables.servable(name, number)
    signature_name = request.get("signature_name") or "serving_default"
    if signature_name not in version.signature_defs:
        raise RestError(400, f'Serving signature name: "{signature_name}" not found in signature def')
    signature = version.signature_defs[signature_name]
    function = version.loaded.signatures[signature_name]
    row_format = "instances" in request
    value = request["instances"] if row_format else request["inputs"]
    input_keys = list(signature.inputs.keys())
    if len(input_keys) == 1 and not (isinstance(value, dict) and input_keys[0] in value):
        feeds = {input_keys[0]: value}
    elif row_format:
        feeds = {k: [row[k] for row in value] for k in input_keys}
    else:
        feeds = value
    tensors = {}
    for key in input_keys:
        dtype = tf.dtypes.as_dtype(signature.inputs[key].dtype)
        try:
            tensors[key] = tf.constant(np.asarray(feeds[key], dtype=dtype.as_numpy_dtype))
        except (KeyError, ValueError, TypeError) as err:
            raise RestError(400, f"Failed to process element: {key} of 'instances' list. Error: {err}")
    try:
        outputs = function(**tensors)
    except tf.errors.OpError as err:
        # Eager prefixes the runtime's message with "Graph execution error", a Python traceback and
        # a blank line, and appends " [Op:…]"; TF Serving returns only the runtime's own text.
        message = re.sub(r" \[Op:[^\]]*\]$", "", err.message.split("\n\n")[-1])
        raise RestError(400 if isinstance(err, tf.errors.InvalidArgumentError) else 500, message)
    except (ValueError, TypeError) as err:
        raise RestError(400, str(err).strip().split("\n")[0])
    values = {k: v.numpy().tolist() for k, v in outputs.items()}
    if len(values) == 1:
        (only,) = values.values()
        return {"predictions": only} if row_format else {"outputs": only}
    if row_format:
        n = len(next(iter(values.values())))
        return {"predictions": [{k: v[i] for k, v in values.items()} for i in range(n)]}
    return {"outputs": values}


def make_handler(servables, verbose):
    """The request handler class, bound to `servables`."""
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            if verbose:
                sys.stderr.write("double: " + fmt % args + "\n")

        def send_json(self, status, text):
            data = text.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def dispatch(self, method, body):
            path = self.path.split("?")[0]
            if not re.match(r"^/v1/", path, re.IGNORECASE):
                data = b"<html><body>404 Not Found</body></html>"
                self.send_response(404)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            try:
                match = (PREDICT_PATH if method == "POST" else STATUS_PATH).match(path)
                if match is None:
                    raise RestError(400, f"Malformed request: {method} {path}")
                if method == "POST":
                    name, version, label, verb = match.groups()
                    if verb != "predict":
                        raise RestError(400, f"{verb} is not supported by this double")
                    number = servables.resolve(name, version, label)
                    result = predict_json(servables, name, number, body)
                else:
                    name, version, label, metadata = match.groups()
                    if name is None:
                        raise RestError(400, "Missing model name in request.")
                    number = servables.resolve(name, version, label)
                    if metadata:
                        result = metadata_json(servables, name, number)
                    else:
                        result = servables.status(name, number)
                self.send_json(200, json.dumps(result, indent=1))
            except RestError as err:
                self.send_json(err.status, '{ "error": "%s" }' % c_escape(err.message))

        def do_GET(self):
            self.dispatch("GET", b"")

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            self.dispatch("POST", self.rfile.read(length))

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-name", default="mymodel")
    parser.add_argument("--model-base-path", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--load-delay", type=float, default=0.0)
    parser.add_argument("--label", action="append", default=[], help="name=version")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    labels = {}
    for item in args.label:
        name, _, number = item.partition("=")
        if not number.isdigit():
            parser.error(f"--label {item!r}: expected name=version")
        labels[name] = int(number)
    servables = Servables(args.model_name, args.model_base_path, labels)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(servables, args.verbose))
    server.daemon_threads = True
    threading.Thread(target=servables.load_all, args=(args.load_delay,), daemon=True).start()
    print(json.dumps({"port": server.server_address[1]}), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
