#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Benchmark (not a test): kmod's depmod against `kmodimg depmod` on Debian's
# current linux-image module tree.
#
#   bench/depmod.sh [RUNS]        (default RUNS=11)
#
# The linux-image .deb is cached in ${KMODIMG_TEST_CACHE:-/var/cache/kmodimg-test}
# (the same cache the tests use) and its lib/modules/$KVER is extracted into a
# temporary prefix. A second prefix shares the module files through hard
# links, so both tools read the same inodes and page cache while each writes
# its own outputs. The two commands alternate: 2 warm-up runs each, then RUNS
# timed runs each. Reported: median/min/max wall time, median peak RSS
# (getrusage of the child), the ratios ours/kmod, and whether every output
# file is byte-identical (cmp). Exit 1 if a run fails or outputs differ.
#
# Environment:
#   KMODIMG             binary to benchmark (default: build/kmodimg)
#   KVER                kernel ABI (default: the one linux-image-amd64 depends on)
#   KMODIMG_TEST_CACHE  .deb cache directory
#   DEPMOD              kmod's depmod (default: depmod from PATH or /usr/sbin)

set -euo pipefail

prog=${0##*/}
repo=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
cache=${KMODIMG_TEST_CACHE:-/var/cache/kmodimg-test}
warmup=2
tmp=

# shellcheck source=bench/kernel-deb.sh
. "$repo/bench/kernel-deb.sh"

check_tools() {
	local t
	for t in python3 dpkg-deb tar cmp; do
		command -v "$t" >/dev/null ||
			die "$t not found (run scripts/install-deps.sh test)"
	done
	depmod=${DEPMOD:-$(PATH=$PATH:/usr/sbin:/sbin command -v depmod)} ||
		die "kmod's depmod not found (run scripts/install-deps.sh test)"
	depmod=$(command -v "$depmod") || die "$DEPMOD not found"
	kmodimg=${KMODIMG:-$repo/build/kmodimg}
	kmodimg=$(command -v "$kmodimg") ||
		die "${KMODIMG:-$repo/build/kmodimg} not found (build with: meson setup build -Dbuildtype=release && ninja -C build, or set KMODIMG)"
}

extract_tree() {
	local moddir=lib/modules/$kver

	mkdir -p "$tmp/kmod" "$tmp/ours"
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp/kmod" --wildcards "./$moddir/*" ||
		die "extracting $moddir from $deb failed"
	[ -d "$tmp/kmod/$moddir" ] || die "$deb has no $moddir"
	mkdir -p "$tmp/ours/lib/modules"
	cp -al "$tmp/kmod/$moddir" "$tmp/ours/lib/modules/"
}

# Runs both commands alternately and prints the table. Exits 1 on a failed run.
run_bench() {
	python3 - "$1" "$warmup" "$tmp/stderr.log" \
		"kmod depmod" "$depmod" -b "$tmp/kmod" "$kver" -- \
		"kmodimg depmod" "$kmodimg" depmod -b "$tmp/ours" "$kver" <<-'EOF'
		import os, statistics, sys, time

		runs, warmup, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
		rest = sys.argv[4:]
		sep = rest.index("--")
		cmds = [(rest[0], rest[1:sep]), (rest[sep + 1], rest[sep + 2:])]

		def run(argv):
		    fa = [(os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
		          (os.POSIX_SPAWN_OPEN, 2, log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)]
		    t0 = time.perf_counter()
		    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=fa)
		    _, status, ru = os.wait4(pid, 0)
		    wall = time.perf_counter() - t0
		    rc = os.waitstatus_to_exitcode(status)
		    if rc != 0:
		        sys.stderr.write(open(log).read())
		        sys.exit(f"{' '.join(argv)}: exit {rc}")
		    return wall, ru.ru_maxrss, ru.ru_utime, ru.ru_stime

		res = {name: [] for name, _ in cmds}
		for i in range(warmup + runs):
		    for name, argv in cmds:
		        r = run(argv)
		        if i >= warmup:
		            res[name].append(r)

		med = lambda rs, k: statistics.median(r[k] for r in rs)
		print(f"{'':16}{'wall median':>13}{'min':>8}{'max':>8}{'user':>8}{'sys':>8}{'peak RSS':>13}")
		for name, rs in res.items():
		    w = [r[0] for r in rs]
		    print(f"{name:16}{med(rs, 0):11.3f} s{min(w):8.3f}{max(w):8.3f}"
		          f"{med(rs, 2):8.3f}{med(rs, 3):8.3f}{med(rs, 1) / 1024:9.1f} MiB")
		(_, rk), (_, ro) = res.items()
		tw, tr = med(ro, 0) / med(rk, 0), med(ro, 1) / med(rk, 1)
		print(f"{'ours/kmod':16}{tw:11.3f}  {'':32}{tr:9.3f}")
		print(f"speed-up (kmod/kmodimg median wall): {1 / tw:.2f}x; peak RSS ratio (kmodimg/kmod): {tr:.2f}")
	EOF
}

compare_outputs() {
	local a=$tmp/kmod/lib/modules/$kver b=$tmp/ours/lib/modules/$kver f n=0 bad=0

	# Inputs shipped by the package are hard links; compare what depmod wrote.
	for f in $( (cd "$a" && ls modules.*; cd "$b" && ls modules.*) | sort -u); do
		case $f in modules.order | modules.builtin | modules.builtin.modinfo) continue ;; esac
		n=$((n + 1))
		if [ ! -e "$a/$f" ] || [ ! -e "$b/$f" ]; then
			echo "$prog: $f written by only one of the two" >&2
			bad=1
		elif ! cmp -s "$a/$f" "$b/$f"; then
			echo "$prog: $f differs: $(cmp "$a/$f" "$b/$f" 2>&1 | head -1)" >&2
			bad=1
		fi
	done
	[ $bad -eq 0 ] || die "outputs differ"
	echo "outputs: all $n files byte-identical"
}

main() {
	local runs=${1:-11}
	if [ $# -gt 1 ] || ! [[ $runs =~ ^[1-9][0-9]*$ ]]; then
		echo "usage: $prog [RUNS]   (RUNS >= 1, default 11)" >&2
		exit 2
	fi

	check_tools
	resolve_kver
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	fetch_deb
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/kmodimg-bench.XXXXXX")
	extract_tree

	local nmod size
	nmod=$(find "$tmp/kmod/lib/modules/$kver" -name '*.ko*' | wc -l)
	size=$(du -sm "$tmp/kmod/lib/modules/$kver" | cut -f1)
	echo "tree:    ${deb##*/}: $nmod modules, $size MiB"
	echo "kmod:    $depmod ($("$depmod" -V | head -1))"
	echo "kmodimg: $kmodimg ($("$kmodimg" --version 2>/dev/null | head -1 || true))"
	echo "runs:    $warmup warm-up + $runs timed each, alternating; $(nproc) CPUs"
	echo
	run_bench "$runs"
	echo
	compare_outputs
}

main "$@"
