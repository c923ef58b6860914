#!/usr/bin/env bash
# Builds tfk8s/tensorflow-serving-standin:<TF version>, a local stand-in for the tensorflow/serving
# base image, and prints its reference on stdout (logs go to stderr).
#
# Why: Docker Hub is unreachable here, so tensorflow/serving cannot be pulled, yet the serving
# image our program generates (components/servingImage.ts) must run, pass its probes and predict.
# The stand-in keeps the real image's contract: ENTRYPOINT /usr/bin/tf_serving_entrypoint.sh, which
# runs `tensorflow_model_server --port=8500 --rest_api_port=8501 --model_name=$MODEL_NAME
# --model_base_path=$MODEL_BASE_PATH/$MODEL_NAME "$@"`, ENV MODEL_NAME=model MODEL_BASE_PATH=/models,
# EXPOSE 8500 8501. Its tensorflow_model_server is the stand-in server in serving-standin/ (the
# `standin` package): TF Serving's REST API over real TensorFlow, and no gRPC, since the image has
# no tensorflow-serving-api; serving-standin/README.md says what is implemented and what is not. It
# runs as any UID on a read-only root filesystem with only /tmp writable.
# Root filesystem: Debian bookworm from debootstrap (minbase, plus python3), and tensorflow-cpu with
# its dependencies installed from PyPI by pip on this host (nothing downloads inside the chroot).
#
# Usage: scripts/build-serving-standin.sh
#   Runs as root (debootstrap, chroot) with a docker CLI that reaches an engine, e.g. after
#   `bash scripts/docker-up.sh && source /tmp/tfk8s-docker/env.sh`. A cold build needs
#   deb.debian.org and PyPI (or DEBIAN_MIRROR and pip's own configuration).
# Environment: TF_VERSION (default 2.21.0, as scripts/tf-venv.sh), PYTHON (a Python with pip that
#   runs pip here; default python3), DEBIAN_MIRROR (default http://deb.debian.org/debian),
#   TFK8S_TOOLS_DIR (cache root; default ~/.cache/tfk8s-tools), FORCE=1 (rebuild everything).
#
# Idempotent and cached at two levels:
#   $TFK8S_TOOLS_DIR/serving-standin/rootfs-<key>.tar  Debian + python3 + TensorFlow, the slow
#       part (minutes), keyed by TF version, Debian suite, architecture and the code of the
#       functions below that make it (`declare -f`, so comments and the image steps do not count);
#   the docker image, labelled org.tfk8s.serving-standin.key with that key plus the image steps and
#       the names and contents of the server's files as the image gets them (`server_files`, the
#       wrapper and the entrypoint; their modes are set by the steps, so a checkout's umask does
#       not count, nor do serving-standin/README.md or __pycache__): a warm run only compares the
#       label (well under a second); a changed server re-imports the cached rootfs with the new
#       files (a minute or two on a vfs engine, which copies the whole rootfs per container).
# Every artifact is written under a temporary name and then renamed, and the image is tagged only
# after TensorFlow imported in it as UID 10001 on a read-only root, so a killed or failed build
# leaves nothing half made; a lock serializes concurrent builds.
set -euo pipefail

TF_VERSION=${TF_VERSION:-2.21.0}
PYTHON=${PYTHON:-python3}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm   # Debian 12: Python 3.11, inside tensorflow-cpu 2.21's 3.10-3.13
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SRC=$ROOT/serving-standin
LIB=/usr/lib/tfk8s-serving-standin   # the server in the image; serving-standin/tensorflow_model_server runs it
SCRIPTS=(tensorflow_model_server tf_serving_entrypoint.sh)   # to /usr/bin
CACHE=${TFK8S_TOOLS_DIR:-$HOME/.cache/tfk8s-tools}/serving-standin
IMAGE=tfk8s/tensorflow-serving-standin:$TF_VERSION
KEY_LABEL=org.tfk8s.serving-standin.key
IMPORT_MESSAGE="tfk8s stand-in for tensorflow/serving (scripts/build-serving-standin.sh)"
SERVING_UID=10001   # components/servingImage.ts SERVING_UID: the build checks the image as it runs

