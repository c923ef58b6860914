#!/usr/bin/env bash
# Runs the three real-stack suites side by side, each in a lane of its own with servers of its own:
#   integration: `npm run test:integration`, on an engine, registry and API server (no node);
#   faults:      `npm run test:faults`, likewise, so the registry and API server it stops touch
#                nothing else;
#   cluster:     `npm run test:cluster`, on the one-node local cluster, with the default ports.
# The first two get ports and state directories apart from the defaults and from each other's
# (below). Each suite spends much of its time waiting (a rollout, a namespace being deleted, a
# pulumi command starting its plugins): with everything one after another, a CI run kept the 2
# cores busy 61% of the time (1292 CPU-seconds in 1063 s, commit ab17788). Every output line is
# prefixed with its lane's name as it arrives. Exits non-zero when a lane failed, after all three
# have ended.
#
# Usage: scripts/real-stack-suites.sh   (npm run test:real)
set -euo pipefail
cd "$(dirname "$0")/.."
tools="${TFK8S_TOOLS_DIR:-$HOME/.cache/tfk8s-tools}"

# Cold builds into the shared tools cache happen here, once, never in two lanes at a time.
bash scripts/with-real-stack.sh --tools

# lane NAME COMMAND...: runs COMMAND with its output prefixed, then reports its status and time.
lane() {
  local name=$1 t0=$SECONDS rc=0; shift
  "$@" 2>&1 | sed -u "s/^/[$name] /" || rc=$?
  echo "[$name] ended with status $rc after $((SECONDS - t0))s"
  return "$rc"
}

# servers N NAME COMMAND...: COMMAND on the N-th set of servers besides the default one: registry
# 5000+N, API server 6443+N, etcd 2379+2N (its peer port is the next one), state named NAME.
# shellcheck disable=SC2317  # called through lane's "$@"
servers() {
  local n=$1 name=$2; shift 2
  env TFK8S_DOCKER_DIR="/tmp/tfk8s-docker-$name" TFK8S_REGISTRY_PORT=$((5000 + n)) \
    TFK8S_KUBE_STATE="$tools/kube-state-$name" KUBE_APISERVER_PORT=$((6443 + n)) \
    KUBE_ETCD_PORT=$((2379 + 2 * n)) "$@"
}

pids=()
lane integration servers 1 integration npm run test:integration &
pids+=($!)
lane faults servers 2 faults npm run test:faults &
pids+=($!)
lane cluster npm run test:cluster &
pids+=($!)
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
exit "$status"
