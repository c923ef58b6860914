#!/usr/bin/env bash
# A one-node Kubernetes cluster on this machine, from parts we can install: the control plane of
# scripts/kube-apiserver.sh (etcd, kube-apiserver, kube-controller-manager with the controllers a
# Deployment rollout needs, kube-scheduler) and a node of kubelet + kube-proxy built from
# k8s.io/kubernetes through the same wrapper module, Debian's containerd and runc as the CRI
# runtime, Debian's CNI plugins (bridge + host-local) for pod networking, and metrics-server (built
# from its Go module) serving the pods' CPU and memory to the autoscaler.
#
#   scripts/local-cluster.sh up     # build what is missing, start everything, print the KUBECONFIG path
#   scripts/local-cluster.sh down   # stop pods and processes (state kept; KUBE_PURGE=1 deletes it)
#   scripts/local-cluster.sh status # each daemon and forwarder running, or exited with its log's tail
#   scripts/local-cluster.sh restart NAME [SECONDS]  # stop one daemon, wait SECONDS, then `up`
#
# `up` can run any number of times: it starts what is not running, reports what has died since it
# was started, and restarts a daemon only when its command line or config changed (scripts/lib/
# daemons.sh); config files are rewritten only when their content changes, since kube-proxy exits
# on any write to its own.
#
# The node lives in a network namespace of its own (the kubelet refuses a loopback node IP, and
# every address the cluster uses stays inside namespaces we create): a veth pair joins it to this
# host, $HOST_IP here and $NODE_IP there; pods get 10.244.0.0/24 on a bridge inside it. socat
# forwarders, each with its pid file, carry what must cross: the node reaches the API server and
# the registry at $HOST_IP, and the host reaches each port in $NODE_PORTS (NodePort Services) on
# 127.0.0.1, the way kind maps ports from its node container. A route sends this host's traffic
# for the service range ($SERVICE_CIDR) to the node, so cluster IPs answer here too. The
# namespace's name, these addresses and the NodePorts are machine-wide, so one such cluster runs
# at a time; API servers without a node (scripts/kube-apiserver.sh with other ports and state
# directories) can run beside it.
#
# Settings this machine needs (each one measured):
#   cgroups v1:   kubelet failCgroupV1: false, cgroupDriver: cgroupfs;
#   no CAP_SYS_RESOURCE: a negative oom_score_adj cannot be written and runc dies with "can't get
#                 final child's PID from pipe: EOF", so containerd restricts it (restrict_oom_score_adj);
#   no image pulls from registry.k8s.io: the sandbox image is our own static pause binary
#                 (scripts/local-cluster/pause.c), imported into containerd;
#   the overlayfs snapshotter, not native: native gives each container a full copy of its image
#                 as its writable layer, which the kubelet counts as the pod's ephemeral storage
#                 (our 1.3 GB serving image was evicted at once for exceeding its 256Mi limit).
# Needs root, go, gcc, socat, iptables, conntrack, containerd, runc, containernetworking-plugins.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS=${TFK8S_TOOLS_DIR:-$HOME/.cache/tfk8s-tools}
BIN=$TOOLS/bin
KUBE_STATE=${TFK8S_KUBE_STATE:-$TOOLS/kube-state}
STATE=$KUBE_STATE/node
NETNS=${TFK8S_NODE_NETNS:-tfk8s-node}
NODE_NAME=tfk8s-node
HOST_IP=10.203.0.1 NODE_IP=10.203.0.2 POD_CIDR=10.244.0.0/24 SERVICE_CIDR=10.96.0.0/16
HOST_VETH=tfk8s-host
APISERVER_PORT=${KUBE_APISERVER_PORT:-6443}
REGISTRY_PORT=${TFK8S_REGISTRY_PORT:-5000}
NODE_PORTS=${TFK8S_NODE_PORTS:-30111}
PAUSE_IMAGE=tfk8s.local/pause:1
METRICS_SERVER_VERSION=v0.8.0       # the proxy serves v0.9.0 too, which is not an approved release
METRICS_PORT=4443
# nodelifecycle lifts the not-ready taint the kubelet registers its node with; disruption keeps each
# PodDisruptionBudget's status (how many pods an eviction may take now), without which the API
# server refuses every eviction; horizontalpodautoscaling runs the stacks' autoscalers.
CONTROLLERS=deployment,replicaset,endpoint,endpointslice,serviceaccount,nodelifecycle,garbagecollector,namespace,disruption,horizontalpodautoscaling
CTR=(ctr --address "$STATE/containerd/containerd.sock" --namespace k8s.io)
# nsenter, not `ip netns exec`: that one also remounts /sys, which hides the cgroup mounts the
# kubelet needs ("failed to find cgroup mounts").
IN_NODE=(nsenter "--net=/run/netns/$NETNS")

