#!/usr/bin/env bash
# A real Kubernetes control plane for `pulumi up` without a cluster: Debian's etcd, and
# kube-apiserver and kube-controller-manager built from Go modules.
#
#   scripts/kube-apiserver.sh build  # build (or keep) every binary, node ones included
#   scripts/kube-apiserver.sh up     # build if needed, start etcd + apiserver + GC, print KUBECONFIG path
#   scripts/kube-apiserver.sh down   # stop all (state kept; KUBE_PURGE=1 also deletes it)
#   scripts/kube-apiserver.sh status # each daemon running, or exited with its log's last lines
#
# Why build from Go modules: this machine reaches only package registries (no
# release downloads), so the module proxy is the only source of kube-apiserver.
# Alone it runs no kubelet or scheduler: objects are stored and validated, never
# scheduled -- Deployments need the `pulumi.com/skipAwait: "true"` annotation. The
# controller manager runs only the garbage collector (+ namespace cleanup): `pulumi
# destroy` deletes with foreground propagation, whose `foregroundDeletion` finalizer only
# the GC removes -- without it every delete hangs until Pulumi's 10 min timeout.
# scripts/local-cluster.sh adds a node: it asks for more controllers (KUBE_CONTROLLERS)
# and the scheduler (KUBE_SCHEDULER=1), and runs the kubelet and kube-proxy built here.
# Needs: go, openssl, curl, etcd (apt-get install etcd-server).
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-1.34.4}          # proxy serves v1.34.0, v1.34.2-4 (newer ones need a newer Go)
TOOLS=${TFK8S_TOOLS_DIR:-$HOME/.cache/tfk8s-tools}
BIN=$TOOLS/bin
STATE=${TFK8S_KUBE_STATE:-$TOOLS/kube-state}
PORT=${KUBE_APISERVER_PORT:-6443}
ETCD_PORT=${KUBE_ETCD_PORT:-2379}
APISERVER=$BIN/kube-apiserver KCM=$BIN/kube-controller-manager
# API server alone: only the garbage collector and namespace cleanup (see above). With a node
# (scripts/local-cluster.sh) it asks for the controllers a Deployment rollout needs, and the scheduler.
CONTROLLERS=${KUBE_CONTROLLERS:-garbagecollector,namespace}
# Built together from one wrapper module: the node (scripts/local-cluster.sh) runs the last three.
COMMANDS="kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy"
export GOFLAGS=-mod=mod GOTOOLCHAIN=${GOTOOLCHAIN:-local}

