#!/usr/bin/env bash
# Builds the native addon of @tensorflow/tfjs-node offline, against the TensorFlow shared libraries
# and C API headers that the tensorflow-cpu wheel from PyPI ships.
#
# Why: tfjs-node's install script downloads libtensorflow 2.9.1 (and then a prebuilt addon) from
# Google Cloud Storage. Behind a firewall both fail, npm drops the optional dependency, and training
# falls back to WASM. The wheel carries libtensorflow_cc.so.2 (which exports the TF_*/TFE_* C API),
# libtensorflow_framework.so.2 and tensorflow/c/*.h, so we stage those where binding.gyp looks
# (deps/include, deps/lib/libtensorflow*.so) and compile the addon ourselves with node-gyp, using the
# Node headers of the local Node install (npm_config_nodedir) instead of downloading them.
#
# Usage: scripts/build-tfjs-node.sh [PROJECT_DIR] [TF_DIR]
#   PROJECT_DIR  project with node_modules installed (npm ci); default: this script's repo.
#   TF_DIR       the wheel's package dir, .../site-packages/tensorflow; default: $TFJS_NODE_TF_DIR,
#                else where the python of $TFJS_NODE_PYTHON or PROJECT_DIR/.venv finds tensorflow.
#   FORCE=1      rebuild even when the addon already loads.
# Idempotent: a second run only re-checks. Touches nothing but node_modules (never package.json or
# the lockfile). The staged files are symlinks into TF_DIR, so keep that venv.
set -euo pipefail

die() { echo "build-tfjs-node: error: $*" >&2; exit 1; }
log() { echo "build-tfjs-node: $*" >&2; }

project=$(cd "${1:-$(dirname "${BASH_SOURCE[0]}")/..}" && pwd) || die "no project dir ${1:-}"
[[ -f $project/package.json ]] || die "$project has no package.json"
[[ -d $project/node_modules/@tensorflow/tfjs ]] || die "$project/node_modules is not installed: run npm ci first"
command -v g++ >/dev/null && command -v make >/dev/null || die "g++ and make are needed to compile the addon"
command -v python3 >/dev/null || die "python3 is needed by node-gyp"

# --- Where the wheel's TensorFlow is ----------------------------------------------------------
tf_dir=${2:-${TFJS_NODE_TF_DIR:-}}
if [[ -z $tf_dir ]]; then
    py=${TFJS_NODE_PYTHON:-$project/.venv/bin/python}
    [[ -x $py ]] || die "no TensorFlow given: pass TF_DIR, set TFJS_NODE_TF_DIR or TFJS_NODE_PYTHON, or create $project/.venv with tensorflow-cpu"
    # find_spec locates the package without importing it (an import takes seconds and logs).
    tf_dir=$("$py" -c 'import importlib.util as u; s = u.find_spec("tensorflow"); print(s.submodule_search_locations[0] if s else "")')
    [[ -n $tf_dir ]] || die "$py has no tensorflow package: pip install tensorflow-cpu"
fi
tf_dir=$(cd "$tf_dir" && pwd) || die "TF_DIR $tf_dir does not exist"
for f in libtensorflow_cc.so.2 libtensorflow_framework.so.2 include/tensorflow/c/c_api.h include/tensorflow/c/eager/c_api.h; do
    [[ -e $tf_dir/$f ]] || die "$tf_dir/$f is missing: TF_DIR must be the tensorflow package of a Linux tensorflow(-cpu) 2.x wheel"
done

# --- The tfjs-node package itself ---------------------------------------------------------------
pkg=$project/node_modules/@tensorflow/tfjs-node
if [[ ! -f $pkg/binding.gyp ]]; then
    # npm ci removed it after its install script failed offline (it is an optionalDependency).
    # Reinstall exactly the locked version with scripts off; --no-save leaves package.json and the
    # lockfile untouched.
    version=$(cd "$project" && node -p 'const p = require("./package.json"); (p.optionalDependencies || {})["@tensorflow/tfjs-node"] || (p.dependencies || {})["@tensorflow/tfjs-node"] || ""')
    [[ -n $version ]] || die "$project/package.json does not depend on @tensorflow/tfjs-node"
    log "installing @tensorflow/tfjs-node@$version without its install script"
    (cd "$project" && npm install --no-save --ignore-scripts --no-audit --no-fund "@tensorflow/tfjs-node@$version") >&2
    [[ -f $pkg/binding.gyp ]] || die "npm did not install @tensorflow/tfjs-node into $pkg"
fi
tfjs_node_version=$(node -p "require('$pkg/package.json').version")

