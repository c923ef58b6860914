#!/usr/bin/env bash
# Runs a command (the integration suite, the stack benchmark) with a real Pulumi toolchain and
# Docker engine: builds or reuses the Pulumi CLI, language host and kubernetes provider from Go
# modules, starts a private Docker engine and a registry with credentials and a Kubernetes API
# server (scripts/kube-apiserver.sh, no kubelet), fetches the Gateway API CRDs
# (scripts/gateway-api-crds.sh), builds the manifest checker, installs kube-score
# and checkov, exports what test/support/realStack.ts reads, runs the command, and stops the
# engine and registry it started, whatever the outcome.
#
# With --cluster the API server gets a node (scripts/local-cluster.sh: scheduler, kubelet,
# containerd, kube-proxy) and the stand-in serving base image is built
# (scripts/build-serving-standin.sh), so pods really run; TFK8S_STANDIN_IMAGE names that image.
#
# Usage: scripts/with-real-stack.sh [--cluster] <command> [args...]
set -euo pipefail
cd "$(dirname "$0")/.."
cluster=0
[ "${1:-}" = --cluster ] && { cluster=1; shift; }
[ $# -gt 0 ] || { echo "usage: $0 [--cluster] <command> [args...]" >&2; exit 2; }
kube=scripts/kube-apiserver.sh
[ "$cluster" = 1 ] && kube=scripts/local-cluster.sh
tools="${TFK8S_TOOLS_DIR:-$HOME/.cache/tfk8s-tools}"
docker_state="${TFK8S_DOCKER_DIR:-/tmp/tfk8s-docker}"

bash scripts/install-pulumi.sh
# shellcheck source=/dev/null
source "$tools/env.sh"

# The cluster starts empty and is purged at the end: objects an earlier run left (a node port,
# a namespace) would otherwise change what the tests see. Within a run its state is kept, so the
# fault suite can restart the API server.
KUBE_PURGE=1 bash scripts/local-cluster.sh down
trap 'bash scripts/docker-down.sh; KUBE_PURGE=1 bash scripts/local-cluster.sh down' EXIT
bash scripts/docker-up.sh
# shellcheck source=/dev/null
source "$docker_state/env.sh"

# A real API server, with or without a node, for deploying without render mode.
TFK8S_KUBECONFIG="$(bash "$kube" up)"
export TFK8S_KUBECONFIG
if [ "$cluster" = 1 ]; then
  TFK8S_STANDIN_IMAGE="$(bash scripts/build-serving-standin.sh)"
  TFK8S_NODE_STATE="${TFK8S_KUBE_STATE:-$tools/kube-state}/node"
  export TFK8S_STANDIN_IMAGE TFK8S_NODE_STATE
fi

TFK8S_GATEWAY_CRDS="$(bash scripts/gateway-api-crds.sh)"
export TFK8S_GATEWAY_CRDS
export TFK8S_MANIFEST_CHECK="$tools/bin/manifest-check"
(cd scripts/manifest-check && go build -o "$TFK8S_MANIFEST_CHECK" .)
eval "$(bash scripts/install-manifest-linters.sh)"

"$@"
