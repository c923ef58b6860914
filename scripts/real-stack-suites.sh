#!/usr/bin/env bash
# Runs the three real-stack suites in two lanes side by side, each on servers of its own:
#   integration, then faults: the suites of `npm run test:integration` and `npm run test:faults`,
#     in one start of a Docker engine, registry and API server without a node, on ports and state
#     directories of their own (below), so the fault suite's stopped servers touch nothing else;
#   cluster: `npm run test:cluster`, on the one-node local cluster with the default ports.
# Each lane spends much of its time waiting on its servers (a rollout, a namespace being deleted),
# which the other lane's work fills. Every output line is prefixed with its lane's name as it
# arrives. Exits non-zero when either lane failed, after both have ended.
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

lane integration+faults env TFK8S_DOCKER_DIR=/tmp/tfk8s-docker-integration TFK8S_REGISTRY_PORT=5001 \
  TFK8S_KUBE_STATE="$tools/kube-state-integration" KUBE_APISERVER_PORT=6444 KUBE_ETCD_PORT=2381 \
  bash scripts/with-real-stack.sh bash -c \
  "npx mocha --config test/integration/mocharc.json && echo && npx tsx test/faults/run.ts" &
first=$!
lane cluster npm run test:cluster &
second=$!
status=0
wait "$first" || status=1
wait "$second" || status=1
exit "$status"