# --- Stage libtensorflow where binding.gyp and scripts/install.js look ---------------------------
# binding.gyp: -Ideps/include, -Ldeps/lib -ltensorflow -ltensorflow_framework, rpath $ORIGIN/../../deps/lib.
# install.js skips its download when deps/lib/libtensorflow.so.<LIBTENSORFLOW_VERSION> exists, so an
# `npm rebuild` of the package also works offline afterwards. The linker records the sonames
# (libtensorflow_cc.so.2, libtensorflow_framework.so.2), so those names must resolve at run time too.
lib=$pkg/deps/lib
staged_from=$(readlink "$lib/libtensorflow_cc.so.2" 2>/dev/null || true)
mkdir -p "$lib"
ln -sfn "$tf_dir/include" "$pkg/deps/include"
ln -sf "$tf_dir/libtensorflow_cc.so.2" "$lib/libtensorflow_cc.so.2"
ln -sf "$tf_dir/libtensorflow_framework.so.2" "$lib/libtensorflow_framework.so.2"
ln -sf libtensorflow_framework.so.2 "$lib/libtensorflow_framework.so"
ln -sf libtensorflow_cc.so.2 "$lib/libtensorflow.so"
ln -sf libtensorflow_cc.so.2 "$lib/libtensorflow.so.2"
libtf_version=$(node -p "require('$pkg/scripts/deps-constants.js').LIBTENSORFLOW_VERSION" 2>/dev/null) || libtf_version=2.9.1
ln -sf libtensorflow_cc.so.2 "$lib/libtensorflow.so.$libtf_version"
ln -sf libtensorflow_framework.so.2 "$lib/libtensorflow_framework.so.$libtf_version"

# Loads the addon with every symbol bound up front (LD_BIND_NOW), so a C API function missing
# from the wheel fails here, naming the symbol, rather than at its first call during training.
# Prints one line on success; on failure the error is in $smoke_log. It loads the package as the
# project does (model/tfjsNode.ts, which supplies what Node 23 and later removed from util).
smoke_log=$(mktemp)
trap 'rm -f "$smoke_log"' EXIT
smoke_test() {
    (cd "$project" && LD_BIND_NOW=1 TF_CPP_MIN_LOG_LEVEL=2 node --require tsx/cjs -e '
        const tf = require("./model/tfjsNode").loadTfjsNode();
        const y = tf.tensor2d([[1, 2], [3, 4]]).matMul(tf.tensor2d([[5, 6], [7, 8]])).arraySync();
        if (JSON.stringify(y) !== "[[19,22],[43,50]]") throw new Error("matMul gave " + JSON.stringify(y));
        console.log(`tfjs-node ${tf.version["tfjs-node"]} runs on libtensorflow ${tf.backend().binding.TF_Version} from '"$tf_dir"'`);
    ' 2>"$smoke_log")
}

if [[ ${FORCE:-0} != 1 && $staged_from == "$tf_dir/libtensorflow_cc.so.2" ]] \
    && compgen -G "$pkg/lib/napi-v*/tfjs_binding.node" >/dev/null && smoke_test; then
    log "already built (FORCE=1 rebuilds)"
    exit 0
fi

# --- A build from an earlier clone ---------------------------------------------------------------
# The addon depends only on the tfjs-node version, Node's ABI and the libtensorflow it links, so a
# build is kept in the tools cache under those and copied into a fresh node_modules (25 s of
# compiling per clone in CI otherwise); it is used only when it passes the same smoke test.
tf_real=$(readlink -f "$tf_dir")
addon_key=$(printf '%s\n' "$tfjs_node_version" "$(node -p 'process.versions.node + " napi " + process.versions.napi')" "$tf_real" | sha256sum | cut -c1-16)
addon_cache=${TFK8S_TOOLS_DIR:-$HOME/.cache/tfk8s-tools}/tfjs-node-addon/$addon_key
if [[ ${FORCE:-0} != 1 && -d $addon_cache/lib ]]; then
    cp -R "$addon_cache/lib/." "$pkg/lib/"
    if smoke_test; then
        log "addon copied from the tools cache ($addon_cache)"
        exit 0
    fi
    log "the cached addon in $addon_cache does not load; compiling"
fi

# --- Compile -------------------------------------------------------------------------------------
# What install.js runs after its download, minus the attempt to fetch a prebuilt addon. node-gyp
# takes the Node headers from the local install instead of downloading them from nodejs.org.
nodedir=$(cd "$(dirname "$(readlink -f "$(command -v node)")")/.." && pwd)
[[ -f $nodedir/include/node/node_api.h ]] || die "no Node headers at $nodedir/include/node (needed offline by node-gyp)"
pre_gyp=$(node -p "require.resolve('@mapbox/node-pre-gyp/bin/node-pre-gyp', {paths: ['$pkg']})" 2>/dev/null) \
    || die "@mapbox/node-pre-gyp (a dependency of tfjs-node) is not installed"
log "compiling tfjs-node $tfjs_node_version against $tf_dir (node headers: $nodedir/include/node)"
(cd "$pkg" && npm_config_nodedir=$nodedir JOBS=${JOBS:-2} node "$pre_gyp" install --build-from-source) >&2 \
    || die "compiling the tfjs-node addon failed (see the compiler output above)"

smoke_test || {
    grep -v '^I0000\|^WARNING: All log messages\|^    at ' "$smoke_log" >&2
    die "the addon built but does not load or run with the TensorFlow in $tf_dir (C API or ABI mismatch, see above)"
}
# Kept for the next clone: copied to a temporary name and renamed, so no half-copied entry exists.
mkdir -p "$(dirname "$addon_cache")"
tmp=$(mktemp -d "$addon_cache.tmp-XXXXXX")
mkdir "$tmp/lib" && cp -R "$pkg"/lib/napi-v* "$tmp/lib/"
rm -rf "$addon_cache" && mv "$tmp" "$addon_cache"
