#!/usr/bin/env bash
# Installs the two third-party manifest checkers the integration suite runs on every stack's
# rendered manifests, at pinned versions, into the tools cache outside the clone:
#   kube-score (Go module github.com/zegl/kube-score), built with `go install`;
#   checkov (PyPI), in a venv of its own (its dependencies would fight tensorflow's in .venv).
# Idempotent: each is skipped when the pinned version is already there. Prints nothing else on
# stdout than the two `export` lines, so callers can `eval` it.
set -euo pipefail
KUBE_SCORE_VERSION=v1.20.0
CHECKOV_VERSION=3.3.30
tools="${TFK8S_TOOLS_DIR:-$HOME/.cache/tfk8s-tools}"
bin="$tools/bin"
venv="$tools/checkov-venv"
mkdir -p "$bin"
log() { echo "install-manifest-linters: $*" >&2; }

# A binary from `go install` reports "development" as its version; its build info has the module's.
if ! go version -m "$bin/kube-score" 2>/dev/null | grep -q "mod[[:space:]]*github.com/zegl/kube-score[[:space:]]*$KUBE_SCORE_VERSION"; then
    log "building kube-score $KUBE_SCORE_VERSION"
    GOBIN="$bin" GOFLAGS=-mod=mod GOTOOLCHAIN="${GOTOOLCHAIN:-local}" \
        go install "github.com/zegl/kube-score/cmd/kube-score@$KUBE_SCORE_VERSION" >&2
fi

if [[ "$("$venv/bin/checkov" --version 2>/dev/null || true)" != "$CHECKOV_VERSION" ]]; then
    log "installing checkov $CHECKOV_VERSION into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet "checkov==$CHECKOV_VERSION" >&2
fi

echo "export TFK8S_KUBE_SCORE=$bin/kube-score"
echo "export TFK8S_CHECKOV=$venv/bin/checkov"
