# shellcheck shell=bash
# shellcheck disable=SC2154  # log, die, deploy, confirm, up_args, preview_args: from up-dev.sh
# What `npm run up:dev` adds on a kind or minikube context (sourced by scripts/up-dev.sh, which
# defines log, die, deploy, confirm, up_args and preview_args). Read from their documentation:
#   - the dev stack builds its image into the local Docker engine and does not push it, and a kind
#     or minikube node runs a container runtime of its own: the image has to be loaded into the
#     node (`kind load docker-image`, `minikube image load`) before the Deployment waits for pods
#     that would otherwise never pull it;
#   - a default kind cluster publishes no NodePort on this host (that needs extraPortMappings when
#     the cluster is created), and minikube's node has an address of its own: a
#     `kubectl port-forward` to the Service gives the endpoint on 127.0.0.1 instead, until
#     `npm run down:dev` stops it.
# Neither kind nor minikube can run on our CI machine: test/upDevContexts.test.ts runs this path
# with recording stubs in their place.

FORWARD_PID=.pulumi-state/port-forward.pid
ENDPOINT_PORT=${TFK8S_ENDPOINT_PORT:-30111}

# node_runtime CONTEXT: "kind" or "minikube" when CONTEXT is one of theirs, else nothing.
node_runtime() {
  case $1 in
    kind-*) echo kind ;;
    minikube) echo minikube ;;
  esac
}

# load_images CONTEXT: builds the stack's images alone (a targeted up of its Image resources),
# then loads each into the cluster's node.
load_images() {
  local context=$1 urns targets=() name
  # The Image resources' URNs, from a preview (which runs the program, as up would).
  urns=$(pulumi preview --stack dev --json "${preview_args[@]}" | node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      for (const step of JSON.parse(s).steps ?? [])
        if (step.urn.includes("docker:index/image:Image::")) console.log(step.urn);
    });')
  [ -n "$urns" ] || die "the preview of the dev stack names no docker Image resource to load into $context"
  for name in $urns; do targets+=(--target "$name"); done
  log "building the image first, to load it into the $(node_runtime "$context") node before the Deployment needs it"
  deploy up --stack dev "${targets[@]}" "${confirm[@]}" "${up_args[@]}"
  for name in $(pulumi stack export --stack dev | node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      for (const r of JSON.parse(s).deployment.resources ?? [])
        if (r.type === "docker:index/image:Image" && r.outputs?.imageName) console.log(r.outputs.imageName);
    });'); do
    case $(node_runtime "$context") in
      kind) log "kind load docker-image $name --name ${context#kind-}"
            kind load docker-image "$name" --name "${context#kind-}" ;;
      minikube) log "minikube image load $name"
                minikube image load "$name" ;;
    esac
  done
}

# stop_forward: stops the port-forward an earlier up:dev started, by its pid.
stop_forward() {
  [ -f "$FORWARD_PID" ] || return 0
  kill "$(cat "$FORWARD_PID")" 2>/dev/null && log "stopped the port-forward (pid $(cat "$FORWARD_PID"))"
  rm -f "$FORWARD_PID"
}

# forward_endpoint: a port-forward from 127.0.0.1:$ENDPOINT_PORT to the model's Service; waits
# until the model answers through it.
forward_endpoint() {
  local namespace service model
  namespace=$(pulumi stack output --stack dev namespace)
  service=$(pulumi stack output --stack dev serviceName)
  model=$(pulumi stack output --stack dev modelName)
  stop_forward
  setsid kubectl port-forward --namespace "$namespace" "service/$service" "$ENDPOINT_PORT:8501" \
    > .pulumi-state/port-forward.log 2>&1 < /dev/null &
  echo $! > "$FORWARD_PID"
  for _ in $(seq 30); do
    curl -sf "http://127.0.0.1:$ENDPOINT_PORT/v1/models/$model" > /dev/null && break
    sleep 1
  done
  curl -sf "http://127.0.0.1:$ENDPOINT_PORT/v1/models/$model" > /dev/null \
    || die "the model does not answer through kubectl port-forward on 127.0.0.1:$ENDPOINT_PORT after 30 s; see .pulumi-state/port-forward.log"
  log "serving at http://127.0.0.1:$ENDPOINT_PORT through kubectl port-forward (pid $(cat "$FORWARD_PID"); npm run down:dev stops it); check it with: npm run smoke -- --url http://127.0.0.1:$ENDPOINT_PORT"
}
