"""Start-up: the options checked in TF Serving's order (`Server::BuildAndStart`), the gRPC API
started where it can be, the model loaded (before the REST port opens, as `ServerCore::Create`
awaits the initial load, unless a test asks otherwise), then the REST API served forever."""

import importlib.metadata
import json
import threading

from .errors import StartError
from .flags import parse_flags
from .log import log
from .metrics import RequestMetrics, prometheus_path
from .model_repository import ModelRepository
from .protos import parse_proto_text_file
from .rest_server import RestServer, make_handler


def check_options(options):
    """Refuses what TF Serving refuses before it starts; the Prometheus path, or None."""
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
    return prometheus_path(options["monitoring_config_file"])


def host_port(flag, value):
    """HOST:PORT of a --standin_*listen flag."""
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise StartError(f"INVALID_ARGUMENT: --{flag}={value}: expected HOST:PORT")
    return host, int(port)


def listen_address(options):
    """Where the REST API listens: TF Serving's 0.0.0.0:<rest_api_port>, or `--standin_listen`."""
    if options["standin_listen"]:
        return host_port("standin_listen", options["standin_listen"])
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
        host_port("standin_grpc_listen", address)
    else:
        address = f"0.0.0.0:{options['port']}"
    try:
        from . import grpc_servicer
    except ImportError as err:
        if options["standin_grpc_listen"]:
            raise StartError(f"UNAVAILABLE: --standin_grpc_listen needs tensorflow-serving-api: {err}")
        log(f"gRPC API on port {options['port']}: NOT served, tensorflow-serving-api is not installed ({err})")
        return None, None
    return grpc_servicer, address


def start_grpc(grpc_api, address, repository):
    """Starts the gRPC API; the server (which stops once nothing refers to it) and its port."""
    try:
        server, port = grpc_api.build_server(repository, address)
    except (OSError, RuntimeError) as err:
        raise StartError(f"UNAVAILABLE: Failed to start gRPC server at {address}: {err}")
    server.start()
    log(f"Running gRPC ModelServer at {address.rpartition(':')[0]}:{port} ...")
    return server, port


def load(repository, options):
    """Loads the model, in the background with --standin_serve_while_loading; a failed load
    stops the start-up otherwise."""
    delay = options["standin_load_delay_seconds"]
    if options["standin_serve_while_loading"]:
        threading.Thread(target=repository.load, args=(delay,), daemon=True).start()
        return
    version = repository.load(delay)
    if version.state != "AVAILABLE":
        raise StartError(
            "UNKNOWN: 1 servable(s) did not become available: "
            f"{{{{name: {repository.name} version: {version.number}}} due to error: "
            f"{version.error_code}: {version.error_message}}}, }}"
        )


def serve_rest(options, handler, address, grpc_port, metrics_path):
    """Opens the REST port, says where (on stdout as JSON with --standin_listen), serves forever."""
    host, port = address
    try:
        server = RestServer((host, port), handler)
    except OSError as err:
        raise StartError(f"UNAVAILABLE: Failed to start HTTP Server at {host}:{port}: {err.strerror}")
    if metrics_path is not None:
        log(f"Prometheus metrics (request_count, request_latency) at {metrics_path}")
    log(f"Exporting HTTP/REST API at:{host}:{server.server_address[1]} ...")
    if options["standin_listen"]:
        ports = {"port": server.server_address[1]}
        if grpc_port is not None:
            ports["grpc_port"] = grpc_port
        print(json.dumps(ports), flush=True)
    server.serve_forever()


def start(options):
    """Checks the options in TF Serving's order, then serves until the process ends."""
    metrics_path = check_options(options)
    address = listen_address(options)
    grpc_api, grpc_address = grpc_api_module(options)
    log(
        "Building single TensorFlow model file config: "
        f" model_name: {options['model_name']} model_base_path: {options['model_base_path']}"
    )
    repository = ModelRepository(
        options["model_name"],
        options["model_base_path"],
        options["standin_label"],
        options["enable_model_warmup"],
    )
    metrics = RequestMetrics()
    handler = make_handler(repository, metrics, metrics_path, options["standin_verbose"])
    # Held in this frame while the REST API serves: a gRPC server nothing refers to stops.
    grpc_server, grpc_port = start_grpc(grpc_api, grpc_address, repository) if grpc_api else (None, None)
    load(repository, options)
    serve_rest(options, handler, address, grpc_port, metrics_path)


def print_version():
    try:
        tf_version = importlib.metadata.version("tensorflow-cpu")
    except importlib.metadata.PackageNotFoundError:
        tf_version = importlib.metadata.version("tensorflow")
    print("TensorFlow ModelServer: tfk8s stand-in (TF Serving's REST API in Python, not TF Serving)")
    print(f"TensorFlow Library: {tf_version}")


def main(args):
    """Runs the server on the arguments after the program name; the exit status."""
    options = parse_flags(args)
    if options["version"]:
        print_version()
        return 0
    try:
        start(options)
    except StartError as err:
        print(f"Failed to start server. Error: {err}", flush=True)
        return 255
    except KeyboardInterrupt:
        pass
    return 0
