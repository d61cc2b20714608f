#!/bin/sh
# Builds the calico/node image without any registry (make image).
#
# 1. The base: a Debian root filesystem made here with debootstrap (minbase + BIRD, iptables, ipset, iproute2,
#    runit, conntrack, ping, CA certificates) and loaded with `docker import` as $BASE_REPO:<key>. The key is a hash
#    of the suite and the package list, so the base is built once and reused until the list changes.
# 2. The image: image/Dockerfile FROM that base, adding static builds of this tree's binaries, the confd templates
#    and resources, the runit services and the entrypoint (runit/start_runit).
# It prints the image id and size. Needs root and a working `docker info`.
#
# Environment: IMAGE (calico/node:latest), BASE_REPO (calico-l3/node-base), DEBIAN_SUITE (bookworm),
# DEBIAN_MIRROR (http://deb.debian.org/debian), GO (go), LDFLAGS (extra -ldflags, e.g. the version).
set -eu

IMAGE="${IMAGE:-calico/node:latest}"
BASE_REPO="${BASE_REPO:-calico-l3/node-base}"
SUITE="${DEBIAN_SUITE:-bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
GO="${GO:-go}"
PACKAGES="bird iptables ipset iproute2 runit conntrack iputils-ping ca-certificates"
# Bump when the way the base is made changes, so cached bases built the old way are not reused.
BASE_RECIPE=1

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
began=$(date +%s)

say() { echo "make image: $*"; }
die() {
	echo "make image: $*" >&2
	exit 1
}

if ! out=$(docker info 2>&1); then
	die "docker is not usable here, so no image can be built (docker info failed: $(echo "$out" | tail -n 1))"
fi
[ "$(id -u)" = 0 ] || die "run as root: debootstrap builds the base as root"

key=$(printf '%s\n' "$SUITE" "$PACKAGES" "$BASE_RECIPE" | sha256sum | cut -c1-12)
base="$BASE_REPO:$SUITE-$key"

work=""
cleanup() {
	[ -n "$work" ] || return 0
	# debootstrap mounts /proc and /sys inside the new root; never delete through a mount.
	grep -o " $work/[^ ]*" /proc/mounts 2>/dev/null | sort -r | while read -r m; do umount -l "$m" || true; done
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if docker image inspect "$base" >/dev/null 2>&1; then
	say "reusing base $base"
else
	if ! command -v debootstrap >/dev/null 2>&1; then
		say "installing debootstrap"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
	fi
	say "building base $base: debootstrap $SUITE ($PACKAGES) from $MIRROR"
	t0=$(date +%s)
	work=$(mktemp -d /var/tmp/calico-l3-base.XXXXXX)
	rootfs="$work/rootfs"
	include=$(echo "$PACKAGES" | tr ' ' ',')
	if ! debootstrap --variant=minbase --include="$include" "$SUITE" "$rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1; then
		tail -n 30 "$work/debootstrap.log" >&2
		die "debootstrap failed (log above)"
	fi
	# What an image does not need: package lists and caches, documentation, manuals, translations.
	chroot "$rootfs" apt-get clean
	rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/log/*.log \
		"$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/*
	tar --numeric-owner -C "$rootfs" -c . | docker import \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--message "debootstrap --variant=minbase $SUITE + $PACKAGES" - "$base" >/dev/null
	say "base $base built in $(($(date +%s) - t0))s"
	cleanup
	work=""
fi

say "building the binaries (static)"
work=$(mktemp -d /var/tmp/calico-l3-image.XXXXXX)
ctx="$work/context"
mkdir -p "$ctx/bin" "$ctx/templates" "$ctx/conf.d" "$ctx/services"
(cd "$root" && CGO_ENABLED=0 "$GO" build -trimpath -ldflags "-s -w ${LDFLAGS:-}" -o "$ctx/bin/" ./cmd/...)
cp "$root"/templates/*.template "$ctx/templates/"
cp "$root"/conf.d/*.toml "$ctx/conf.d/"
for s in allocate-tunnel-addrs bird bird6 confd felix; do
	cp -R "$root/runit/$s" "$ctx/services/$s"
done
cp "$root/runit/start_runit" "$ctx/start_runit"
cp "$here/Dockerfile" "$ctx/Dockerfile"

say "building $IMAGE from $base"
# The classic builder works with every engine and resolves FROM from the local images only when present.
DOCKER_BUILDKIT=0 docker build -q --build-arg "BASE=$base" -t "$IMAGE" "$ctx" >/dev/null 2>"$work/build.err" || {
	cat "$work/build.err" >&2
	die "docker build failed"
}
id=$(docker image inspect -f '{{.Id}}' "$IMAGE")
size=$(docker image inspect -f '{{.Size}}' "$IMAGE")
say "built $IMAGE in $(($(date +%s) - began))s"
echo "image $IMAGE"
echo "id    $id"
echo "size  $((size / 1000000)) MB"
