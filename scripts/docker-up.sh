#!/usr/bin/env bash
# Start a private Docker engine and a local image registry for tests, then
# prove the build -> push -> registry path works.
#
# Why private: CI and developers share one machine with no systemd and no
# Docker Hub, so we run our own dockerd on our own socket/data dirs (not
# /var/run/docker.sock) and our own registry on 127.0.0.1:5000.
#   --storage-driver=vfs  works on any filesystem (no overlay-in-container)
#   --iptables=false --bridge=none  no host network changes; RUN steps in
#                         `docker build` therefore have no network (fine: our
#                         images only COPY files)
# Registry auth (htpasswd/bcrypt) is ON by default so tests can check that
# credentials stay secret; TFK8S_REGISTRY_AUTH=0 turns it off.
#
# Idempotent: reuses running daemons, restarts the registry if its config
# changed. Writes $STATE/env.sh; stop with scripts/docker-down.sh.
set -euo pipefail

STATE=${TFK8S_DOCKER_DIR:-/tmp/tfk8s-docker}
REGISTRY=127.0.0.1:${TFK8S_REGISTRY_PORT:-5000}
AUTH=${TFK8S_REGISTRY_AUTH:-1}
USER_NAME=${TFK8S_REGISTRY_USER:-tfk8s}
SOCK=$STATE/docker.sock
export DOCKER_HOST=unix://$SOCK
# keep `docker login` credentials out of ~/.docker
export DOCKER_CONFIG=$STATE/docker-config

die() { echo "docker-up: ERROR: $*" >&2; exit 1; }
log() { echo "docker-up: $*"; }
[ "$(id -u)" = 0 ] || die "must run as root (dockerd needs it)"

# Packages: docker.io gives dockerd (+containerd, runc); its /usr/bin/docker
# client does not shadow a newer /usr/local/bin/docker. apache2-utils: htpasswd.
need=()
command -v dockerd >/dev/null         || need+=(docker.io)
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v htpasswd >/dev/null        || need+=(apache2-utils)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  # shellcheck source=lib/apt.sh
  source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"
  # policy-rc.d keeps the packages' own service from starting (no systemd here)
  apt_install "${need[@]}" || die "apt-get install ${need[*]} failed"
fi
docker --version >/dev/null || die "no working docker client after install"
mkdir -p "$STATE" "$DOCKER_CONFIG"; chmod 700 "$STATE"

# shellcheck source=lib/daemons.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/daemons.sh"
# A daemon whose pid file names a process that has exited is reported with its log's last lines.
for name in dockerd registry; do
  if [ -s "$STATE/$name.pid" ] && ! running "$STATE/$name.pid"; then died "$name"; fi
done
# wait_for WHAT CMD...: poll until CMD succeeds (30 s), else show the log.
wait_for() { local what=$1 log=$2; shift 2
  for _ in $(seq 60); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  tail -20 "$log" >&2; die "$what did not come up (log: $log)"; }

# ---------------------------------------------------------------- dockerd
if running "$STATE/dockerd.pid"; then
  log "dockerd already running (pid $(cat "$STATE/dockerd.pid"))"
else
  rm -f "$SOCK"
  # setsid + nohup: survive the calling shell/CI step; it runs its own containerd
  setsid nohup dockerd --host "$DOCKER_HOST" --data-root "$STATE/data" --exec-root "$STATE/exec" \
    --pidfile "$STATE/dockerd.pid" --storage-driver=vfs --iptables=false --bridge=none \
    >"$STATE/dockerd.log" 2>&1 </dev/null &
  wait_for dockerd "$STATE/dockerd.log" docker info
  log "dockerd started (pid $(cat "$STATE/dockerd.pid"))"
fi

