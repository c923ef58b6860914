#!/usr/bin/env bash
# `npm run test:integration`: builds (or reuses) the Pulumi CLI and providers, starts a private
# Docker engine and registry, builds the manifest checker, runs the integration suite, and stops
# the engine and registry it started, whatever the outcome.
set -euo pipefail
cd "$(dirname "$0")/.."
tools="${TFK8S_TOOLS_DIR:-$HOME/.cache/tfk8s-tools}"
docker_state="${TFK8S_DOCKER_DIR:-/tmp/tfk8s-docker}"

bash scripts/install-pulumi.sh
# shellcheck source=/dev/null
source "$tools/env.sh"

# Stop what docker-up starts, even when the suite fails.
trap 'bash scripts/docker-down.sh' EXIT
bash scripts/docker-up.sh
# shellcheck source=/dev/null
source "$docker_state/env.sh"

export TFK8S_MANIFEST_CHECK="$tools/bin/manifest-check"
(cd scripts/manifest-check && go build -o "$TFK8S_MANIFEST_CHECK" .)

npx mocha --config test/integration/mocharc.json
