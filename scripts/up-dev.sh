#!/usr/bin/env bash
# `npm run up:dev`: `pulumi up` of the dev stack, then the endpoint to call.
#
# With a cluster in the current kubeconfig context (kind, minikube, Docker Desktop), it uses that
# cluster with the Pulumi CLI and Docker of this machine, as Pulumi.dev.yaml says: the image is
# built into the local engine and not pushed. Extra arguments go to `pulumi up` (for example
# --yes, or --config tfk8s:renderDir=manifests to write the manifests instead).
#
# With no current context, it brings up the one-node local cluster (scripts/local-cluster.sh) and
# deploys the dev stack there, building what is missing on the way. Parts it uses in place of
# what cannot be installed on such a machine, and says so as it goes:
#   - the Pulumi CLI and kubernetes provider built from Go modules (scripts/install-pulumi.sh)
#     when no `pulumi` is on PATH;
#   - a private Docker engine and a registry with a password on 127.0.0.1:5000
#     (scripts/docker-up.sh);
#   - the docker provider's test double (test/doubles/dockerProviderDouble.ts) when no docker
#     provider plugin is installed;
#   - the stand-in for the tensorflow/serving base image (scripts/build-serving-standin.sh): our
#     SavedModel served by real TensorFlow behind TF Serving's REST API.
# The image is pushed to that registry and the pods pull it through a pull Secret the stack
# creates. The stack's config for this cluster is Pulumi.dev.yaml plus those settings, kept in
# .pulumi-state/Pulumi.dev.local-cluster.yaml so the checkout's files stay as they are.
#
#   npm run up:dev [-- <pulumi up flags>]    deploy (or update) the dev stack
#   npm run down:dev                         destroy it; on the local cluster, stop the cluster
#                                            and the private Docker engine too (state kept)
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "up-dev: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
tools="${TFK8S_TOOLS_DIR:-$HOME/.cache/tfk8s-tools}"
local_config=.pulumi-state/Pulumi.dev.local-cluster.yaml
down=0
[ "${1:-}" = --down ] && { down=1; shift; }

[ -d node_modules ] || npm ci

# `pulumi up` and `destroy` ask for confirmation, which needs a terminal. Without one (CI, a pipe),
# pulumi would only refuse after every build below; the answer is given now instead, and said.
confirm=()
if [ ! -t 0 ] && ! printf '%s\n' "$@" | grep -qxE -- '--yes|-y|--skip-preview|-f|--preview-only'; then
    confirm=(--yes)
    log "stdin is not a terminal, so nobody can answer pulumi's confirmation: passing --yes"
fi

# The kubernetes provider copies the kubeconfig, credentials and all, to a temporary file each
# time it starts and never removes it (writeKubeconfigToFile in its pkg/provider/util.go), so
# `pulumi up` and `destroy` run with a TMPDIR of their own, removed when this script ends.
pulumi_tmp=$(mktemp -d)
trap 'rm -rf "$pulumi_tmp"' EXIT
deploy() { TMPDIR=$pulumi_tmp pulumi "$@"; }

# The current context of the kubeconfig kubectl would use ($KUBECONFIG's first file, or
# ~/.kube/config), or nothing.
current_context() {
    node -e '
const fs = require("fs"), os = require("os"), path = require("path"), YAML = require("yaml");
const file = (process.env.KUBECONFIG || path.join(os.homedir(), ".kube", "config")).split(":")[0];
if (fs.existsSync(file)) process.stdout.write(String(YAML.parse(fs.readFileSync(file, "utf8"))?.["current-context"] ?? ""));'
}

if [ -z "${PULUMI_BACKEND_URL:-}" ] && ! { command -v pulumi >/dev/null && pulumi whoami >/dev/null 2>&1; }; then
    export PULUMI_BACKEND_URL="file://$PWD/.pulumi-state"
    mkdir -p .pulumi-state
    log "not logged in to Pulumi; keeping state in .pulumi-state/"
fi
if [ -z "${PULUMI_CONFIG_PASSPHRASE+x}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
    die "set PULUMI_CONFIG_PASSPHRASE (it encrypts the stack's secrets; any value for a local dev stack)"
fi

context=$(current_context)
if [ -n "$context" ] && [ ! -f "$local_config" ]; then
    log "deploying to the current kubeconfig context: $context"
    command -v pulumi >/dev/null || die "no pulumi CLI on PATH: install it (https://www.pulumi.com/docs/install/), or build it from Go modules with bash scripts/install-pulumi.sh and source $tools/env.sh"
    docker info >/dev/null 2>&1 || die "no Docker engine answers (docker info failed): start Docker, or set DOCKER_HOST"
    pulumi stack select dev 2>/dev/null || pulumi stack init dev --secrets-provider passphrase
    # shellcheck source=lib/kind-minikube.sh
    source scripts/lib/kind-minikube.sh
    runtime=$(node_runtime "$context")
    if [ "$down" = 1 ]; then
        stop_forward
        deploy destroy --stack dev "${confirm[@]}" "$@"
        exit 0
    fi
    up_args=("$@")
    preview_args=()
    for arg in "$@"; do
        case $arg in --yes | -y | --skip-preview | -f) ;; *) preview_args+=("$arg") ;; esac
    done
    [ -n "$runtime" ] && load_images "$context"
    deploy up --stack dev "${confirm[@]}" "$@"
    [ -n "$runtime" ] && forward_endpoint
    exit 0
