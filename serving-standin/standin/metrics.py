"""Monitoring: the one Prometheus metric the stand-in keeps, `:tensorflow:serving:request_count`,
served where `--monitoring_config_file` enables `prometheus_config`."""

import threading

from .protos import parse_proto_text_file

DEFAULT_PROMETHEUS_PATH = "/monitoring/prometheus/metrics"


def prometheus_path(monitoring_config_file):
    """The path the metrics page is served at, or None when the config (if any) does not enable it."""
    if not monitoring_config_file:
        return None
    config = parse_proto_text_file(monitoring_config_file, "MonitoringConfig")
    if not config.prometheus_config.enable:
        return None
    return config.prometheus_config.path or DEFAULT_PROMETHEUS_PATH


class RequestCounts:
    """REST requests by model name and status code, counted from any request thread."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}

    def count(self, name, code):
        with self.lock:
            self.counts[(name, code)] = self.counts.get((name, code), 0) + 1

    def prometheus_page(self):
        """The counts as TF Serving's PrometheusExporter prints its request_count."""
        metric = ":tensorflow:serving:request_count"
        lines = [f"# TYPE {metric} counter"]
        with self.lock:
            for (name, code), n in sorted(self.counts.items()):
                label = name.replace("\\", "\\\\").replace('"', '\\"')
                lines.append(f'{metric}{{model_name="{label}",status="{code}"}} {n}')
        return "\n".join(lines) + "\n"
