#!/usr/bin/env bash
# Runs a command (the integration suite, the stack benchmark) with a real Pulumi toolchain and
# Docker engine: builds or reuses the Pulumi CLI, language host and kubernetes provider from Go
# modules, starts a private Docker engine and a registry with credentials and a Kubernetes API
# server (scripts/kube-apiserver.sh, no kubelet), fetches the Gateway API CRDs
# (scripts/gateway-api-crds.sh), builds the manifest checker, installs kube-score
# and checkov, exports what test/support/realStack.ts reads, runs the command, and stops the
# engine and registry it started, whatever the outcome. It fails when a process the command started
# is still running once it has stopped its servers (see finish below).
#
# With --cluster the API server gets a node (scripts/local-cluster.sh: scheduler, kubelet,
# containerd, kube-proxy) and the stand-in serving base image is built
# (scripts/build-serving-standin.sh), so pods really run; TFK8S_STANDIN_IMAGE names that image.
#
# With --tools it only builds and installs what the suites need, starting nothing: run it once
# before starting several of these side by side (scripts/real-stack-suites.sh), so that cold builds
# into the shared tools cache never race.
#
# Which engine, registry and API server it starts follows the environment of those scripts:
# TFK8S_DOCKER_DIR, TFK8S_REGISTRY_PORT, TFK8S_KUBE_STATE, KUBE_APISERVER_PORT, KUBE_ETCD_PORT.
#
# Usage: scripts/with-real-stack.sh [--cluster | --tools] [<command> [args...]]
set -euo pipefail
cd "$(dirname "$0")/.."
cluster=0 tools_only=0
case "${1:-}" in
  --cluster) cluster=1; shift ;;
  --tools) tools_only=1; shift ;;
esac
[ $# -gt 0 ] || [ "$tools_only" = 1 ] || { echo "usage: $0 [--cluster | --tools] [<command> [args...]]" >&2; exit 2; }
kube=scripts/kube-apiserver.sh
[ "$cluster" = 1 ] && kube=scripts/local-cluster.sh
tools="${TFK8S_TOOLS_DIR:-$HOME/.cache/tfk8s-tools}"
docker_state="${TFK8S_DOCKER_DIR:-/tmp/tfk8s-docker}"

bash scripts/install-pulumi.sh
# shellcheck source=/dev/null
source "$tools/env.sh"
# A fresh file each time, renamed into place: `go build -o` rewrites an existing binary in place,
# which would fail (or corrupt) a checker the other suite of a side-by-side run is executing.
export TFK8S_MANIFEST_CHECK="$tools/bin/manifest-check"
(cd scripts/manifest-check && go build -o "$TFK8S_MANIFEST_CHECK.$$" . && mv "$TFK8S_MANIFEST_CHECK.$$" "$TFK8S_MANIFEST_CHECK")
eval "$(bash scripts/install-manifest-linters.sh)"
TFK8S_GATEWAY_CRDS="$(bash scripts/gateway-api-crds.sh)"
export TFK8S_GATEWAY_CRDS
if [ "$tools_only" = 1 ]; then
  # The Kubernetes binaries: otherwise `up` below builds what is missing, on its own.
  bash scripts/kube-apiserver.sh build
  # build-serving-standin.sh installs debootstrap with an apt-get of its own, inside the code its
  # rootfs cache key hashes, which would fail beside another lane's install: so it comes first.
  # shellcheck source=lib/apt.sh
  command -v debootstrap >/dev/null || { source scripts/lib/apt.sh; apt_install --with-recommends debootstrap; }
  exit 0
fi

# Everything this run starts inherits this mark in its environment. Once the run has stopped its
# servers, a process that still carries it was left behind by the command (a plugin of a killed
# `pulumi up`, a server a test forgot): it is named, killed by pid, and the run fails.
mark="with-real-stack-$$-$RANDOM"
export TFK8S_RUN_MARK=$mark

# marked: pid and command line of each live process whose environment carries this run's mark.
marked() {
  local p
  for p in /proc/[0-9]*; do
    grep -qxz "TFK8S_RUN_MARK=$mark" "$p/environ" 2>/dev/null || continue
    echo "${p#/proc/} $(tr '\0' ' ' < "$p/cmdline" 2>/dev/null)"
  done
}

# prune_images: removes every image and the build cache of this run's engine. On its vfs storage
# each image or cached build step over the stand-in is a full copy of it (about 1 GB; the build
# cache's own figure counts far less): runs that kept them filled the disk until the kubelet
# evicted the pods (DiskPressure). The stand-in is imported again (about 20 s).
prune_images() {
  echo "with-real-stack: docker image prune: $(docker image prune -af 2>&1 | tail -1)"
  echo "with-real-stack: docker builder prune: $(docker builder prune -af 2>&1 | tail -1)"
}

# finish: stops the servers, then what else of this run still runs after 10 s; fails on the latter.
finish() {
  local rc=$? left pid
  # The run's images go with it while the engine still runs (see prune_images).
  if [ -S "${DOCKER_HOST#unix://}" ]; then prune_images; fi
  bash scripts/docker-down.sh
  KUBE_PURGE=1 bash scripts/local-cluster.sh down
  unset TFK8S_RUN_MARK
  for _ in $(seq 20); do left=$(marked); [ -z "$left" ] && break; sleep 0.5; done
  if [ -n "$left" ]; then
    echo "with-real-stack: ERROR: still running after the run, killed now:" >&2
    echo "$left" | sed 's/^/    /' >&2
    for pid in $(echo "$left" | cut -d' ' -f1); do kill -9 "$pid" 2>/dev/null || true; done
    rc=1
  fi
  exit "$rc"
}

# The cluster starts empty and is purged at the end: objects an earlier run left (a node port,
# a namespace) would otherwise change what the tests see. Within a run its state is kept, so the
# fault suite can restart the API server.
KUBE_PURGE=1 bash scripts/local-cluster.sh down
trap finish EXIT
bash scripts/docker-up.sh
# shellcheck source=/dev/null
source "$docker_state/env.sh"
# Also at the start: a run whose engine stopped before its end (down:dev stops it) left its images.
prune_images

# A real API server, with or without a node, for deploying without render mode.
TFK8S_KUBECONFIG="$(bash "$kube" up)"
export TFK8S_KUBECONFIG
if [ "$cluster" = 1 ]; then
  TFK8S_STANDIN_IMAGE="$(bash scripts/build-serving-standin.sh)"
  TFK8S_NODE_STATE="${TFK8S_KUBE_STATE:-$tools/kube-state}/node"
  export TFK8S_STANDIN_IMAGE TFK8S_NODE_STATE
fi

"$@"