# ---------------------------------------------------------------- registry
auth_cfg=""
if [ "$AUTH" = 1 ]; then
  PWFILE=$STATE/registry-password
  if [ -n "${TFK8S_REGISTRY_PASSWORD:-}" ]; then printf '%s' "$TFK8S_REGISTRY_PASSWORD" > "$PWFILE"
  elif [ ! -s "$PWFILE" ]; then head -c 18 /dev/urandom | base64 | tr -d '/+=\n' > "$PWFILE"; fi
  chmod 600 "$PWFILE"
  # -i: password from stdin, never on a command line (visible in ps)
  # Rewritten only when it no longer holds this password: each bcrypt hash has a new salt.
  htpasswd -vi "$STATE/htpasswd" "$USER_NAME" < "$PWFILE" >/dev/null 2>&1 \
    || htpasswd -iBc "$STATE/htpasswd" "$USER_NAME" < "$PWFILE" 2>/dev/null || die "htpasswd failed"
  auth_cfg="auth:
  htpasswd:
    realm: tfk8s
    path: $STATE/htpasswd"
fi
cfg="version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $STATE/registry
  delete:
    enabled: true
http:
  addr: $REGISTRY
$auth_cfg"
if running "$STATE/registry.pid" && [ "$cfg" = "$(cat "$STATE/registry.yml" 2>/dev/null)" ]; then
  log "registry already running (pid $(cat "$STATE/registry.pid"))"
else
  if running "$STATE/registry.pid"; then kill "$(cat "$STATE/registry.pid")"; sleep 1; fi
  printf '%s\n' "$cfg" > "$STATE/registry.yml"
  setsid nohup docker-registry serve "$STATE/registry.yml" >"$STATE/registry.log" 2>&1 </dev/null &
  echo $! > "$STATE/registry.pid"
  # /v2/ answers 200 without auth, 401 with: either means it is serving
  wait_for registry "$STATE/registry.log" sh -c "curl -s -o /dev/null -w '%{http_code}' http://$REGISTRY/v2/ | grep -qE '200|401'"
  log "registry started on $REGISTRY (pid $(cat "$STATE/registry.pid"), auth=$AUTH)"
fi

# -------------------------------------------------- prove build -> push -> pull
# A FROM-scratch image with one file: no base image download, no RUN step.
if [ "${TFK8S_DOCKER_SMOKE:-1}" = 1 ]; then
  ctx=$(mktemp -d); trap 'rm -rf "$ctx"' EXIT
  date +%s%N > "$ctx/stamp.txt"        # new content -> new digest each run
  printf 'FROM scratch\nCOPY stamp.txt /stamp.txt\n' > "$ctx/Dockerfile"
  img=$REGISTRY/tfk8s/smoke:latest
  curlauth=()
  if [ "$AUTH" = 1 ]; then
    docker login "$REGISTRY" -u "$USER_NAME" --password-stdin < "$PWFILE" >"$STATE/login.log" 2>&1 \
      || { cat "$STATE/login.log" >&2; die "docker login failed"; }
    curlauth=(-K -)                     # curl reads `user = ...` from stdin, not argv
  fi
  # (the docker CLI may warn that its legacy builder is deprecated: no buildx here)
  docker build -q -t "$img" "$ctx" >/dev/null || die "docker build failed"
  pushed=$(docker push "$img" | sed -n 's/.*digest: \(sha256:[0-9a-f]*\).*/\1/p')
  [ -n "$pushed" ] || die "docker push printed no digest"
  served=$( { [ "$AUTH" = 1 ] && printf 'user = "%s:%s"\n' "$USER_NAME" "$(cat "$PWFILE")"; true; } |
    curl -sfI "${curlauth[@]}" -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
      "http://$REGISTRY/v2/tfk8s/smoke/manifests/latest" | tr -d '\r' | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p')
  [ "$pushed" = "$served" ] || die "registry digest '$served' != pushed digest '$pushed'"
  log "smoke: built+pushed $img, registry serves $served"
fi

{ echo "export DOCKER_HOST=$DOCKER_HOST"
  echo "export TFK8S_REGISTRY=$REGISTRY"
  if [ "$AUTH" = 1 ]; then
    echo "export TFK8S_REGISTRY_USER=$USER_NAME"
    echo "export TFK8S_REGISTRY_PASSWORD_FILE=$PWFILE"
  fi; } > "$STATE/env.sh.new"
# Renamed into place: a reader beside this run (another lane's `source`) never sees it half written.
mv "$STATE/env.sh.new" "$STATE/env.sh"
log "ready; run: source $STATE/env.sh   (DOCKER_HOST=$DOCKER_HOST)"