log() { echo "kube-apiserver.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
# shellcheck source=lib/daemons.sh
source "$(dirname "$0")/lib/daemons.sh"
# shellcheck source=lib/apt.sh
source "$(dirname "$0")/lib/apt.sh"
# shellcheck source=lib/progress.sh
source "$(dirname "$0")/lib/progress.sh"
current() { [ -x "$1" ] && [ "$("$1" --version 2>/dev/null)" = "Kubernetes v$K8S_VERSION" ]; }

# k8s.io/kubernetes cannot be built as a dependency directly: its go.mod
# replaces every k8s.io/* staging module with ./staging/..., which Go ignores
# outside the main module. So a wrapper module redirects each one to its
# published tag (kubernetes v1.X.Y <-> staging v0.X.Y), read from that go.mod.
build() {
  local src=$TOOLS/src/kube-apiserver-v$K8S_VERSION mod t0=$SECONDS c stale=0
  for c in $COMMANDS; do current "$BIN/$c" || stale=1; done
  [ "$stale" = 0 ] && return 0                       # warm: every binary's version already matches
  log "building $COMMANDS v$K8S_VERSION (cold: about 11.5 min and 2.9 GB of Go build cache on 2 cores)"
  mkdir -p "$src" "$BIN"
  printf 'module tfk8s.local/kube-apiserver\n\ngo 1.24.0\n\nrequire k8s.io/kubernetes v%s\n' "$K8S_VERSION" > "$src/go.mod"
  { printf '//go:build tools\n\npackage tools\n\nimport (\n'
    for c in $COMMANDS; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$c"; done
    printf ')\n'; } > "$src/tools.go"
  mod=$(cd "$src" && go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/^\s*"GoMod": "\(.*\)",$/\1/p')
  [ -f "$mod" ] || die "k8s.io/kubernetes@v$K8S_VERSION not served by the Go proxy"
  sed -n 's#^\s*\(k8s\.io/[a-z0-9-]*\) => \./staging/.*#\1#p' "$mod" \
    | while read -r m; do echo "replace $m => $m v0.${K8S_VERSION#1.}"; done >> "$src/go.mod"
  step "go mod tidy (downloads the modules k8s.io/kubernetes needs)" bash -c "cd '$src' && go mod tidy"
  # Stamp the version: the default "v0.0.0-master" confuses clients (and our --version check).
  for c in $COMMANDS; do
    current "$BIN/$c" && continue
    step "go build $c" go_build "$c"
    mv "$BIN/$c.tmp" "$BIN/$c"                 # atomic: a failed build never leaves a half binary
  done
  log "built $COMMANDS $("$APISERVER" --version) in $((SECONDS - t0))s"
}

# go_build COMMAND: builds k8s.io/kubernetes/cmd/COMMAND into $BIN/COMMAND.tmp, version stamped.
go_build() {
  local c=$1 src=$TOOLS/src/kube-apiserver-v$K8S_VERSION pkg=k8s.io/component-base/version
  (cd "$src" && go build -trimpath -o "$BIN/$c.tmp" -ldflags "-s -w \
      -X $pkg.gitVersion=v$K8S_VERSION -X $pkg.gitMajor=${K8S_VERSION%%.*} \
      -X $pkg.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2) -X $pkg.gitTreeState=clean \
      -X $pkg.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)" "k8s.io/kubernetes/cmd/$c")
}

# front_proxy_certs: a CA of its own, and the client certificate (CN front-proxy-client) it signs.
front_proxy_certs() {
  local d=$STATE/certs
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=front-proxy-ca \
    -keyout "$d/front-proxy-ca.key" -out "$d/front-proxy-ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj /CN=front-proxy-client \
    -keyout "$d/front-proxy-client.key" -out "$d/front-proxy-client.csr" 2>/dev/null
  openssl x509 -req -in "$d/front-proxy-client.csr" -CA "$d/front-proxy-ca.crt" -CAkey "$d/front-proxy-ca.key" \
    -CAcreateserial -days 3650 -out "$d/front-proxy-client.crt" 2>/dev/null
}

# kubelet_client_certs: a CA of its own, and the client certificate (CN kube-apiserver-kubelet-client)
# the API server presents to a kubelet for port-forward, logs and exec; a kubelet trusts that CA.
kubelet_client_certs() {
  local d=$STATE/certs
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=kubelet-client-ca \
    -keyout "$d/kubelet-client-ca.key" -out "$d/kubelet-client-ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj /CN=kube-apiserver-kubelet-client \
    -keyout "$d/kubelet-client.key" -out "$d/kubelet-client.csr" 2>/dev/null
  openssl x509 -req -in "$d/kubelet-client.csr" -CA "$d/kubelet-client-ca.crt" -CAkey "$d/kubelet-client-ca.key" \
    -CAcreateserial -days 3650 -out "$d/kubelet-client.crt" 2>/dev/null
}

up() {
  if ! command -v etcd >/dev/null; then
    log "installing Debian's etcd-server"
    apt_install etcd-server || die "apt-get install etcd-server failed"
  fi
  build
  mkdir -p "$STATE/certs"
  # One-time credentials: SA signing key pair and a static admin token (system:masters => RBAC cluster-admin).
  [ -f "$STATE/certs/sa.key" ] || { openssl genrsa -out "$STATE/certs/sa.key" 2048 2>/dev/null
                                   openssl rsa -in "$STATE/certs/sa.key" -pubout -out "$STATE/certs/sa.pub" 2>/dev/null; }
  [ -f "$STATE/token.csv" ] || echo "$(openssl rand -hex 16),admin,admin,system:masters" > "$STATE/token.csv"
  # The front proxy's CA and client certificate: the API server presents it when it forwards a
  # request to an aggregated API (metrics-server's metrics.k8s.io), which trusts the forwarded
  # user only from a client that CA signed.
  [ -f "$STATE/certs/front-proxy-client.crt" ] || front_proxy_certs
  [ -f "$STATE/certs/kubelet-client.crt" ] || kubelet_client_certs
  local token; token=$(cut -d, -f1 "$STATE/token.csv")

  start etcd etcd --name local --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-cluster "local=http://127.0.0.1:$((ETCD_PORT + 1))"
  # Wait for etcd first: otherwise the apiserver starts with a burst of gRPC connect errors.
  for _ in $(seq 30); do curl -sf "http://127.0.0.1:$ETCD_PORT/health" >/dev/null && break; sleep 0.5; done
  curl -sf "http://127.0.0.1:$ETCD_PORT/health" >/dev/null || die "etcd not healthy; see $STATE/etcd.log"
  start kube-apiserver "$APISERVER" --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --secure-port "$PORT" --cert-dir "$STATE/certs" \
    --token-auth-file "$STATE/token.csv" --authorization-mode RBAC \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$STATE/certs/sa.pub" --service-account-signing-key-file "$STATE/certs/sa.key" \
    --service-cluster-ip-range 10.96.0.0/16 --service-node-port-range 30000-32767 \
    --requestheader-client-ca-file "$STATE/certs/front-proxy-ca.crt" \
    --requestheader-allowed-names front-proxy-client --requestheader-username-headers X-Remote-User \
    --requestheader-group-headers X-Remote-Group --requestheader-extra-headers-prefix X-Remote-Extra- \
    --proxy-client-cert-file "$STATE/certs/front-proxy-client.crt" \
    --proxy-client-key-file "$STATE/certs/front-proxy-client.key" --enable-aggregator-routing=true \
    --kubelet-client-certificate "$STATE/certs/kubelet-client.crt" \
    --kubelet-client-key "$STATE/certs/kubelet-client.key" --kubelet-preferred-address-types InternalIP

  # /readyz covers etcd, RBAC bootstrap roles and the default namespace.
  for _ in $(seq 90); do
    curl -sfk -H "Authorization: Bearer $token" "https://127.0.0.1:$PORT/readyz" >/dev/null && break
    running "$STATE/kube-apiserver.pid" || { died kube-apiserver; die "kube-apiserver exited"; }
    sleep 1
  done
  curl -sfk -H "Authorization: Bearer $token" "https://127.0.0.1:$PORT/readyz" >/dev/null \
    || die "not ready after 90s; see $STATE/kube-apiserver.log"

  # The --cert-dir serving cert is self-signed by a throwaway CA; skip-verify keeps the file simple.
  write_config "$STATE/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: "https://127.0.0.1:$PORT", insecure-skip-tls-verify: true}
users:
- name: admin
  user: {token: "$token"}
contexts:
- name: local
  context: {cluster: local, user: admin, namespace: default}
current-context: local
EOF
  # A running controller manager with another controller set (the API server alone, now asked for
  # a node, or back) is restarted with the set asked for: its command line changed.
  start kube-controller-manager "$KCM" --kubeconfig "$STATE/kubeconfig" --controllers "$CONTROLLERS" \
    --leader-elect=false --secure-port 0
  if [ "${KUBE_SCHEDULER:-0}" = 1 ]; then
    start kube-scheduler "$BIN/kube-scheduler" --kubeconfig "$STATE/kubeconfig" --leader-elect=false \
      --bind-address 127.0.0.1
  fi
  log "ready: $("$APISERVER" --version) on https://127.0.0.1:$PORT"
  echo "$STATE/kubeconfig"
}

down() {
  local p
  for p in kube-scheduler kube-controller-manager kube-apiserver etcd; do stop "$p"; done  # clients first, etcd last
  [ "${KUBE_PURGE:-0}" = 1 ] && rm -rf "$STATE" && log "removed $STATE"
  return 0
}

case ${1:-} in
  build) build ;;
  up) up ;;
  down) down ;;
  status) status etcd kube-apiserver kube-controller-manager kube-scheduler ;;
  *) echo "usage: $0 build|up|down|status" >&2; exit 2 ;;
esac
