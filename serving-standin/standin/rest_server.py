"""The REST port: an HTTP/1.1 server whose handler routes /v1/ calls to `rest_endpoints`, answers
errors with TF Serving's status and body, records the request metrics and serves the Prometheus page."""

import json
import re
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .errors import ServingError
from .rest_endpoints import answer, route


class RestServer(ThreadingHTTPServer):
    """The REST port's server. TF Serving binds its REST port with libevent's
    evhttp_bind_socket_with_handle, which listens with a queue of 128 connections not yet accepted;
    socketserver's default of 5 reset some of sixteen clients connecting at once."""

    request_queue_size = 128
    daemon_threads = True


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


def make_handler(repository, metrics, prometheus_path, verbose):
    """The request handler class, bound to the model repository and the request metrics;
    `prometheus_path` None serves no metrics."""

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

        def dispatch(self, method, body, start):
            """Answers one request; `start` is when it arrived (time.monotonic_ns), before its
            body was read, where http_server.cc starts its latency clock."""
            path = self.path.split("?")[0]
            if method == "GET" and prometheus_path is not None and path == prometheus_path:
                self.send_body(200, "text/plain", metrics.prometheus_page().encode("utf-8"))
                return
            if not re.match(r"^/v1/", path, re.IGNORECASE):
                self.send_body(404, "text/html", b"<html><body>404 Not Found</body></html>")
                return
            name = ""
            try:
                name, version, label, verb = route(method, path)
                result = answer(repository, name, version, label, verb, body)
                data = json.dumps(result, indent=1).encode("utf-8")
                # TF Serving's API label is the verb a POST names; a GET's path captures none.
                api = verb if method == "POST" else ""
                usec = (time.monotonic_ns() - start) // 1000
                metrics.observe_latency(name or "", api, "REST", usec)
                metrics.count(name or "", "OK")
                self.send_body(200, "application/json", data)
            except ServingError as err:
                metrics.count(name or "", err.code)
                text = '{ "error": "%s" }' % c_escape(err.message)
                self.send_body(err.status, "application/json", text.encode("utf-8"))

        def do_GET(self):
            self.dispatch("GET", b"", time.monotonic_ns())

        def do_POST(self):
            start = time.monotonic_ns()
            length = int(self.headers.get("Content-Length") or 0)
            self.dispatch("POST", self.rfile.read(length), start)

    return Handler
