#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# kmodimg demo, runnable as root on a fresh Debian 12 from any directory:
#
#   1. install missing build packages (scripts/install-deps.sh build)
#   2. configure and build kmodimg (build/, meson release) with ninja
#   3. build examples/ (kmodimg_a.ko, kmodimg_b.ko) against the headers of
#      Debian's current kernel ABI, in a temporary directory
#   4. `kmodimg build` a KMM kmod image of the two modules into the local
#      store, as kmodimg-demo/examples:$KVER, and print its digest
#   5. show it: `kmodimg images`, and the kernels and modules that
#      `kmodimg inspect` finds in it
#   6. `kmodimg copy` it to an OCI layout, read modules.dep out of its layer
#      and check it; compare the image's index files with what kmod's depmod
#      writes for the same modules, if kmod 30 is installed
#   7. build it again with other file times and argument order: same digest
#   8. `kmodimg verify` it against the kernel's Module.symvers (vermagic,
#      symbol CRCs, dependencies), and print the insmod sequence a node
#      would run (`kmodimg load --dry-run`: nothing is loaded)
#
# The image stays in the local store: /var/lib/kmodimg/store for root,
# $KMODIMG_STORE if set.  Remove it with
#   build/kmodimg rmi kmodimg-demo/examples:$KVER
#
# Environment:
#   KVER     kernel ABI to build against (default: the one linux-image-amd64
#            depends on, e.g. 6.1.0-56-amd64)
#   KMODIMG  use this kmodimg binary instead of building one (skips step 2)
#
# Exits non-zero on any failure; the temporary directory is always removed.

set -euo pipefail

