#!/usr/bin/env bash
# Creates the project-local Python venv `.venv` with a pinned tensorflow-cpu from PyPI, for the
# conformance suite (`npm run test:conformance`) and `npm run bench:graph`. Nothing in the deploy
# path uses it. Idempotent: exits at once when the pinned version is already installed.
#
# Environment: PYTHON (default python3; TensorFlow 2.21 wheels need Python 3.10-3.13),
#              TF_VERSION (default 2.21.0, the version the conformance suite was written against).
set -euo pipefail

TF_VERSION="${TF_VERSION:-2.21.0}"
PYTHON="${PYTHON:-python3}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"

installed_version() {
    # Reads the installed distribution's metadata: importing tensorflow would take seconds.
    "$VENV/bin/python" - <<'PY' 2>/dev/null
import importlib.metadata as metadata
print(metadata.version("tensorflow-cpu"))
PY
}

if [[ -x "$VENV/bin/python" ]] && [[ "$(installed_version || true)" == "$TF_VERSION" ]]; then
    echo "tf-venv: tensorflow-cpu $TF_VERSION already in $VENV"
    exit 0
fi

if [[ ! -x "$VENV/bin/python" ]]; then
    if ! command -v "$PYTHON" >/dev/null; then
        echo "tf-venv: $PYTHON not found; set PYTHON to a Python 3.10-3.13 interpreter" >&2
        exit 1
    fi
    echo "tf-venv: creating $VENV with $("$PYTHON" --version 2>&1)"
    "$PYTHON" -m venv "$VENV"
fi

echo "tf-venv: installing tensorflow-cpu==$TF_VERSION into $VENV"
"$VENV/bin/python" -m pip install --upgrade "tensorflow-cpu==$TF_VERSION"
"$VENV/bin/python" -c "import tensorflow as tf; print('tf-venv: tensorflow', tf.__version__)"