log() { echo "local-cluster: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
# shellcheck source=lib/daemons.sh
source scripts/lib/daemons.sh
# shellcheck source=lib/apt.sh
source scripts/lib/apt.sh
# shellcheck source=lib/progress.sh
source scripts/lib/progress.sh

# wait_for SECONDS WHAT COMMAND...: polls once a second until COMMAND succeeds.
wait_for() {
  local seconds=$1 what=$2; shift 2
  for _ in $(seq "$seconds"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  die "$what not ready after ${seconds}s; logs in $STATE"
}

install_packages() {
  local need=()
  command -v socat >/dev/null || need+=(socat)
  command -v conntrack >/dev/null || need+=(conntrack)
  command -v iptables >/dev/null || need+=(iptables)
  command -v containerd >/dev/null || need+=(containerd)
  command -v runc >/dev/null || need+=(runc)
  [ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
  [ ${#need[@]} -eq 0 ] && return 0
  log "installing ${need[*]}"
  apt_install "${need[@]}" || die "apt-get install ${need[*]} failed"
}

network() {
  if ! ip netns list | grep -qx "$NETNS\( (id: [0-9]*)\)\?"; then
    ip netns add "$NETNS"
    ip link add "$HOST_VETH" type veth peer name eth0 netns "$NETNS"
    ip addr add "$HOST_IP/30" dev "$HOST_VETH"
    ip link set "$HOST_VETH" up
    "${IN_NODE[@]}" ip addr add "$NODE_IP/30" dev eth0
    "${IN_NODE[@]}" ip link set eth0 up
    "${IN_NODE[@]}" ip link set lo up
    # No default route: nothing leaves the node but to this host. Service IPs need a route for
    # the node's own connections to reach kube-proxy's DNAT; it rewrites them to pod IPs.
    "${IN_NODE[@]}" ip route add "$SERVICE_CIDR" dev eth0
    "${IN_NODE[@]}" sysctl -qw net.ipv4.ip_forward=1
    log "network namespace $NETNS: node $NODE_IP, host $HOST_IP"
  fi
  # This host reaches cluster IPs through the node, whose kube-proxy rewrites them to pods: what
  # `npm run smoke -- --stack dev --track canary` calls. The route goes with the veth.
  ip route replace "$SERVICE_CIDR" via "$NODE_IP" dev "$HOST_VETH"
  mkdir -p "$STATE/cni"
  write_config "$STATE/cni/10-tfk8s.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "tfk8s", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]], "dataDir": "$STATE/cni/ipam"}},
  {"type": "loopback"}]}
EOF
  # The node reaches the API server and the registry through this host's end of the veth; inside
  # the node the registry answers on 127.0.0.1 too, so image names are the same on both sides.
  start forward-apiserver socat "TCP-LISTEN:$APISERVER_PORT,bind=$HOST_IP,reuseaddr,fork" "TCP:127.0.0.1:$APISERVER_PORT"
  start forward-registry socat "TCP-LISTEN:$REGISTRY_PORT,bind=$HOST_IP,reuseaddr,fork" "TCP:127.0.0.1:$REGISTRY_PORT"
  start forward-registry-in-node "${IN_NODE[@]}" socat "TCP-LISTEN:$REGISTRY_PORT,bind=127.0.0.1,reuseaddr,fork" "TCP:$HOST_IP:$REGISTRY_PORT"
  # nodelay on both sides: a relay that waits to coalesce small writes holds each response's
  # second segment for the client's delayed ACK, about 40 ms a request on a kept-alive connection.
  local port
  for port in $NODE_PORTS; do
    start "forward-nodeport-$port" socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork,nodelay" \
      "TCP:$NODE_IP:$port,nodelay"
  done
}

containerd_up() {
  mkdir -p "$STATE/containerd/certs.d"
  write_config "$STATE/containerd/config.toml" <<EOF
version = 2
root = "$STATE/containerd/root"
state = "$STATE/containerd/state"
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.native"]
[grpc]
  address = "$STATE/containerd/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$STATE/containerd/certs.d"
EOF
  start containerd "${IN_NODE[@]}" containerd --config "$STATE/containerd/config.toml"
  wait_for 30 containerd "${CTR[@]}" version
  if ! "${CTR[@]}" images check "name==$PAUSE_IMAGE" | grep -q complete; then
    pause_image > "$STATE/pause.tar"
    "${CTR[@]}" images import "$STATE/pause.tar" >/dev/null
    log "imported $PAUSE_IMAGE"
  fi
}

# Writes an OCI image layout (tar on stdout) of one layer holding a static /pause.
pause_image() {
  local dir; dir=$(mktemp -d)
  mkdir -p "$dir/rootfs" "$dir/oci/blobs/sha256"
  gcc -static -O2 -o "$dir/rootfs/pause" scripts/local-cluster/pause.c
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$dir/rootfs" -cf "$dir/layer.tar" pause
  local layer size config config_size manifest manifest_size
  layer=$(sha256sum "$dir/layer.tar" | cut -d' ' -f1); size=$(stat -c %s "$dir/layer.tar")
  mv "$dir/layer.tar" "$dir/oci/blobs/sha256/$layer"
  printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/pause"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$layer" > "$dir/config.json"
  config=$(sha256sum "$dir/config.json" | cut -d' ' -f1); config_size=$(stat -c %s "$dir/config.json")
  mv "$dir/config.json" "$dir/oci/blobs/sha256/$config"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
    "$config" "$config_size" "$layer" "$size" > "$dir/manifest.json"
  manifest=$(sha256sum "$dir/manifest.json" | cut -d' ' -f1); manifest_size=$(stat -c %s "$dir/manifest.json")
  mv "$dir/manifest.json" "$dir/oci/blobs/sha256/$manifest"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "$manifest" "$manifest_size" "$PAUSE_IMAGE" "${PAUSE_IMAGE##*:}" > "$dir/oci/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' > "$dir/oci/oci-layout"
  tar -C "$dir/oci" -cf - .
  rm -rf "$dir"
}

node_up() {
  local token; token=$(cut -d, -f1 "$KUBE_STATE/token.csv")
  mkdir -p "$STATE/kubelet" "$STATE/pod-logs"
  # The node's components use the admin token: a local cluster with one user (no TLS bootstrap).
  write_config "$STATE/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: "https://$HOST_IP:$APISERVER_PORT", insecure-skip-tls-verify: true}
users:
- name: node
  user: {token: "$token"}
contexts:
- name: local
  context: {cluster: local, user: node}
current-context: local
EOF
  write_config "$STATE/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$STATE/containerd/containerd.sock
address: $NODE_IP
readOnlyPort: 0
# Webhook: the kubelet asks the API server about a bearer token (metrics-server's, when it reads
# the pods' resource use from /metrics/resource). x509: the API server's own client certificate,
# when it forwards a port-forward, logs or exec request to the kubelet.
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $KUBE_STATE/certs/kubelet-client-ca.crt}
authorization: {mode: AlwaysAllow}
podLogsDir: $STATE/pod-logs
failSwapOn: false
hairpinMode: hairpin-veth
maxPods: 20
# This machine's disk is shared: evict only when it is really full, never garbage-collect images.
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%}
imageGCHighThresholdPercent: 100
EOF
  start kubelet "${IN_NODE[@]}" "$BIN/kubelet" --config "$STATE/kubelet.yaml" --kubeconfig "$STATE/kubeconfig" \
    --root-dir "$STATE/kubelet" --cert-dir "$STATE/kubelet/pki" --hostname-override "$NODE_NAME" --node-ip "$NODE_IP"
  write_config "$STATE/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $STATE/kubeconfig}
mode: iptables
hostnameOverride: $NODE_NAME
clusterCIDR: $POD_CIDR
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# The namespace's conntrack table is the kernel's: leave its sysctls alone.
conntrack: {maxPerCore: 0}
EOF
  start kube-proxy "${IN_NODE[@]}" "$BIN/kube-proxy" --config "$STATE/kube-proxy.yaml"
}

node_ready() {
  kubectl_get "/api/v1/nodes/$NODE_NAME" | python3 -c '
import json, sys
conditions = json.load(sys.stdin)["status"].get("conditions", [])
sys.exit(0 if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions) else 1)'
}

