# shellcheck shell=bash
# Daemons tracked by pid files, for scripts/kube-apiserver.sh and scripts/local-cluster.sh (sourced).
# The caller sets STATE (where NAME.pid, NAME.spec and NAME.log live) and defines log.
#
# `up` must be safe to run any number of times: a running daemon is left alone, its config files
# are never rewritten with the same bytes (kube-proxy exits on any write to its config file, and
# `cat >` is a write), and a daemon is restarted only when what it was started with has changed.

# running FILE: the process whose pid FILE holds is alive.
running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# write_config FILE: stdin becomes FILE's content (readable by its owner alone: some hold tokens),
# through a rename, only when it differs from what FILE holds.
write_config() {
  local file=$1
  (umask 077 && cat > "$file.new")
  if cmp -s "$file.new" "$file"; then rm -f "$file.new"; else mv "$file.new" "$file"; fi
}

# spec_of COMMAND...: what a daemon was started with: its command line, and the checksum of each
# argument that names a file (its config files).
spec_of() {
  local arg
  printf '%s\n' "$*"
  for arg in "$@"; do [ -f "$arg" ] && sha256sum "$arg"; done
  return 0
}

# died NAME: says that NAME's recorded process is gone, with the last lines of its log.
died() {
  log "$1 (pid $(cat "$STATE/$1.pid")) has exited since it was started; the last lines of $STATE/$1.log:"
  tail -n 5 "$STATE/$1.log" 2>/dev/null | sed 's/^/    /' >&2
}

# start NAME COMMAND...: runs COMMAND detached from this script (its own session, so it outlives
# the caller's terminal), logging to NAME.log. One that is already running is left alone unless
# its command line or a config file it names has changed, in which case it is restarted and says
# so; one that died is reported (died) and started again.
start() {
  local name=$1 spec; shift
  spec=$(spec_of "$@")
  if running "$STATE/$name.pid"; then
    [ "$spec" = "$(cat "$STATE/$name.spec" 2>/dev/null)" ] && return 0
    log "restarting $name: its command line or a config file changed"
    stop "$name"
  elif [ -f "$STATE/$name.pid" ]; then
    died "$name"
  fi
  setsid "$@" > "$STATE/$name.log" 2>&1 < /dev/null &
  echo $! > "$STATE/$name.pid"
  printf '%s\n' "$spec" > "$STATE/$name.spec"
}

# stop NAME: TERM to the pid in $STATE/NAME.pid, KILL if it is still there after 15 s; the pid
# and spec files go either way.
stop() {
  local f=$STATE/$1.pid
  if running "$f"; then
    kill "$(cat "$f")"
    for _ in $(seq 30); do running "$f" || break; sleep 0.5; done
    running "$f" && kill -9 "$(cat "$f")"   # hung: don't leave it behind
    log "stopped $1"
  fi
  rm -f "$f" "$STATE/$1.spec"
}

# status NAME...: a line per daemon, running (with its pid) or exited (with its log's last
# lines); fails when one has exited. A daemon without a pid file was never started: not listed.
status() {
  local name dead=0
  for name in "$@"; do
    [ -f "$STATE/$name.pid" ] || continue
    if running "$STATE/$name.pid"; then
      echo "running  $name (pid $(cat "$STATE/$name.pid"))"
    else
      echo "EXITED   $name (pid $(cat "$STATE/$name.pid"))"
      died "$name"
      dead=1
    fi
  done
  return "$dead"
}
