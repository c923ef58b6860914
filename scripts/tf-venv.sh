#!/usr/bin/env bash
# Gives the project a Python venv `.venv` with a pinned tensorflow-cpu from PyPI, for the
# conformance and end-to-end suites, `npm run bench:graph` and the native tfjs backend's build.
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
#              TFK8S_TOOLS_DIR (default ~/.cache/tfk8s-tools).
set -euo pipefail

TF_VERSION="${TF_VERSION:-2.21.0}"
PYTHON="${PYTHON:-python3}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LINK="$ROOT/.venv"
log() { echo "tf-venv: $*"; }

installed_version() {
    # Reads the installed distribution's metadata: importing tensorflow would take seconds.
    "$1/bin/python" - <<'PY' 2>/dev/null
import importlib.metadata as metadata
print(metadata.version("tensorflow-cpu"))
PY
}

# A checkout whose .venv is a directory of its own, from before the shared venv, keeps it.
if [[ -d "$LINK" && ! -L "$LINK" && "$(installed_version "$LINK" || true)" == "$TF_VERSION" ]]; then
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
    "$venv/bin/python" -m pip install "tensorflow-cpu==$TF_VERSION"
    "$venv/bin/python" -c "import tensorflow as tf; print('tf-venv: tensorflow', tf.__version__)"
    touch "$venv/.complete"
else
    log "tensorflow-cpu $TF_VERSION already in $venv"
fi
flock -u 9

if [[ -e "$LINK" && ! -L "$LINK" ]]; then
    log "replacing $LINK (not tensorflow-cpu $TF_VERSION) with a link to $venv"
    rm -rf "$LINK"
fi
ln -sfn "$venv" "$LINK"
log ".venv -> $venv"
