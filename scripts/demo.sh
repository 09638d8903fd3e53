#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# kmodimg demo, runnable as root on a fresh Debian 12 from any directory:
#
#   1. install missing build packages (scripts/install-deps.sh build)
#   2. configure and build kmodimg (build/, meson release) with ninja
#   3. build examples/ (kmodimg_a.ko, kmodimg_b.ko) against the headers of
#      Debian's current kernel ABI, in a temporary directory
#   4. lay them out KMM-style under $tmp/opt/lib/modules/$KVER/extra/
#   5. run `kmodimg depmod -b $tmp/opt $KVER`, show and check modules.dep,
#      and compare every output file with kmod's depmod if it is installed
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
}

install_deps() {
	step "Checking build dependencies"
	"$repo/scripts/install-deps.sh" build
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

layout_prefix() {
	local extra=$tmp/opt/lib/modules/$kver/extra

	step "Laying out $tmp/opt (KMM style)"
	mkdir -p "$extra"
	cp "$tmp"/src/kmodimg_a.ko "$tmp"/src/kmodimg_b.ko "$extra"/
	strip --strip-debug "$extra"/*.ko
}

run_depmod() {
	step "$kmodimg depmod -b $tmp/opt $kver"
	"$kmodimg" depmod -b "$tmp/opt" "$kver" ||
		die "kmodimg depmod failed (exit $?)"
}

show_result() {
	local moddir=$tmp/opt/lib/modules/$kver

	step "modules.dep"
	cat "$moddir/modules.dep"

	step "Files under $tmp/opt"
	(cd "$tmp/opt" && find . -type f -printf '%8s  %P\n' | sort -k2)
}

check_result() {
	local moddir=$tmp/opt/lib/modules/$kver line ok=1

	while IFS='|' read -r file line; do
		if ! grep -qFx -- "$line" "$moddir/$file"; then
			echo "$prog: $file lacks: $line" >&2
			ok=0
		fi
	done <<-'EOF'
		modules.dep|extra/kmodimg_b.ko: extra/kmodimg_a.ko
		modules.dep|extra/kmodimg_a.ko:
		modules.alias|alias kmodimg-example kmodimg_a
		modules.symbols|alias symbol:kmodimg_a_add kmodimg_a
	EOF
	[ "$(wc -l <"$moddir/modules.dep")" -eq 2 ] || {
		echo "$prog: modules.dep should have exactly 2 lines" >&2
		ok=0
	}
	[ $ok -eq 1 ] || die "unexpected depmod output"
	echo
	echo "modules.dep, modules.alias and modules.symbols are as expected."
}

# kmodimg promises kmod 30's bytes; show it when kmod's depmod is installed.
compare_with_kmod() {
	local depmod kmodver f diff=0

	depmod=$(PATH=$PATH:/usr/sbin:/sbin command -v depmod) || {
		echo "(kmod's depmod not installed; skipping the byte comparison)"
		return 0
	}
	kmodver=$("$depmod" -V 2>/dev/null | sed -n 's/^kmod version \([0-9]*\).*/\1/p')
	if [ "$kmodver" != 30 ]; then
		echo "(kmod version ${kmodver:-unknown}, not 30; skipping the byte comparison)"
		return 0
	fi

	step "Comparing with kmod $kmodver: $depmod -b $tmp/kmod $kver"
	mkdir -p "$tmp/kmod/lib/modules/$kver"
	cp -a "$tmp/opt/lib/modules/$kver/extra" "$tmp/kmod/lib/modules/$kver/"
	"$depmod" -b "$tmp/kmod" "$kver" 2>/dev/null || die "kmod's depmod failed"
	for f in "$tmp"/kmod/lib/modules/"$kver"/modules.*; do
		f=${f##*/}
		if cmp -s "$tmp/kmod/lib/modules/$kver/$f" "$tmp/opt/lib/modules/$kver/$f"; then
			echo "identical  $f"
		else
			echo "DIFFERENT  $f"
			diff=1
		fi
	done
	[ $diff -eq 0 ] || die "output differs from kmod's depmod"
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
	layout_prefix
	run_depmod
	show_result
	check_result
	compare_with_kmod
	printf '\nDemo OK.\n'
}

main "$@"
