"""Monitoring: TF Serving's two request metrics, `:tensorflow:serving:request_count` and
`:tensorflow:serving:request_latency`, served where `--monitoring_config_file` enables
`prometheus_config`, under TF Serving's own names, labels, buckets and number formats.

Where each part comes from in TF Serving's source:
- `servables/tensorflow/util.cc` declares `/tensorflow/serving/request_count` (a Counter<2>
  labelled `model_name`, `status`, the status being `error::Code_Name` of the call's status, so
  `OK` for a success) and `/tensorflow/serving/request_latency` (a Sampler<3> labelled
  `model_name`, `API`, `entrypoint`, in microseconds, on `Buckets::Exponential(10, 1.8, 33)`).
- `model_servers/http_server.cc` (`ProcessRequest`) counts every /v1/ request and records the
  latency of those answered 200 only, with `API` the verb after the colon of a POST (`predict`)
  and empty for a GET (its path regex captures no verb), and `entrypoint` `REST`.
- `util/prometheus_exporter.cc` prints a metric's name with every character but `[a-zA-Z0-9_]`
  made `:`, label values with `\\` and `"` escaped, counters as `# TYPE <name> counter` then
  `<name>{labels} <n>`, histograms as cumulative `_bucket` lines whose last limit is `+Inf`, then
  `_sum` and `_count`; metrics in name order, and doubles (limits, sums) through `absl::StrCat`,
  which prints them as `%.6g`.
- TensorFlow's `core/lib/monitoring/sampler.cc`: exponential limits are `scale` multiplied by the
  growth factor `count - 1` times, with DBL_MAX appended as the last bucket's; its histogram puts
  a value in the first bucket whose limit is greater than the value (`upper_bound`), so a value
  equal to a limit counts in the bucket above it (the exporter's own test shows 2 outside `le="2"`).

gRPC calls are not counted here; TF Serving counts them with `entrypoint` `GRPC`.
"""

import bisect
import threading

from .protos import parse_proto_text_file

DEFAULT_PROMETHEUS_PATH = "/monitoring/prometheus/metrics"

REQUEST_COUNT = ":tensorflow:serving:request_count"
REQUEST_LATENCY = ":tensorflow:serving:request_latency"


def exponential_limits(scale, growth_factor, bucket_count):
    """monitoring::Buckets::Exponential's limits, DBL_MAX (here infinity) last."""
    limits = []
    bound = scale
    for _ in range(bucket_count):
        limits.append(bound)
        bound *= growth_factor
    return limits + [float("inf")]


LATENCY_LIMITS_USEC = exponential_limits(10, 1.8, 33)


def prometheus_path(monitoring_config_file):
    """The path the metrics page is served at, or None when the config (if any) does not enable it."""
    if not monitoring_config_file:
        return None
    config = parse_proto_text_file(monitoring_config_file, "MonitoringConfig")
    if not config.prometheus_config.enable:
        return None
    return config.prometheus_config.path or DEFAULT_PROMETHEUS_PATH


def label_value(text):
    """SanitizeLabelValue: backslash and double quote escaped."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def labels_text(names, values):
    return ",".join(f'{name}="{label_value(value)}"' for name, value in zip(names, values))


def double(value):
    """absl::StrCat of a double."""
    return "%.6g" % value


class RequestMetrics:
    """REST requests by model name and status, and the latency of the successful ones, recorded
    from any request thread."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}
        # (model_name, API, entrypoint) -> [bucket counts, sum of microseconds]
        self.latencies = {}

    def count(self, name, status):
        with self.lock:
            self.counts[(name, status)] = self.counts.get((name, status), 0) + 1

    def observe_latency(self, name, api, entrypoint, usec):
        with self.lock:
            cell = self.latencies.setdefault(
                (name, api, entrypoint), [[0] * len(LATENCY_LIMITS_USEC), 0]
            )
            cell[0][bisect.bisect_right(LATENCY_LIMITS_USEC, usec)] += 1
            cell[1] += usec

    def prometheus_page(self):
        """The two metrics as TF Serving's PrometheusExporter prints them."""
        lines = [f"# TYPE {REQUEST_COUNT} counter"]
        with self.lock:
            for key, n in sorted(self.counts.items()):
                lines.append(f"{REQUEST_COUNT}{{{labels_text(('model_name', 'status'), key)}}} {n}")
            lines.append(f"# TYPE {REQUEST_LATENCY} histogram")
            for key, (buckets, total) in sorted(self.latencies.items()):
                labels = labels_text(("model_name", "API", "entrypoint"), key)
                cumulative = 0
                for i, n in enumerate(buckets):
                    cumulative += n
                    last = i == len(buckets) - 1
                    limit = "+Inf" if last else double(LATENCY_LIMITS_USEC[i])
                    lines.append(f'{REQUEST_LATENCY}_bucket{{{labels},le="{limit}"}} {cumulative}')
                lines.append(f"{REQUEST_LATENCY}_sum{{{labels}}} {double(total)}")
                lines.append(f"{REQUEST_LATENCY}_count{{{labels}}} {cumulative}")
        return "\n".join(lines) + "\n"