die() { echo "build-serving-standin: error: $*" >&2; exit 1; }
log() { echo "build-serving-standin: $*" >&2; }
# shellcheck source=lib/progress.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/progress.sh"

# debootstrap mounts /proc and /sys in its target: unmount anything below a scratch directory
# before deleting it, and never let rm cross into a mount.
remove_scratch() {
    local dir=$1 mnt
    [[ -d $dir ]] || return 0
    for mnt in $(awk -v d="$dir/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
        umount -l "$mnt" 2>/dev/null || true
    done
    rm -rf --one-file-system "$dir"
}

# --- Level 1: the root filesystem, $rootfs_tar --------------------------------------------------
build_rootfs() {
    rootfs=$work/rootfs
    log "building the root filesystem: Debian $SUITE ($deb_arch) + python3 + tensorflow-cpu $TF_VERSION"
    step "debootstrap $SUITE" debootstrap_rootfs
    pyver=$(chroot "$rootfs" /usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    glibc=$(chroot "$rootfs" /usr/bin/ldd --version | sed -n '1s/.* \([0-9][0-9]*\.[0-9][0-9]*\)$/\1/p')
    [[ -n $glibc ]] || die "cannot tell the chroot's glibc version"
    site=/usr/local/lib/python$pyver/dist-packages   # on Debian's sys.path, outside dpkg's files
    step "pip tensorflow-cpu (py$pyver)" install_tensorflow
    step "strip" strip_rootfs
    step "compile bytecode" compile_bytecode
    step "tar rootfs" write_rootfs_tar
    log "rootfs: $rootfs_tar ($(du -h "$rootfs_tar" | cut -f1))"
    remove_scratch "$rootfs"
}

debootstrap_rootfs() {
    if ! command -v debootstrap >/dev/null; then
        log "installing debootstrap"
        apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2 \
            || die "apt-get install debootstrap failed"
    fi
    mkdir -p "$CACHE/debs"   # the .debs, kept for the next rootfs build
    if ! debootstrap --variant=minbase --arch="$deb_arch" --include=python3 --cache-dir="$CACHE/debs" \
        "$SUITE" "$rootfs" "$DEBIAN_MIRROR" >&2; then
        tail -20 "$rootfs/debootstrap/debootstrap.log" >&2 2>/dev/null || true
        die "debootstrap $SUITE from $DEBIAN_MIRROR failed"
    fi
}

# pip runs on the host for the chroot's Python (version, ABI and glibc from bookworm), so nothing
# is downloaded inside the chroot (pip keeps its cache in $CACHE/pip-cache). pip does not
# widen a given manylinux_2_N platform to older glibcs, so every one the chroot's glibc runs is
# listed (manylinux2014 and the like are the old names of 2_17, 2_12 and 2_5).
install_tensorflow() {
    local platforms=() minor legacy
    "$PYTHON" -m pip --version >/dev/null 2>&1 || die "$PYTHON has no pip; set PYTHON to a Python with pip"
    for ((minor = ${glibc#*.}; minor >= 5; minor--)); do
        platforms+=(--platform "manylinux_2_${minor}_$wheel_arch")
    done
    for legacy in manylinux2014 manylinux2010 manylinux1; do platforms+=(--platform "${legacy}_$wheel_arch"); done
    PIP_CACHE_DIR=$CACHE/pip-cache "$PYTHON" -m pip install --quiet --disable-pip-version-check --no-input \
        --root-user-action=ignore --target "$rootfs$site" \
        --python-version "$pyver" --implementation cp --abi "cp${pyver/./}" "${platforms[@]}" \
        --only-binary=:all: --no-compile "tensorflow-cpu==$TF_VERSION" >&2 \
        || die "pip install tensorflow-cpu==$TF_VERSION failed"
}

# Not needed to serve: Debian's docs (copyright files stay), package lists and caches, logs;
# TensorFlow's C++ headers (for building against it), libclang (TensorFlow's build tooling, never
# imported at run time), pip's console scripts (their #! names this host's Python) and the static
# symbol tables of TensorFlow's shared libraries (about 200 MB; loading uses the dynamic ones).
strip_rootfs() {
    find "$rootfs/usr/share/doc" -type f ! -name copyright -delete
    find "$rootfs/usr/share/doc" -type l -delete
    rm -rf "$rootfs"/usr/share/{man,info,locale,lintian}/* "$rootfs"/var/cache/apt/* \
        "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/* "$rootfs"/var/cache/debconf/*-old \
        "$rootfs"/var/lib/dpkg/*-old "$rootfs"/tmp/*
    rm -rf "$rootfs$site"/tensorflow/include "$rootfs$site"/clang "$rootfs$site"/libclang-*.dist-info \
        "$rootfs$site"/bin
    if command -v strip >/dev/null; then
        find "$rootfs$site/tensorflow" -type f -name '*.so*' -exec strip --strip-unneeded {} +
    else
        log "no strip on this host (binutils): TensorFlow's libraries keep their symbol tables"
    fi
}

# Bytecode made now by the image's own Python: the root filesystem is read-only at run time, so
# without it every start would compile TensorFlow's Python again.
compile_bytecode() {
    chroot "$rootfs" /usr/bin/python3 -m compileall -q -j 0 "$site" >/dev/null 2>&1 \
        || chroot "$rootfs" /usr/bin/python3 -m compileall -q "$site" >/dev/null \
        || die "compileall in the chroot failed"
}

write_rootfs_tar() {
    mkdir -p "$rootfs/models"
    tar --numeric-owner -C "$rootfs" -cf "$rootfs_tar.tmp" . || die "tar of the rootfs failed"
    mv "$rootfs_tar.tmp" "$rootfs_tar"
    find "$CACHE" -maxdepth 1 -name 'rootfs-*.tar' ! -name "rootfs-$rootfs_key.tar" -delete
}

# --- Level 2: the image: rootfs + the server, imported, checked, then tagged ---------------------
build_image() {
    remove_untagged
    step "add the server" add_server
    step "docker import" import_image
    step "check the image" check_image
    local previous size
    previous=$(docker image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
    docker tag "$image_id" "$IMAGE"
    if [[ -n $previous && $previous != "$image_id" ]]; then
        # Untagged now; images built on it keep it, so a failure here is expected and harmless.
        docker image rm "$previous" >/dev/null 2>&1 || true
    fi
    size=$(docker image inspect --format '{{.Size}}' "$IMAGE" | awk '{ printf "%.0f MB", $1 / 1e6 }')
    log "$IMAGE: $image_id, $size (key $image_key)"
}

# Imported but never tagged: a build killed between `docker import` and `docker tag`. Images built
# FROM the stand-in inherit its labels, so only single-layer images with our import message count.
remove_untagged() {
    local id
    for id in $(docker images --quiet --no-trunc --filter dangling=true --filter "label=$KEY_LABEL"); do
        [[ $(docker image inspect --format '{{len .RootFS.Layers}} {{.Comment}}' "$id") == "1 $IMPORT_MESSAGE" ]] \
            || continue
        log "removing untagged image $id, left by a build that did not finish"
        docker image rm "$id" >/dev/null 2>&1 || true
    done
}

# The server as Python runs it: serving-standin/__main__.py and every module of the `standin`
# package beside it, as paths relative to serving-standin/ in a stable order.
server_files() {
    (cd "$SRC" && find __main__.py standin -type f -name '*.py' | LC_ALL=C sort)
}

add_server() {
    local stage=$work/stage f
    for f in "${server_files[@]}"; do
        install -D -m 0644 "$SRC/$f" "$stage$LIB/$f"
    done
    for f in "${SCRIPTS[@]}"; do
        install -D -m 0755 "$SRC/$f" "$stage/usr/bin/$f"
    done
    cp "$rootfs_tar" "$work/image.tar"
    tar --numeric-owner --owner=0 --group=0 -C "$stage" -rf "$work/image.tar" ".$LIB" "${SCRIPTS[@]/#/./usr/bin/}"
}

import_image() {
    local about="NOT TensorFlow Serving: a tfk8s stand-in for the tensorflow/serving base image, serving TF"
    about+=" Serving's REST API (no gRPC) with tensorflow-cpu $TF_VERSION in Python; built by"
    about+=" scripts/build-serving-standin.sh"
    image_id=$(docker import \
        --change 'ENTRYPOINT ["/usr/bin/tf_serving_entrypoint.sh"]' \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'ENV MODEL_BASE_PATH=/models' \
        --change 'ENV MODEL_NAME=model' \
        --change 'EXPOSE 8500' \
        --change 'EXPOSE 8501' \
        --change "LABEL org.opencontainers.image.title=\"tfk8s stand-in for tensorflow/serving\"" \
        --change "LABEL org.opencontainers.image.description=\"$about\"" \
        --change "LABEL org.tfk8s.serving-standin.tensorflow=$TF_VERSION" \
        --change "LABEL $KEY_LABEL=$image_key" \
        --message "$IMPORT_MESSAGE" \
        "$work/image.tar") || die "docker import failed"
}

# As the pod runs it: another UID, read-only root, only /tmp writable, no capabilities, no network.
check_image() {
    local got
    got=$(docker run --rm --read-only --tmpfs /tmp --user "$SERVING_UID:$SERVING_UID" --cap-drop ALL \
        --network none --env TF_CPP_MIN_LOG_LEVEL=3 --entrypoint /bin/sh "$image_id" -c \
        'tensorflow_model_server --version && exec python3 -s -B -c "import tensorflow as tf; print(tf.__version__)"' \
        2>&1) || true
    log "check: $(echo "$got" | tr '\n' ' ')"
    if [[ $(echo "$got" | tail -1) != "$TF_VERSION" ]]; then
        docker image rm "$image_id" >/dev/null 2>&1 || true
        die "TensorFlow does not import in the new image (removed): $got"
    fi
}

image_key_of() { docker image inspect --format "{{ index .Config.Labels \"$KEY_LABEL\" }}" "$1" 2>/dev/null || true; }

# --- Main --------------------------------------------------------------------------------------
[[ $(id -u) == 0 ]] || die "must run as root (debootstrap and chroot need it)"
command -v docker >/dev/null || die "no docker CLI on PATH"
docker version --format '{{.Server.Version}}' >/dev/null 2>&1 || die "docker reaches no engine" \
    "(DOCKER_HOST=${DOCKER_HOST:-unset}); run: bash scripts/docker-up.sh && source /tmp/tfk8s-docker/env.sh"
mapfile -t server_files < <(server_files)
for f in __main__.py standin/main.py "${SCRIPTS[@]}"; do
    [[ -f $SRC/$f ]] || die "$SRC/$f is missing"
done
deb_arch=$(dpkg --print-architecture)
case $deb_arch in
    amd64) wheel_arch=x86_64 ;;
    arm64) wheel_arch=aarch64 ;;
    *) die "architecture $deb_arch: tensorflow-cpu wheels exist for amd64 and arm64 only" ;;
esac

rootfs_key=$( {
    echo "$TF_VERSION $SUITE $deb_arch"
    declare -f build_rootfs debootstrap_rootfs install_tensorflow strip_rootfs compile_bytecode write_rootfs_tar
} | sha256sum | cut -c1-16)
image_key=$( {
    echo "$rootfs_key $LIB $IMPORT_MESSAGE"
    declare -f build_image server_files add_server import_image check_image
    cd "$SRC" && sha256sum "${server_files[@]}" "${SCRIPTS[@]}"
} | sha256sum | cut -c1-16)
rootfs_tar=$CACHE/rootfs-$rootfs_key.tar

mkdir -p "$CACHE"
exec 9>"$CACHE/lock"
flock 9 || die "cannot lock $CACHE/lock"

if [[ ${FORCE:-0} != 1 && $(image_key_of "$IMAGE") == "$image_key" ]]; then
    log "$IMAGE is up to date (key $image_key)"
    echo "$IMAGE"
    exit 0
fi

# What a killed run left behind goes first (holding the lock, no live build owns it).
for stale in "$CACHE"/tmp.*; do
    [[ -e $stale ]] || continue
    log "removing $stale, left by a build that did not finish"
    remove_scratch "$stale"
done
work=$(mktemp -d "$CACHE/tmp.XXXXXX")
trap 'remove_scratch "$work"' EXIT

if [[ ${FORCE:-0} == 1 || ! -s $rootfs_tar ]]; then
    build_rootfs
else
    log "using cached $rootfs_tar"
fi
build_image
echo "$IMAGE"
