#!/usr/bin/env bash
# Lints .github/workflows with actionlint, built from its Go module into the shared tools dir
# (no release binary can be downloaded here), with Debian's shellcheck for the `run:` scripts; a
# typo fails CI here, not on the first PR.
set -euo pipefail
cd "$(dirname "$0")/.."
ACTIONLINT_VERSION=v1.7.12
tools="${TFK8S_TOOLS_DIR:-$HOME/.cache/tfk8s-tools}"
bin="$tools/bin/actionlint-$ACTIONLINT_VERSION"
if [ ! -x "$bin" ]; then
    echo "building actionlint $ACTIONLINT_VERSION"
    mkdir -p "$tools/bin"
    GOBIN="$tools/bin/.actionlint-build" go install "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION"
    mv "$tools/bin/.actionlint-build/actionlint" "$bin"
    rmdir "$tools/bin/.actionlint-build"
fi
# actionlint checks each `run:` script with shellcheck when it is on PATH.
if ! command -v shellcheck >/dev/null; then
    echo "installing shellcheck"
    # shellcheck source=lib/apt.sh
    source scripts/lib/apt.sh
    apt_install --with-recommends shellcheck
fi
"$bin" -no-color .github/workflows/*.yml
echo "actionlint: workflows OK"
