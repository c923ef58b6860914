"""The stand-in's own log lines, on stderr, named so they are not taken for TF Serving's."""

import sys


def log(message):
    print(f"tensorflow_model_server (tfk8s stand-in): {message}", file=sys.stderr, flush=True)
