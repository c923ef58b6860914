#!/usr/bin/env bash
# Runs a command (the integration suite, the stack benchmark) with a real Pulumi toolchain and
# Docker engine: builds or reuses the Pulumi CLI, language host and kubernetes provider from Go
# modules, starts a private Docker engine and a registry with credentials and a Kubernetes API
# server (scripts/kube-apiserver.sh, no kubelet), builds the manifest checker, installs kube-score
# and checkov, exports what test/support/realStack.ts reads, runs the command, and stops the
# engine and registry it started, whatever the outcome.
#
# Usage: scripts/with-real-stack.sh <command> [args...]
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || { echo "usage: $0 <command> [args...]" >&2; exit 2; }
tools="${TFK8S_TOOLS_DIR:-$HOME/.cache/tfk8s-tools}"
docker_state="${TFK8S_DOCKER_DIR:-/tmp/tfk8s-docker}"

bash scripts/install-pulumi.sh
# shellcheck source=/dev/null
source "$tools/env.sh"

# The cluster starts empty and is purged at the end: objects an earlier run left (a node port,
# a namespace) would otherwise change what the tests see. Within a run its state is kept, so the
# fault suite can restart the API server.
KUBE_PURGE=1 bash scripts/kube-apiserver.sh down
trap 'bash scripts/docker-down.sh; KUBE_PURGE=1 bash scripts/kube-apiserver.sh down' EXIT
bash scripts/docker-up.sh
# shellcheck source=/dev/null
source "$docker_state/env.sh"

# A real API server (no kubelet) for deploying without render mode.
TFK8S_KUBECONFIG="$(bash scripts/kube-apiserver.sh up)"
export TFK8S_KUBECONFIG

export TFK8S_MANIFEST_CHECK="$tools/bin/manifest-check"
(cd scripts/manifest-check && go build -o "$TFK8S_MANIFEST_CHECK" .)
eval "$(bash scripts/install-manifest-linters.sh)"

"$@"
