#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Benchmark (not a test): a gzip layer of Debian's whole module tree written
# by kmi_layer_write() against `tar c | gzip -6`.
#
#   bench/layer.sh [RUNS]        (default RUNS=3)
#
# Compiles bench/layer-driver.c against $KMODIMG_BUILD/lib/libkmodimg.a,
# extracts lib/modules/$KVER of the cached linux-image .deb into a temporary
# directory, checks once that the layer decompresses (gzip -d) to a tar whose
# sha256 is the diff_id, then times, alternating, after one warm-up each:
#
#   ours gzip -jN   the layer, gzip level 6, N = online CPUs (the default)
#   ours gzip -j1   the same on one thread
#   ours zstd -jN   zstd level 3
#   tar | gzip -6   tar c -C DIR lib | gzip -6 > /dev/null
#
# Reported: median/min/max wall time, the ratio to tar|gzip -6, and sizes.
#
# Environment:
#   KMODIMG_BUILD       meson build directory (default: build)
#   KVER                kernel ABI (default: the one linux-image-amd64 depends on)
#   KMODIMG_TEST_CACHE  .deb cache directory (default: /var/cache/kmodimg-test)
#   CC                  C compiler (default: cc)

set -euo pipefail

prog=${0##*/}
repo=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
cache=${KMODIMG_TEST_CACHE:-/var/cache/kmodimg-test}
build=${KMODIMG_BUILD:-$repo/build}
tmp=

# shellcheck source=bench/kernel-deb.sh
. "$repo/bench/kernel-deb.sh"

check_tools() {
	local t
	for t in python3 dpkg-deb tar gzip sha256sum pkg-config "${CC:-cc}"; do
		command -v "$t" >/dev/null ||
			die "$t not found (run scripts/install-deps.sh test)"
	done
	[ -f "$build/lib/libkmodimg.a" ] ||
		die "$build/lib/libkmodimg.a not found (build with: ninja -C build, or set KMODIMG_BUILD)"
}

compile_driver() {
	# shellcheck disable=SC2046 # pkg-config output is a list of flags
	"${CC:-cc}" -O2 -std=gnu17 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -I"$repo/lib" -o "$tmp/layer-driver" \
		"$repo/bench/layer-driver.c" "$build/lib/libkmodimg.a" \
		$(pkg-config --libs libarchive libdeflate libzstd liblzma zlib libcrypto jansson libcurl) \
		-lpthread || die "compiling bench/layer-driver.c failed"
}

extract_tree() {
	mkdir -p "$tmp/root"
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp/root" "./lib/modules/$kver" ||
		die "extracting lib/modules/$kver from $deb failed"
}

# One checked run: the layer must decompress to the tar its diff_id names.
verify() {
	local out digest diff_id size sum
	out=$("$tmp/layer-driver" -o "$tmp/layer.tar.gz" "$tmp/root" lib)
	read -r digest diff_id size <<<"$out"
	gzip -t "$tmp/layer.tar.gz" || die "gzip -t rejects the layer"
	sum=sha256:$(gzip -dc "$tmp/layer.tar.gz" | sha256sum | cut -d' ' -f1)
	[ "$sum" = "$diff_id" ] || die "diff_id $diff_id, but the tar's sha256 is $sum"
	sum=sha256:$(sha256sum <"$tmp/layer.tar.gz" | cut -d' ' -f1)
	[ "$sum" = "$digest" ] || die "digest $digest, but the blob's sha256 is $sum"
	ours_gz=$size
	ours_tar=$(gzip -dc "$tmp/layer.tar.gz" | wc -c)
	ours_zst=$("$tmp/layer-driver" -c zstd "$tmp/root" lib | cut -d' ' -f3)
	ref_gz=$(tar c -C "$tmp/root" lib | gzip -6 | wc -c)
	ref_tar=$(tar c -C "$tmp/root" lib | wc -c)
	rm -f "$tmp/layer.tar.gz"
}

run_bench() {
	local d=$tmp/layer-driver r=$tmp/root
	python3 - "$1" \
		"ours gzip -j$(nproc)" "$d $r lib" \
		"ours gzip -j1" "$d -j1 $r lib" \
		"ours zstd -j$(nproc)" "$d -c zstd $r lib" \
		"tar | gzip -6" "tar c -C $r lib | gzip -6 >/dev/null" <<-'EOF'
		import statistics, subprocess, sys, time

		runs = int(sys.argv[1])
		cmds = list(zip(sys.argv[2::2], sys.argv[3::2]))
		res = {name: [] for name, _ in cmds}
		for i in range(1 + runs):
		    for name, cmd in cmds:
		        t0 = time.perf_counter()
		        subprocess.run(["bash", "-o", "pipefail", "-c", cmd + " >/dev/null"], check=True)
		        if i > 0:
		            res[name].append(time.perf_counter() - t0)
		ref = statistics.median(res["tar | gzip -6"])
		print(f"{'':16}{'wall median':>13}{'min':>8}{'max':>8}{'vs tar|gzip -6':>16}")
		for name, w in res.items():
		    m = statistics.median(w)
		    print(f"{name:16}{m:11.3f} s{min(w):8.3f}{max(w):8.3f}{m / ref:15.3f}x")
	EOF
}

main() {
	local runs=${1:-3}
	if [ $# -gt 1 ] || ! [[ $runs =~ ^[1-9][0-9]*$ ]]; then
		echo "usage: $prog [RUNS]   (RUNS >= 1, default 3)" >&2
		exit 2
	fi

	check_tools
	resolve_kver
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	fetch_deb
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/kmodimg-bench-layer.XXXXXX")
	compile_driver
	extract_tree

	echo "tree:  ${deb##*/}: $(find "$tmp/root" -type f | wc -l) files, $(du -sm "$tmp/root" | cut -f1) MiB"
	echo "runs:  1 warm-up + $runs timed each, alternating; $(nproc) CPUs"
	verify
	echo "check: layer decompresses to its diff_id (gzip -t, gzip -dc | sha256sum)"
	echo
	run_bench "$runs"
	echo
	printf '%-16s%14s%14s\n' "" "tar bytes" "blob bytes"
	printf '%-16s%14d%14d  (%.2f%% of tar|gzip -6)\n' "ours gzip -6" "$ours_tar" "$ours_gz" \
		"$(python3 -c "print($ours_gz * 100 / $ref_gz)")"
	printf '%-16s%14d%14d  (%.2f%% of tar|gzip -6)\n' "ours zstd -3" "$ours_tar" "$ours_zst" \
		"$(python3 -c "print($ours_zst * 100 / $ref_gz)")"
	printf '%-16s%14d%14d\n' "tar | gzip -6" "$ref_tar" "$ref_gz"
}

main "$@"