prog=${0##*/}
repo=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
tmp=
kver=
kmodimg=
image=
digest=

die() {
	echo "$prog: error: $*" >&2
	exit 1
}

step() {
	printf '\n==> %s\n' "$*"
}

cleanup() {
	[ -z "$tmp" ] || rm -rf "$tmp"
}

resolve_kver() {
	kver=${KVER:-$(apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/.*Depends: linux-image-\(.*\)/\1/p' | head -1)}
	[ -n "$kver" ] || die "cannot resolve the kernel ABI from linux-image-amd64 (set KVER)"
	image=kmodimg-demo/examples:$kver
}

# Where kmodimg keeps the store (see kmodimg(1)), for the messages only.
store_dir() {
	if [ -n "${KMODIMG_STORE:-}" ]; then
		echo "$KMODIMG_STORE"
	elif [ "$(id -u)" -eq 0 ]; then
		echo /var/lib/kmodimg/store
	elif [[ ${XDG_DATA_HOME:-} == /* ]]; then
		echo "$XDG_DATA_HOME/kmodimg/store"
	else
		echo "$HOME/.local/share/kmodimg/store"
	fi
}

install_deps() {
	step "Checking build dependencies"
	"$repo/scripts/install-deps.sh" build
	command -v jq >/dev/null || die "jq is missing (scripts/install-deps.sh build installs it)"
}

build_kmodimg() {
	if [ -n "${KMODIMG:-}" ]; then
		kmodimg=$KMODIMG
		step "Using KMODIMG=$kmodimg (not building)"
	else
		step "Building kmodimg"
		if [ ! -f "$repo/build/build.ninja" ]; then
			(cd "$repo" && meson setup build -Dbuildtype=release)
		fi
		ninja -C "$repo/build"
		kmodimg=$repo/build/kmodimg
	fi
	[ -x "$kmodimg" ] || die "$kmodimg: not an executable"
}

build_examples() {
	local src=$tmp/src kdir=/usr/src/linux-headers-$kver

	step "Building examples/ against linux-headers-$kver"
	[ -d "$kdir" ] || die "$kdir missing (apt-get install linux-headers-$kver)"
	mkdir -p "$src"
	cp "$repo"/examples/Kbuild "$repo"/examples/Makefile \
		"$repo"/examples/*.c "$repo"/examples/*.h "$src"/
	if ! make -C "$src" KVER="$kver" >"$tmp/make.log" 2>&1; then
		cat "$tmp/make.log" >&2
		die "building the example modules failed"
	fi
	# kbuild prints "Skipping BTF generation" for out-of-tree modules
	# without vmlinux; anything else that looks like a warning is shown.
	grep -iE 'warning|error' "$tmp/make.log" >&2 || true
	ls "$src"/kmodimg_a.ko "$src"/kmodimg_b.ko
}

build_image() {
	step "kmodimg build --kernel $kver -t $image kmodimg_a.ko kmodimg_b.ko"
	# The digest goes to stdout; notes and the summary line to stderr.
	digest=$("$kmodimg" build --kernel "$kver" -t "$image" \
		"$tmp/src/kmodimg_a.ko" "$tmp/src/kmodimg_b.ko") ||
		die "kmodimg build failed"
	[[ $digest == sha256:* ]] || die "kmodimg build printed no digest: $digest"
	echo
	echo "digest: $digest"
	echo "store:  $(store_dir)"
}

show_image() {
	local json=$tmp/inspect.json

	step "kmodimg images"
	"$kmodimg" images

	step "kmodimg inspect $image (summary)"
	"$kmodimg" inspect "$image" >"$json" || die "kmodimg inspect failed"
	jq -r '
		"digest:      \(.digest)",
		(.layers[] | "layer:       \(.mediaType) (\(.size) bytes)"),
		(.annotations | to_entries[] | "annotation:  \(.key)=\(.value)"),
		(.kernels | to_entries[] | "modules:     \(.key): \(.value | join(" "))")
	' "$json"

	[ "$(jq -r .digest "$json")" = "$digest" ] ||
		die "kmodimg inspect shows another digest than kmodimg build printed"
	jq -e --arg k "$kver" '.kernels[$k] | sort == ["kmodimg_a.ko", "kmodimg_b.ko"]' \
		"$json" >/dev/null || die "kmodimg inspect does not list both modules under $kver"
}

# kmodimg copy to an OCI layout, whose blobs are plain files, and untar
# the (single, gzip) modules layer into $tmp/rootfs.
extract_image() {
	local copied layer

	step "kmodimg copy $image oci:$tmp/oci:demo, and unpack its layer"
	copied=$("$kmodimg" copy "$image" "oci:$tmp/oci:demo") || die "kmodimg copy failed"
	[ "$copied" = "$digest" ] || die "kmodimg copy printed $copied, not $digest"
	layer=$(jq -r '.layers[-1].digest' "$tmp/inspect.json")
	mkdir -p "$tmp/rootfs"
	tar -xzf "$tmp/oci/blobs/sha256/${layer#sha256:}" -C "$tmp/rootfs" ||
		die "cannot unpack layer $layer"
	(cd "$tmp/rootfs" && find . -mindepth 1 -printf '%M %8s  %P\n' | sort -k3)
}

show_result() {
	local moddir=$tmp/rootfs/opt/lib/modules/$kver

	step "modules.dep in the image (/opt/lib/modules/$kver/modules.dep)"
	cat "$moddir/modules.dep"
}

check_result() {
	local moddir=$tmp/rootfs/opt/lib/modules/$kver line ok=1

	while IFS='|' read -r file line; do
		if ! grep -qFx -- "$line" "$moddir/$file"; then
			echo "$prog: $file lacks: $line" >&2
			ok=0
		fi
	done <<-'EOF'
		modules.dep|kmodimg_b.ko: kmodimg_a.ko
		modules.dep|kmodimg_a.ko:
		modules.alias|alias kmodimg-example kmodimg_a
		modules.symbols|alias symbol:kmodimg_a_add kmodimg_a
	EOF
	[ "$(wc -l <"$moddir/modules.dep")" -eq 2 ] || {
		echo "$prog: modules.dep should have exactly 2 lines" >&2
		ok=0
	}
	[ $ok -eq 1 ] || die "unexpected depmod output in the image"
	echo
	echo "modules.dep, modules.alias and modules.symbols are as expected."
}

# kmodimg promises kmod 30's bytes; show it when kmod's depmod is installed.
# kmodimg build indexes with its own, empty configuration: so does kmod here.
compare_with_kmod() {
	local depmod kmodver f diff=0 moddir=$tmp/rootfs/opt/lib/modules/$kver

	depmod=$(PATH=$PATH:/usr/sbin:/sbin command -v depmod) || {
		echo "(kmod's depmod not installed; skipping the byte comparison)"
		return 0
	}
	kmodver=$("$depmod" -V 2>/dev/null | sed -n 's/^kmod version \([0-9]*\).*/\1/p')
	if [ "$kmodver" != 30 ]; then
		echo "(kmod version ${kmodver:-unknown}, not 30; skipping the byte comparison)"
		return 0
	fi

	step "Comparing the image's index files with kmod $kmodver's: $depmod -b $tmp/kmod $kver"
	mkdir -p "$tmp/kmod/lib/modules/$kver"
	cp "$moddir"/*.ko "$tmp/kmod/lib/modules/$kver/"
	: >"$tmp/depmod.conf"
	"$depmod" -C "$tmp/depmod.conf" -b "$tmp/kmod" "$kver" 2>/dev/null ||
		die "kmod's depmod failed"
	for f in "$tmp"/kmod/lib/modules/"$kver"/modules.*; do
		f=${f##*/}
		if cmp -s "$tmp/kmod/lib/modules/$kver/$f" "$moddir/$f"; then
			echo "identical  $f"
		else
			echo "DIFFERENT  $f"
			diff=1
		fi
	done
	[ $diff -eq 0 ] || die "the image's index files differ from kmod's depmod"
}

# Same inputs, same image: other mtimes and argument order change nothing.
# (Another demo run gives another digest: the modules are rebuilt in a new
# temporary directory, whose path kbuild records in them via the build ID.)
check_reproducible() {
	local again

	step "Rebuilding into oci:$tmp/again with other file times and argument order"
	touch -d '2001-02-03 04:05:06' "$tmp/src/kmodimg_a.ko" "$tmp/src/kmodimg_b.ko"
	again=$("$kmodimg" build --quiet --kernel "$kver" -t "oci:$tmp/again:demo" \
		"$tmp/src/kmodimg_b.ko" "$tmp/src/kmodimg_a.ko") || die "the second kmodimg build failed"
	echo "first:  $digest"
	echo "second: $again"
	[ "$again" = "$digest" ] || die "the same inputs gave another digest"
}

check_for_nodes() {
	local symvers=/usr/src/linux-headers-$kver/Module.symvers

	step "Checking it against kernel $kver before any node tries (kmodimg verify)"
	"$kmodimg" verify "$image" --kernel "$kver" --symvers "$symvers" ||
		die "kmodimg verify found a problem"
	step "What a node would run to load kmodimg_b (kmodimg load --dry-run: nothing is loaded)"
	"$kmodimg" load --dry-run --kernel "$kver" --state-dir "$tmp/state" "$image" kmodimg_b ||
		die "kmodimg load --dry-run failed"
}

main() {
	[ $# -eq 0 ] || {
		echo "usage: $prog   (environment: KVER, KMODIMG)" >&2
		exit 2
	}
	cd "$repo"
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM

	install_deps
	resolve_kver
	build_kmodimg
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/kmodimg-demo.XXXXXX")
	build_examples
	build_image
	show_image
	extract_image
	show_result
	check_result
	compare_with_kmod
	check_reproducible
	check_for_nodes
	printf '\nDemo OK: %s is in the local store (%s).\n' "$image" "$(store_dir)"
	echo "Try: build/kmodimg inspect $image; remove it with: build/kmodimg rmi $image"
	echo "For KMM, build on a base image that has /bin/sh and cp (--base); see docs/kmodimg-build.1."
}

main "$@"
