# shellcheck shell=bash
# Progress of long steps, for the scripts here (sourced): a step says when it starts, every 25 s
# while it runs (so a line comes at least every 30 s, scheduling delays included), and how long it
# took, so that no cold build sits silent for minutes. The caller defines log.

# step NAME CMD...: runs CMD as the step NAME (say there how long it takes cold, when known).
step() {
  local name=$1 t0=$SECONDS beat rc=0
  shift
  log "$name: started"
  # The heartbeat: a subshell that wakes every 25 s; on TERM it ends its sleep too, so nothing of
  # it outlives the step.
  (
    trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
    while :; do
      sleep 25 & sleeper=$!
      wait "$sleeper"
      log "$name: still running after $((SECONDS - t0))s"
    done
  ) &
  beat=$!
  "$@" || rc=$?
  kill "$beat" 2>/dev/null || true
  wait "$beat" 2>/dev/null || true
  log "$name: done in $((SECONDS - t0))s"
  return "$rc"
}
