"""The command line: TF Serving's flags that the stand-in honours, and its own for tests.

Parsed as tsl's `Flags::Parse` does for `tensorflow_model_server` (`model_servers/main.cc`): each
flag `--name=value`, a bool also bare `--name`; a value that does not parse prints the usage and
exits. What each flag does here, and how that differs from TF Serving: serving-standin/README.md.
"""

import re
import sys

PROGRAM = "tensorflow_model_server"
INT32 = re.compile(r"^[+-]?\d+$")

# Each flag: (type, default, help). TF Serving's defaults where the flag is TF Serving's.
FLAGS = {
    "port": (int, 8500, "gRPC port; served when tensorflow-serving-api is installed (standin/grpc_servicer.py)."),
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


def usage():
    lines = [f"usage: {PROGRAM}", "Flags:"]
    types = {int: "int32", str: "string", bool: "bool", float: "float", list: "string"}
    for name, (kind, default, text) in FLAGS.items():
        shown = {bool: "true" if default else "false", str: f'"{default}"', list: '""'}.get(kind, default)
        lines.append(f"\t--{name}={shown}\t{types[kind]}\t{text}")
    return "\n".join(lines) + "\n"


def parse_value(kind, value):
    """A flag's value as `kind`, or ValueError when tsl would not interpret it."""
    if kind is bool:
        if value is None or value.lower() == "true" or value == "1":
            return True
        if value.lower() == "false" or value == "0":
            return False
        raise ValueError(value)
    if kind is int:
        if INT32.match(value) and -(2**31) <= int(value) < 2**31:
            return int(value)
        raise ValueError(value)
    if kind is float:
        return float(value)
    return value


def refuse_unknown(arg):
    """Exits on an argument that is no flag of the stand-in's, saying what it is."""
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


def parse_labels(items):
    """`--standin_label` values as {label: version}; exits on one that is not NAME=VERSION."""
    labels = {}
    for item in items:
        label, _, number = item.partition("=")
        if not label or not number.isdigit():
            print(f"--standin_label={item}: expected NAME=VERSION", file=sys.stderr)
            sys.exit(255)
        labels[label] = int(number)
    return labels


def parse_flags(args):
    """The options from the arguments after the program name; exits as the real server does on
    errors (status 255)."""
    options = {name: (list(d) if kind is list else d) for name, (kind, d, _) in FLAGS.items()}
    failed = False
    unknown = []
    for arg in args:
        match = re.match(r"^--([A-Za-z0-9_]+)(?:=(.*))?$", arg, re.DOTALL)
        name, value = (match.group(1), match.group(2)) if match else (None, None)
        kind = FLAGS.get(name, (None,))[0]
        if kind is None or (value is None and kind is not bool):
            unknown.append(arg)
        elif kind is list:
            options[name].append(value)
        else:
            try:
                options[name] = parse_value(kind, value)
            except ValueError:
                print(f"Couldn't interpret value {value} for flag {name}.", file=sys.stderr)
                failed = True
    if failed or (unknown and unknown[0] == "--help"):
        sys.stdout.write(usage())
        sys.exit(255)
    if unknown:
        refuse_unknown(unknown[0])
    options["standin_label"] = parse_labels(options["standin_label"])
    return options