# GET against the API server with the admin token (no kubectl on this machine).
kubectl_get() {
  curl -sfk -H "Authorization: Bearer $(cut -d, -f1 "$KUBE_STATE/token.csv")" "https://127.0.0.1:$APISERVER_PORT$1"
}

up() {
  [ "$(id -u)" = 0 ] || die "must run as root (network namespaces, containerd, kubelet)"
  install_packages
  local kubeconfig
  kubeconfig=$(KUBE_CONTROLLERS=$CONTROLLERS KUBE_SCHEDULER=1 bash scripts/kube-apiserver.sh up)
  mkdir -p "$STATE"
  network
  containerd_up
  node_up
  wait_for 120 "node $NODE_NAME" node_ready
  metrics_up
  cluster_status > /dev/null || die "a daemon of the cluster exited while it came up (above)"
  log "ready: node $NODE_NAME ($NODE_IP), NodePorts $NODE_PORTS on 127.0.0.1"
  echo "$kubeconfig"
}

# metrics-server (sigs.k8s.io/metrics-server), built from its Go module: it reads each pod's CPU
# and memory from the kubelet and serves them as the metrics.k8s.io API, which the autoscaler
# (and `kubectl top`) read through the API server. It runs on this host at $HOST_IP, where the
# API server's aggregator reaches it through a Service without selector and its endpoints.
metrics_up() {
  local src=$TOOLS/src/metrics-server-$METRICS_SERVER_VERSION
  if [ "$(cat "$BIN/metrics-server.version" 2>/dev/null)" != "$METRICS_SERVER_VERSION" ]; then
    mkdir -p "$src"
    printf 'module tfk8s.local/metrics-server\n\ngo 1.24.0\n' > "$src/go.mod"
    step "go build metrics-server $METRICS_SERVER_VERSION (cold: a few minutes)" bash -c "cd '$src' \
      && GOFLAGS=-mod=mod go get -tool sigs.k8s.io/metrics-server/cmd/metrics-server@$METRICS_SERVER_VERSION \
      && GOFLAGS=-mod=mod go build -trimpath -ldflags '-s -w' -o '$BIN/metrics-server.tmp' sigs.k8s.io/metrics-server/cmd/metrics-server"
    mv "$BIN/metrics-server.tmp" "$BIN/metrics-server"
    echo "$METRICS_SERVER_VERSION" > "$BIN/metrics-server.version"
  fi
  start metrics-server "$BIN/metrics-server" --kubeconfig "$KUBE_STATE/kubeconfig" \
    --authentication-kubeconfig "$KUBE_STATE/kubeconfig" --authorization-kubeconfig "$KUBE_STATE/kubeconfig" \
    --bind-address "$HOST_IP" --secure-port "$METRICS_PORT" --cert-dir "$STATE/metrics-server" \
    --kubelet-insecure-tls --kubelet-preferred-address-types InternalIP --metric-resolution 15s
  kube_create /api/v1/namespaces/kube-system/services '{"apiVersion": "v1", "kind": "Service",
    "metadata": {"name": "metrics-server", "namespace": "kube-system"},
    "spec": {"ports": [{"name": "https", "port": 443, "targetPort": '"$METRICS_PORT"'}]}}'
  kube_create /apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices '{"apiVersion":
    "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
    "metadata": {"name": "metrics-server", "namespace": "kube-system",
      "labels": {"kubernetes.io/service-name": "metrics-server", "endpointslice.kubernetes.io/managed-by": "tfk8s.local"}},
    "endpoints": [{"addresses": ["'"$HOST_IP"'"], "conditions": {"ready": true}}],
    "ports": [{"name": "https", "port": '"$METRICS_PORT"', "protocol": "TCP"}]}'
  kube_create /apis/apiregistration.k8s.io/v1/apiservices '{"apiVersion": "apiregistration.k8s.io/v1",
    "kind": "APIService", "metadata": {"name": "v1beta1.metrics.k8s.io"},
    "spec": {"group": "metrics.k8s.io", "version": "v1beta1", "insecureSkipTLSVerify": true,
      "groupPriorityMinimum": 100, "versionPriority": 100,
      "service": {"namespace": "kube-system", "name": "metrics-server", "port": 443}}}'
  # The node's figures appear after the first scrape: metrics-server then answers for pods too.
  wait_for 120 "metrics-server (metrics.k8s.io)" node_metrics
}

