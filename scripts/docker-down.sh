#!/usr/bin/env bash
# Stop the dockerd and registry started by scripts/docker-up.sh: exactly the
# pids in its pid files (never by name: other dockerds may be running).
# TFK8S_DOCKER_PURGE=1 also deletes the state dir (images, registry data).
set -euo pipefail

STATE=${TFK8S_DOCKER_DIR:-/tmp/tfk8s-docker}

stop() { local name=$1 pidfile=$STATE/$1.pid pid
  [ -s "$pidfile" ] || { echo "docker-down: $name not running (no $pidfile)"; return; }
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    # dockerd stops its containerd child itself; give it time, then force
    for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then echo "docker-down: $name ($pid) ignored SIGTERM, killing"; kill -9 "$pid"; fi
    echo "docker-down: stopped $name ($pid)"
  else
    echo "docker-down: $name ($pid) was not running"
  fi
  rm -f "$pidfile"; }

stop registry
stop dockerd
if [ "${TFK8S_DOCKER_PURGE:-0}" = 1 ]; then
  # exec-root may hold mounts if dockerd died hard; unmount before deleting
  grep -o " $STATE/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$STATE"; echo "docker-down: removed $STATE"
fi
