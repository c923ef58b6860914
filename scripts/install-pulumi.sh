#!/usr/bin/env bash
# Build the Pulumi CLI, the Node.js language host and the kubernetes/docker
# resource providers from Go modules, and install them into a tools cache
# OUTSIDE the clone (default ~/.cache/tfk8s-tools).
#
# Why from Go modules: this machine reaches only package registries; the
# release tarballs (get.pulumi.com, GitHub releases) are unreachable, so the Go
# module proxy is the only source of these binaries.
#
# Versions follow node_modules so an npm upgrade triggers a rebuild. The proxy
# here serves only some module versions, so when the exact version is refused
# the script falls back (loudly) to the closest served one -- see pick_version.
#
# Warm runs are a few stamp/version checks (seconds). Writes $TOOLS/env.sh:
#   source "${TFK8S_TOOLS_DIR:-$HOME/.cache/tfk8s-tools}/env.sh"
set -Eeuo pipefail   # -E: the ERR trap below also reports failures inside functions

ROOT=${TFK8S_PROJECT_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}   # where node_modules is
TOOLS=${TFK8S_TOOLS_DIR:-$HOME/.cache/tfk8s-tools}
BIN=$TOOLS/bin
SRC=$TOOLS/src
export PULUMI_HOME=$TOOLS/pulumi-home          # plugin cache private to us
export PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export CI=true GOFLAGS=-mod=mod GOTOOLCHAIN=${GOTOOLCHAIN:-local}
mkdir -p "$BIN" "$SRC" "$PULUMI_HOME"

die()  { echo "install-pulumi: ERROR: $*" >&2; exit 1; }
trap 'echo "install-pulumi: ERROR: line $LINENO: \"$BASH_COMMAND\" failed" >&2' ERR
warn() { echo "install-pulumi: WARNING: $*" >&2; }
log()  { echo "install-pulumi: $*"; }
command -v go >/dev/null   || die "go not found on PATH (need Go >= 1.24 for the 'tool' directive)"
command -v node >/dev/null || die "node not found on PATH"

# Time each step so slow cold builds are visible in CI logs.
# shellcheck source=lib/progress.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/progress.sh"

npm_version() { node -p "require('$ROOT/node_modules/$1/package.json').version" 2>/dev/null \
  || die "$1 is not installed in $ROOT/node_modules (run npm ci first)"; }

# A scratch module so `go list -m` works regardless of the caller's cwd.
PROBE=$SRC/probe
[ -f "$PROBE/go.mod" ] || { mkdir -p "$PROBE"; printf 'module tfk8s.local/probe\n\ngo 1.24\n' > "$PROBE/go.mod"; }

# modinfo MOD@VER FIELD: download the module zip (not just .info: this proxy
# sometimes serves .info for versions whose zip it refuses) and print a field.
modinfo() { (cd "$PROBE" && go mod download -json "$1" 2>/dev/null) \
  | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);
      if(j.Error||!j[process.argv[1]])process.exit(1);console.log(j[process.argv[1]])})' "$2"; }

# pick_version MOD WANT: WANT if the proxy serves it, else the newest patch of
# the lowest served minor >= WANT (newer CLIs support older SDKs), else the
# newest served version.
pick_version() { local mod=$1 want=$2 list v
  if modinfo "$mod@$want" Dir >/dev/null; then echo "$want"; return; fi
  list=$(cd "$PROBE" && go list -m -versions "$mod" 2>/dev/null | tr ' ' '\n' | tail -n +2 | sort -V) || true
  [ -n "$list" ] || return 1
  v=$(printf '%s\n%s\n' "$list" "$want" | sort -V | sed -n "/^${want//./\\.}\$/,\$p" | grep -vx "$want" | head -1)
  if [ -n "$v" ]; then v=$(echo "$list" | grep "^${v%.*}\." | tail -1); else v=$(echo "$list" | tail -1); fi
  warn "$mod $want is not served by the Go proxy; using $v instead"
  modinfo "$mod@$v" Dir >/dev/null || return 1
  echo "$v"; }

# Print `go mod edit -replace` args for the non-local replaces of a module's
# go.mod. (Local `=> ../x` replaces point into the repo, absent from zips.)
remote_replaces() { go mod edit -json "$1" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{
  for (const r of JSON.parse(s).Replace||[]) if (r.New.Version)
    console.log(`-replace=${r.Old.Path}${r.Old.Version?"@"+r.Old.Version:""}=${r.New.Path}@${r.New.Version}`)})'; }

# Stamps record which npm version a binary was built for, so warm runs skip
# all network/proxy work.
stamp_ok() { [ -x "$2" ] && [ "$(cat "$BIN/.$1.stamp" 2>/dev/null)" = "$3" ]; }
stamp()    { echo "$2" > "$BIN/.$1.stamp"; }