node_metrics() { kubectl_get "/apis/metrics.k8s.io/v1beta1/nodes/$NODE_NAME" > /dev/null; }

# kube_create PATH JSON: POSTs an object unless it exists (409).
kube_create() {
  local code
  code=$(curl -sk -o /dev/null -w '%{http_code}' -X POST -H "Content-Type: application/json" \
    -H "Authorization: Bearer $(cut -d, -f1 "$KUBE_STATE/token.csv")" --data-binary "$2" \
    "https://127.0.0.1:$APISERVER_PORT$1")
  case $code in 201 | 409) ;; *) die "POST $1 answered $code" ;; esac
}

# Every pod sandbox and container our containerd runs: killed, deleted, its network namespace
# unmounted. containerd's shims outlive it, so they go first.
remove_containers() {
  [ -S "$STATE/containerd/containerd.sock" ] && running "$STATE/containerd.pid" || return 0
  local id netns
  for id in $("${CTR[@]}" containers list --quiet); do
    netns=$("${CTR[@]}" containers info "$id" 2>/dev/null \
      | sed -n 's#.*"path": "\(/var/run/netns/cni-[0-9a-f-]*\)".*#\1#p' | head -1)
    "${CTR[@]}" tasks kill --signal SIGKILL "$id" >/dev/null 2>&1 || true
    for _ in $(seq 20); do "${CTR[@]}" tasks delete "$id" >/dev/null 2>&1 && break; \
      "${CTR[@]}" tasks list --quiet | grep -qx "$id" || break; sleep 0.25; done
    "${CTR[@]}" containers delete "$id" >/dev/null 2>&1 || true
    if [ -n "$netns" ] && [ -e "$netns" ]; then umount "$netns" 2>/dev/null || true; rm -f "$netns"; fi
  done
}

