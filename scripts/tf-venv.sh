#!/usr/bin/env bash
# Gives the project a Python venv `.venv` with a pinned tensorflow-cpu and tensorflow-serving-api
# from PyPI, for the conformance and end-to-end suites, `npm run bench:graph` and the native tfjs backend's build.
# Nothing in the deploy path uses it.
#
# The venv itself lives in the tools cache outside the clone, one per TensorFlow and Python
# version, and `.venv` is a symlink to it: pip caches nothing from this machine's index, so each
# fresh clone used to download and unpack the 274 MB wheel again (65 s in CI). It is built under a
# lock and marked complete only after TensorFlow imports, so an interrupted install is redone, not
# used. Idempotent: exits at once when `.venv` already has the pinned version.
#
# Environment: PYTHON (default python3; TensorFlow 2.21 wheels need Python 3.10-3.13),
#              TF_VERSION (default 2.21.0, the version the conformance suite was written against),
#              SERVING_API_VERSION (default TF_VERSION),
#              TFK8S_TOOLS_DIR (default ~/.cache/tfk8s-tools).
set -euo pipefail

TF_VERSION="${TF_VERSION:-2.21.0}"
SERVING_API_VERSION="${SERVING_API_VERSION:-$TF_VERSION}"
PYTHON="${PYTHON:-python3}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LINK="$ROOT/.venv"
log() { echo "tf-venv: $*"; }
# shellcheck source=lib/progress.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/progress.sh"

installed_version() { # <venv> [distribution]
    # Reads the installed distribution's metadata: importing tensorflow would take seconds.
    "$1/bin/python" - "${2:-tensorflow-cpu}" <<'PY' 2>/dev/null
import importlib.metadata as metadata, sys
print(metadata.version(sys.argv[1]))
PY
}

# A checkout whose .venv is a directory of its own, from before the shared venv, keeps it.
if [[ -d "$LINK" && ! -L "$LINK" && "$(installed_version "$LINK" || true)" == "$TF_VERSION" &&
    "$(installed_version "$LINK" tensorflow-serving-api || true)" == "$SERVING_API_VERSION" ]]; then
    log "tensorflow-cpu $TF_VERSION already in $LINK"
    exit 0
fi

if ! command -v "$PYTHON" >/dev/null; then
    echo "tf-venv: $PYTHON not found; set PYTHON to a Python 3.10-3.13 interpreter" >&2
    exit 1
fi
py_version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
cache="${TFK8S_TOOLS_DIR:-$HOME/.cache/tfk8s-tools}/tf-venv"
venv="$cache/tensorflow-cpu-$TF_VERSION-py$py_version"
mkdir -p "$cache"

exec 9>"$venv.lock"
flock 9
if [[ ! -f "$venv/.complete" ]]; then
    rm -rf "$venv"
    log "creating $venv with $("$PYTHON" --version 2>&1)"
    "$PYTHON" -m venv "$venv"
    log "installing tensorflow-cpu==$TF_VERSION into $venv"
    step "pip install tensorflow-cpu (cold: a few minutes)" "$venv/bin/python" -m pip install "tensorflow-cpu==$TF_VERSION"
    "$venv/bin/python" -c "import tensorflow as tf; print('tf-venv: tensorflow', tf.__version__)"
    touch "$venv/.complete"
else
    log "tensorflow-cpu $TF_VERSION already in $venv"
fi
# TF Serving's Python API (generated messages and gRPC servicers) for the gRPC double and the
# warmup check. --no-deps: it requires `tensorflow`, whose place tensorflow-cpu takes here, and
# its protobuf and grpcio are tensorflow-cpu's own dependencies.
if [[ "$(installed_version "$venv" tensorflow-serving-api || true)" != "$SERVING_API_VERSION" ]]; then
    log "installing tensorflow-serving-api==$SERVING_API_VERSION into $venv"
    "$venv/bin/python" -m pip install --no-deps "tensorflow-serving-api==$SERVING_API_VERSION"
    "$venv/bin/python" -c "from tensorflow_serving.apis import prediction_service_pb2_grpc"
fi
flock -u 9

if [[ -e "$LINK" && ! -L "$LINK" ]]; then
    log "replacing $LINK (not tensorflow-cpu $TF_VERSION) with a link to $venv"
    rm -rf "$LINK"
fi
ln -sfn "$venv" "$LINK"
log ".venv -> $venv"
