#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Install the Debian 12 packages kmodimg needs, and only those missing.
#
#   scripts/install-deps.sh [build|test|all]     (default: build)
#
#   build  compiler, meson, libraries; make, jq + linux-headers for the demo
#   test   build + kmod, compressors, clang/lld (fuzz), valgrind, hyperfine,
#          qemu-system-x86 + busybox-static + cpio (real-kernel tests)...
#   all    same as test
#
# Idempotent: each package's dpkg status is checked first (dpkg-query, like
# dpkg -s but a removed package with leftover config counts as missing);
# apt-get update + install run only when something is missing, and only
# then is root needed.

set -euo pipefail

prog=${0##*/}

die() {
	echo "$prog: $*" >&2
	exit 1
}

usage() {
	echo "usage: $prog [build|test|all]" >&2
	exit 2
}

# The ABI of Debian's current kernel (e.g. 6.1.0-56-amd64), taken from the
# linux-image-amd64 metapackage so headers and image always match.
current_kver() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/.*Depends: linux-image-\(.*\)/\1/p' | head -1
}

build_pkgs=(gcc meson ninja-build pkg-config liblzma-dev libzstd-dev zlib1g-dev libcurl4-openssl-dev libjansson-dev libssl-dev libarchive-dev libdeflate-dev libyaml-dev libpcre2-dev libkmod-dev make jq)
# qemu-system-x86 boots Debian's kernel for the real-kernel tests
# (tests/lib/qemu.sh); it depends on seabios and ipxe-qemu (its firmware
# ROMs), which come along even with --no-install-recommends. The kernel
# image itself is not installed: the tests `apt-get download` it.
test_pkgs=(kmod xz-utils zstd gzip python3 clang lld libclang-rt-14-dev cpio valgrind hyperfine time docker-registry apache2-utils skopeo umoci openssl curl busybox-static qemu-system-x86 buildah uidmap debootstrap
	golang-docker-credential-helpers pass gnupg
	yq python3-kubernetes golang-go)

is_installed() {
	[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null)" = "ii " ]
}

updated=0
apt_update() {
	[ $updated -eq 0 ] || return 0
	echo "$prog: apt-get update"
	apt-get update -q >/dev/null || die "apt-get update failed"
	updated=1
}

# Sets kver and missing[] from want[].
find_missing() {
	kver=${KVER:-$(current_kver)}
	if [ -z "$kver" ] && [ "$(id -u)" -eq 0 ]; then
		# Fresh machine: the package lists may be empty until the first update.
		apt_update
		kver=$(current_kver)
	fi
	[ -n "$kver" ] ||
		die "cannot resolve the kernel ABI from linux-image-amd64 (run apt-get update as root, or set KVER)"

	missing=()
	local p
	for p in "${want[@]}" "linux-headers-$kver"; do
		is_installed "$p" || missing+=("$p")
	done
}

main() {
	local what=${1:-build}
	[ $# -le 1 ] || usage

	case $what in
	build) want=("${build_pkgs[@]}") ;;
	test | all) want=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
	-h | --help)
		sed -n '3,16s/^# \{0,1\}//p' "$0"
		exit 0
		;;
	*) usage ;;
	esac

	if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
		die "needs a Debian system (dpkg-query and apt-get not found)"
	fi

	find_missing
	if [ ${#missing[@]} -eq 0 ]; then
		echo "$prog: nothing to install for '$what' (kernel headers: $kver)"
		return 0
	fi

	[ "$(id -u)" -eq 0 ] ||
		die "not root; missing packages: ${missing[*]} (run as root, or: apt-get install ${missing[*]})"

	export DEBIAN_FRONTEND=noninteractive
	if [ $updated -eq 0 ]; then
		# Fresh lists may name a newer kernel ABI: resolve again after the update.
		apt_update
		find_missing
		if [ ${#missing[@]} -eq 0 ]; then
			echo "$prog: nothing to install for '$what' (kernel headers: $kver)"
			return 0
		fi
	fi
	echo "$prog: installing: ${missing[*]}"
	apt-get install -y -q --no-install-recommends "${missing[@]}" ||
		die "apt-get install failed for: ${missing[*]}"

	local p
	for p in "${missing[@]}"; do
		is_installed "$p" || die "package $p still not installed"
	done
	echo "$prog: done (kernel headers: $kver)"
}

kver=
want=()
missing=()
main "$@"