# build_wrapper NAME MOD VER PKG LDVAR OUT: `go install pkg@ver` refuses modules
# whose go.mod has replace directives, so generate a tiny main module that
# requires MOD as a tool, repeats its remote replaces, and builds PKG.
build_wrapper() { local name=$1 mod=$2 ver=$3 pkg=$4 ldvar=$5 out=$6 dir=$SRC/$1 gomod reps extra=()
  gomod=$(modinfo "$mod@$ver" GoMod) || die "cannot download $mod@$ver from the Go proxy"
  rm -rf "$dir"; mkdir -p "$dir"
  printf 'module tfk8s.local/%s\n\ngo 1.24\n' "$name" > "$dir/go.mod"
  mapfile -t reps < <(remote_replaces "$gomod")
  [ ${#reps[@]} -eq 0 ] || go -C "$dir" mod edit "${reps[@]}"
  # pkg/v3 replaces sdk/v3 with ../sdk, so pin the sdk at the same version.
  [ "$mod" = github.com/pulumi/pulumi/pkg/v3 ] && extra=(github.com/pulumi/pulumi/sdk/v3@"$ver")
  go -C "$dir" get -tool "$pkg@$ver" "${extra[@]}" >/dev/null 2>"$dir/get.log" \
    || { cat "$dir/get.log" >&2; die "go get $pkg@$ver failed"; }
  go -C "$dir" build -trimpath -ldflags "-s -w -X $ldvar=$ver" -o "$out" "$pkg" || die "building $pkg@$ver failed"; }

# ---------------------------------------------------------------- Pulumi CLI
SDK_VER=$(npm_version @pulumi/pulumi)
cli() {
  if stamp_ok pulumi "$BIN/pulumi" "$SDK_VER"; then log "pulumi CLI up to date ($("$BIN/pulumi" version))"; return; fi
  local v; v=$(pick_version github.com/pulumi/pulumi/pkg/v3 "v$SDK_VER") \
    || die "no github.com/pulumi/pulumi/pkg/v3 version is served by the Go proxy"
  build_wrapper pulumi-cli github.com/pulumi/pulumi/pkg/v3 "$v" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
    github.com/pulumi/pulumi/sdk/v3/go/common/version.Version "$BIN/pulumi"
  stamp pulumi "$SDK_VER"; log "built pulumi $("$BIN/pulumi" version)"; }

# ----------------------------------------------------- Node.js language host
# Its own module (sdk/nodejs/cmd/pulumi-language-nodejs/v3) may not be served;
# before it was split out (<= v3.68.0) it lived inside sdk/v3, which is.
langhost() {
  # Dynamic providers (pulumi.dynamic.Resource) need this plugin; the CLI
  # release ships it as a one-line script next to `pulumi`, so we write ours.
  printf '#!/bin/sh\n# serve dynamic providers with the program'"'"'s own @pulumi/pulumi\nexec node ./node_modules/@pulumi/pulumi/cmd/dynamic-provider "$@"\n' \
    > "$BIN/pulumi-resource-pulumi-nodejs"
  chmod +x "$BIN/pulumi-resource-pulumi-nodejs"
  if stamp_ok pulumi-language-nodejs "$BIN/pulumi-language-nodejs" "$SDK_VER"; then
    log "pulumi-language-nodejs up to date"; return; fi
  local mod=github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3 v
  if modinfo "$mod@v$SDK_VER" Dir >/dev/null; then
    build_wrapper pulumi-language-nodejs "$mod" "v$SDK_VER" "$mod" \
      github.com/pulumi/pulumi/sdk/v3/go/common/version.Version "$BIN/pulumi-language-nodejs"
  else
    v=${TFK8S_LANGHOST_FALLBACK:-v3.68.0}
    warn "$mod@v$SDK_VER is not served by the Go proxy; building the language host from sdk/v3@$v"
    build_wrapper pulumi-language-nodejs github.com/pulumi/pulumi/sdk/v3 "$v" \
      github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs \
      github.com/pulumi/pulumi/sdk/v3/go/common/version.Version "$BIN/pulumi-language-nodejs"
  fi
  stamp pulumi-language-nodejs "$SDK_VER"; }

# ------------------------------------------------------- resource providers
plugin_installed() { [ -d "$PULUMI_HOME/plugins/resource-$1-v$2" ] && [ ! -e "$PULUMI_HOME/plugins/resource-$1-v$2.partial" ]; }
install_plugin() { "$BIN/pulumi" plugin install resource "$1" "$2" --file "$3" --reinstall >/dev/null \
  || die "pulumi plugin install resource $1 $2 failed"; }

# kubernetes: cmd/pulumi-resource-kubernetes embeds schema-embed.json, which
# is generated (not in the module zip) by generate.go from schema.json, so we
# build from a writable copy of the module and run the generator there.
kubernetes() {
  local want; want=$(npm_version @pulumi/kubernetes)
  if [ "$(cat "$BIN/.kubernetes.stamp" 2>/dev/null)" = "$want" ] && plugin_installed kubernetes "$want"; then
    log "kubernetes provider $want up to date"; return; fi
  local mod=github.com/pulumi/pulumi-kubernetes/provider/v4 v dir label out
  if modinfo "$mod@v$want" Dir >/dev/null; then v=v$want; label=$want
  else
    v=$(modinfo "$mod@latest" Version) || die "no version of $mod is served by the Go proxy"
    # The SDK asks the engine for exactly $want and the engine can't download,
    # so the plugin is registered as $want; the +metadata keeps the binary's
    # own version string honest about which commit it was built from.
    label=$want+src.$v
    warn "$mod@v$want is not served by the Go proxy; building $v and registering it as kubernetes $want"
  fi
  dir=$SRC/pulumi-kubernetes out=$SRC/pulumi-kubernetes/pulumi-resource-kubernetes
  rm -rf "$dir"; cp -r "$(modinfo "$mod@$v" Dir)" "$dir"; chmod -R u+w "$dir"
  # drop replaces that point into the git repo (../sdk); the required sdk version is served
  for r in $(go -C "$dir" mod edit -json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{
      for (const x of JSON.parse(s).Replace||[]) if (!x.New.Version) console.log(x.Old.Path)})'); do
    go -C "$dir" mod edit -dropreplace="$r"; done
  # (hundreds of "go: downloading" lines on a cold run: keep them in a log)
  VERSION=$want go -C "$dir/cmd/pulumi-resource-kubernetes" run generate.go >"$SRC/kubernetes-build.log" 2>&1 \
    || { tail -30 "$SRC/kubernetes-build.log" >&2; die "kubernetes schema generator failed"; }
  go -C "$dir" build -trimpath -ldflags "-s -w -X $mod/pkg/version.Version=$label" -o "$out" ./cmd/pulumi-resource-kubernetes \
    >>"$SRC/kubernetes-build.log" 2>&1 || { tail -30 "$SRC/kubernetes-build.log" >&2; die "building $mod@$v failed"; }
  install_plugin kubernetes "$want" "$out"
  rm -rf "$dir"            # the plugin dir has its own copy (300 MB); Go caches keep rebuilds fast
  stamp kubernetes "$want"; }

# docker: github.com/pulumi/pulumi-docker/provider/v5 (module major follows
# the npm major) replaces its Terraform upstream with ../upstream, a git
# submodule that is never in a module zip, so it builds only if the proxy
# serves it AND that replace can be satisfied. We check and report; a missing
# docker provider is a warning unless TFK8S_REQUIRE_DOCKER_PROVIDER=1.
docker_provider() {
  local want; want=$(npm_version @pulumi/docker)
  if plugin_installed docker "$want"; then log "docker provider $want up to date"; return; fi
  local mod=github.com/pulumi/pulumi-docker/provider/v${want%%.*}
  if ! modinfo "$mod@v$want" Dir >/dev/null; then
    local msg="docker provider $want cannot be built: the Go proxy does not serve $mod@v$want (and its go.mod replaces terraform-provider-docker with ../upstream, a submodule absent from module zips)"
    [ "${TFK8S_REQUIRE_DOCKER_PROVIDER:-0}" = 1 ] && die "$msg"
    warn "$msg; skipping"; return; fi
  die "$mod@v$want is served now: extend docker_provider() in $0 to build it (like kubernetes())"; }

step "pulumi CLI" cli
step "pulumi-language-nodejs" langhost
step "kubernetes provider" kubernetes
step "docker provider" docker_provider

# Written aside and renamed into place: the lanes of scripts/real-stack-suites.sh each run this
# script and then source env.sh, and a rewrite in place can leave another lane sourcing a truncated
# file, its PATH without the tools (a cold CI run's integration lane failed so, "no pulumi CLI on
# PATH"; a loop sourcing the file while another rewrote it missed the PATH line 1165 times of 2000).
cat > "$TOOLS/env.sh.$$" <<EOF
# generated by scripts/install-pulumi.sh: source it to use the built Pulumi tools
export PATH="$BIN:\$PATH"
export PULUMI_HOME="$PULUMI_HOME"
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
EOF
mv "$TOOLS/env.sh.$$" "$TOOLS/env.sh"
log "pulumi $("$BIN/pulumi" version) ready; run: source $TOOLS/env.sh"
