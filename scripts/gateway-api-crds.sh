#!/usr/bin/env bash
# Prints the directory of the Gateway API's standard-channel CRDs (sigs.k8s.io/gateway-api, from
# the Go module proxy into Go's module cache), so the integration suite can install HTTPRoute's
# into its API server and check the route the stack renders against the API server's own schema
# validation. The CRDs are downloaded, never copied into the project.
#
# Environment: GATEWAY_API_VERSION (default v1.6.3, the latest this machine's Go builds).
set -euo pipefail
GATEWAY_API_VERSION="${GATEWAY_API_VERSION:-v1.6.3}"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
dir=$(cd "$scratch" && GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
crds="$dir/config/crd/standard"
[ -f "$crds/gateway.networking.k8s.io_httproutes.yaml" ] || {
    echo "gateway-api-crds: no HTTPRoute CRD under $crds" >&2
    exit 1
}
echo "$crds"