fi

# await_version URL: for Pulumi an update is done once the new pods are ready, and kube-proxy sends
# new connections to them a moment later; so the endpoint is called, a new connection each time,
# until five answers in a row list only the stack's model version as AVAILABLE (at most 60 s).
await_version() {
    local url=$1 model version seen="" streak=0
    model=$(pulumi stack output --stack dev modelName)
    version=$(pulumi stack output --stack dev modelVersion)
    for _ in $(seq 120); do
        seen=$(curl -s --max-time 5 "$url/v1/models/$model" | node -e '
            let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
                try {
                    const all = JSON.parse(s).model_version_status ?? [];
                    console.log(all.filter((v) => v.state === "AVAILABLE").map((v) => v.version).join(","));
                } catch { console.log(""); }
            });')
        if [ "$seen" = "$version" ]; then
            streak=$((streak + 1))
            [ "$streak" -ge 5 ] && { log "version $version answers at $url"; return 0; }
        else
            streak=0
        fi
        sleep 0.5
    done
    die "$url still answers with version(s) '${seen:-none}' 60 s after the update, not $version; see: bash scripts/local-cluster.sh status"
}

# --- the local cluster -------------------------------------------------------------------------
[ "$(id -u)" = 0 ] || die "no current kubeconfig context, and the local cluster needs root (network namespace, containerd, kubelet)"
log "no current kubeconfig context: using the one-node local cluster (scripts/local-cluster.sh)"
if ! command -v pulumi >/dev/null; then
    log "no pulumi CLI on PATH: building it from Go modules (scripts/install-pulumi.sh; about 11 minutes the first time)"
    bash scripts/install-pulumi.sh >&2
    # shellcheck source=/dev/null
    source "$tools/env.sh"
fi
# The cluster pulls from a registry with a password; the private engine comes with one.
log "Docker: the private engine and the registry on 127.0.0.1:5000 of scripts/docker-up.sh"
bash scripts/docker-up.sh >&2
# shellcheck source=/dev/null
source "${TFK8S_DOCKER_DIR:-/tmp/tfk8s-docker}/env.sh"
if ! pulumi plugin ls 2>/dev/null | grep -q '^docker '; then
    log "no docker provider plugin is installed (this machine cannot download it): using tfk8s's test double of it, test/doubles/dockerProviderDouble.ts, which builds and pushes with the real Docker engine"
    mkdir -p .pulumi-state/bin
    printf '#!/bin/sh\nexec node %s %s "$@"\n' "$PWD/node_modules/tsx/dist/cli.mjs" \
        "$PWD/test/doubles/dockerProviderDouble.ts" > .pulumi-state/bin/pulumi-resource-docker
    chmod +x .pulumi-state/bin/pulumi-resource-docker
    export PATH="$PWD/.pulumi-state/bin:$PATH"
fi
pulumi stack select dev 2>/dev/null || pulumi stack init dev --secrets-provider passphrase

if [ "$down" = 1 ]; then
    if [ -f "$local_config" ]; then
        KUBECONFIG="$(bash scripts/local-cluster.sh up)" deploy destroy --stack dev --config-file "$local_config" "${confirm[@]}" "$@"
        rm -f "$local_config"
    fi
    bash scripts/local-cluster.sh down
    bash scripts/docker-down.sh >&2
    exit 0
fi

log "starting the local cluster (built from k8s.io/kubernetes on first use: about 12 minutes)"
KUBECONFIG="$(bash scripts/local-cluster.sh up)"
export KUBECONFIG
log "building the stand-in for the tensorflow/serving base image (scripts/build-serving-standin.sh; minutes the first time)"
base=$(bash scripts/build-serving-standin.sh)

# Pulumi.dev.yaml, pointed at this cluster: pushed to the local registry, pulled with its password.
registry=${TFK8S_REGISTRY:-127.0.0.1:5000}
# The copy keeps the encryptionsalt `pulumi stack init` wrote into Pulumi.dev.yaml, so secrets in
# either file decrypt with the stack's passphrase.
cp Pulumi.dev.yaml "$local_config.tmp"
mv "$local_config.tmp" "$local_config"
set_config() { pulumi config set --stack dev --config-file "$local_config" "$@" >/dev/null; }
set_config tfk8s:baseImage "$base"
set_config tfk8s:skipPush false
set_config tfk8s:registryServer "$registry"
set_config tfk8s:registryUsername "${TFK8S_REGISTRY_USER:-tfk8s}"
set_config --secret tfk8s:registryPassword -- "$(cat "${TFK8S_REGISTRY_PASSWORD_FILE:-/tmp/tfk8s-docker/registry-password}")"
set_config tfk8s:imageRepository "$registry/tfk8s/mymodel-serving"
set_config tfk8s:createImagePullSecret true
set_config tfk8s:nodeHost 127.0.0.1

deploy up --stack dev --config-file "$local_config" "${confirm[@]}" "$@"
await_version http://127.0.0.1:30111
log "serving at $(pulumi stack output --stack dev endpoint); check it with: npm run smoke -- --url http://127.0.0.1:30111"
log "stop it with: PULUMI_CONFIG_PASSPHRASE=… npm run down:dev"
