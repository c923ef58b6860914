# Daemons tracked by pid files, for scripts/kube-apiserver.sh and scripts/local-cluster.sh (sourced).
# The caller sets STATE (where NAME.pid lives) and defines log.

# running FILE: the process whose pid FILE holds is alive.
running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# stop NAME: TERM to the pid in $STATE/NAME.pid, KILL if it is still there after 15 s; the pid
# file goes either way.
stop() {
  local f=$STATE/$1.pid
  if running "$f"; then
    kill "$(cat "$f")"
    for _ in $(seq 30); do running "$f" || break; sleep 0.5; done
    running "$f" && kill -9 "$(cat "$f")"   # hung: don't leave it behind
    log "stopped $1"
  fi
  rm -f "$f"
}
