#!/usr/bin/env bash
# `npm run up:dev`: `pulumi up` of the dev stack with the Pulumi CLI and Docker of this machine.
# Without a Pulumi login it keeps state in a local file backend (.pulumi-state/, git-ignored).
# Extra arguments go to `pulumi up` (for example --yes, or --config tfk8s:renderDir=manifests
# to write the manifests instead of applying them when no cluster is at hand).
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "up-dev: $*" >&2; exit 1; }
command -v pulumi >/dev/null || die "no pulumi CLI on PATH: install it (https://www.pulumi.com/docs/install/), or build it from Go modules with bash scripts/install-pulumi.sh and source ~/.cache/tfk8s-tools/env.sh"
docker info >/dev/null 2>&1 || die "no Docker engine answers (docker info failed): start Docker, or set DOCKER_HOST"
[ -d node_modules ] || npm ci

if [ -z "${PULUMI_BACKEND_URL:-}" ] && ! pulumi whoami >/dev/null 2>&1; then
    export PULUMI_BACKEND_URL="file://$PWD/.pulumi-state"
    mkdir -p .pulumi-state
    echo "up-dev: not logged in to Pulumi; keeping state in .pulumi-state/"
fi
if [ -z "${PULUMI_CONFIG_PASSPHRASE+x}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
    die "set PULUMI_CONFIG_PASSPHRASE (it encrypts the stack's secrets; any value for a local dev stack)"
fi

pulumi stack select dev 2>/dev/null || pulumi stack init dev --secrets-provider passphrase
pulumi up --stack dev "$@"
