#!/bin/sh
# Prepare the QEMU kernel lab on Debian 12: host tools plus two unpacked
# kernels (6.12 backport and 6.1) under lab/cache/. Run as root; idempotent.
# Everything comes from Debian's archive through apt.
set -eu

LAB=$(cd "$(dirname "$0")" && pwd)
CACHE="$LAB/cache"
mkdir -p "$CACHE/debs" "$CACHE/kernels"

if [ "$(id -u)" != 0 ]; then
    echo "setup.sh: run as root (apt-get install)" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends \
    qemu-system-x86 busybox-static musl-tools cpio kmod zstd xz-utils \
    gcc make libc6-dev liblz4-dev libzstd-dev liblzo2-dev

# Newest package whose name matches a pattern, by Debian version order.
newest() {
    apt-cache search --names-only "$1" | awk '{print $1}' | while read -r pkg; do
        ver=$(apt-cache policy "$pkg" | awk '/Candidate:/ {print $2}')
        [ -n "$ver" ] && [ "$ver" != "(none)" ] && echo "$ver $pkg"
    done | sort -V | tail -n 1 | awk '{print $2}'
}

fetch_kernel() {
    series=$1 pattern=$2
    pkg=$(newest "$pattern")
    if [ -z "$pkg" ]; then
        echo "setup.sh: no package matches $pattern" >&2
        exit 1
    fi
    dest="$CACHE/kernels/$pkg"
    if [ ! -f "$dest/.unpacked" ]; then
        (cd "$CACHE/debs" && apt-get download "$pkg")
        deb=$(ls -t "$CACHE/debs/${pkg}"_*.deb | head -n 1)
        rm -rf "$dest"
        mkdir -p "$dest"
        dpkg-deb -x "$deb" "$dest"
        rel=$(ls "$dest/lib/modules")
        depmod -b "$dest" "$rel"
        touch "$dest/.unpacked"
    fi
    # The lab finds each series through this link.
    ln -sfn "kernels/$pkg" "$CACHE/linux-$series"
    echo "kernel $series: $pkg"
}

fetch_kernel 6.12 '^linux-image-6\.12\..*\+deb12-amd64-unsigned$'
fetch_kernel 6.1 '^linux-image-6\.1\.0-[0-9]*-amd64-unsigned$'

# The guest workload: a static musl binary.
make -C "$LAB/workload" BUILD="$LAB/build"
echo "lab ready: $CACHE"