down() {
  local p
  # No node state, no node of ours: the network namespace and the kubepods cgroups below are
  # named machine-wide, and may belong to the cluster of another state directory.
  [ -d "$STATE" ] || { bash scripts/kube-apiserver.sh down; return 0; }
  stop metrics-server
  stop kube-proxy
  stop kubelet
  remove_containers
  stop containerd
  for p in "$STATE"/forward-*.pid; do [ -e "$p" ] && stop "$(basename "$p" .pid)"; done
  # Volumes the kubelet mounted (deepest first), then the namespace with the bridge and veths.
  { grep -o " $STATE/[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do umount "$m" 2>/dev/null || true; done
  if ip netns list | grep -q "^$NETNS\b"; then ip netns del "$NETNS"; log "removed network namespace $NETNS"; fi
  # The kubelet's cgroups (kubepods/...), empty once its containers are gone.
  find /sys/fs/cgroup/*/kubepods -depth -type d -exec rmdir {} + 2>/dev/null || true
  bash scripts/kube-apiserver.sh down
}

# The node's daemons and forwarders, each running or exited since it started (with its log's last
# lines), then the control plane's; fails when one has exited.
cluster_status() {
  local names=(containerd kubelet kube-proxy metrics-server) p rc=0
  for p in "$STATE"/forward-*.pid; do [ -e "$p" ] && names+=("$(basename "$p" .pid)"); done
  status "${names[@]}" || rc=1
  bash scripts/kube-apiserver.sh status || rc=1
  return "$rc"
}

# restart NAME [SECONDS]: stops one daemon or forwarder of the node or the control plane (TERM, as
# `down` does), leaves it down for SECONDS (default 0), then runs `up`, which starts it again and
# leaves everything else alone. For the resilience bench: the kubelet, containerd, kube-proxy and
# the API server, each restarted while the model serves.
restart() {
  local name=$1 down_for=${2:-0} dir=$STATE
  [ -f "$dir/$name.pid" ] || dir=$KUBE_STATE
  [ -f "$dir/$name.pid" ] || die "no daemon named $name has a pid file in $STATE or $KUBE_STATE"
  STATE=$dir stop "$name"
  sleep "$down_for"
  up > /dev/null
}

case ${1:-} in
  up) up ;;
  down) down ;;
  status) cluster_status ;;
  restart) [ $# -ge 2 ] || die "usage: $0 restart NAME [SECONDS]"; restart "$2" "${3:-0}" ;;
  *) echo "usage: $0 up|down|status|restart NAME [SECONDS]" >&2; exit 2 ;;
esac
