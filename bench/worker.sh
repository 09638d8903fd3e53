#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Benchmark (not a test): the node side against its peers, in one run,
# medians of RUNS (default 5) after one warm-up.
#
#   bench/worker.sh [RUNS]
#
# 1. extract: Debian's whole module tree (~400 MB, one gzip layer, built by
#    kmodimg build into an OCI layout)
#      kmodimg extract oci:LAYOUT DIR      vs  umoci unpack --image LAYOUT DIR
#    goal: at most 1/3 of umoci's time
# 2. load --dry-run on that image (digest resolved, the extracted tree reused),
#    20 times RUNS
#      kmodimg load --dry-run REF MOD       vs  modprobe -d DIR -S KVER --show-depends MOD
#    for modules with many dependencies; goal: no slower
#
# KMODIMG overrides the binary (default build/kmodimg; configure it with
# -Dbuildtype=release for numbers worth quoting).  KMODIMG_BENCH_DEST is
# where part 1 extracts to (default: the temp dir beside the layout), e.g.
# /dev/shm to take the disk out of the comparison.
set -euo pipefail

repo=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
runs=${1:-5}
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "usage: bench/worker.sh [RUNS]" >&2; exit 2; }
KMODIMG=${KMODIMG:-$repo/build/kmodimg}
export KMODIMG KMODIMG_SRC=$repo
. "$repo/tests/lib/common.sh"
kmi_setup >/dev/null
kmi_need_cmds umoci modprobe
T=$KMI_TMP

# shellcheck source=bench/lib.sh
. "$repo/bench/lib.sh"

echo "kmodimg worker bench: KVER=$KVER, $runs runs, $(nproc) CPUs, binary $KMODIMG"
kmi_extract_tree "$T/tree"
"$KMODIMG" build --quiet --kernel "$KVER" -t "oci:$T/big:v1" "$T/tree/lib/modules/$KVER" >/dev/null
rm -rf "$T/tree"
echo "image: $(du -sm "$T/big" | cut -f1) MB layout, $(jq '.layers | length' \
	"$T/big/blobs/sha256/$(jq -r '.manifests[0].digest' "$T/big/index.json" | cut -d: -f2)") layer(s)"

# Part 1 -------------------------------------------------------------------
: >"$T/p1.ours"
: >"$T/p1.peer"
D=$(mktemp -d "${KMODIMG_BENCH_DEST:-$T}/kmodimg-bench.XXXXXX")
for i in $(seq 0 "$runs"); do
	rm -rf "$D/x-ours" "$D/x-umoci"
	if ours_first "$i"; then
		o=$(seconds "$KMODIMG" extract --quiet "oci:$T/big:v1" "$D/x-ours")
		p=$(seconds sh -c "cd '$T' && umoci unpack --image big:v1 '$D/x-umoci'")
	else
		p=$(seconds sh -c "cd '$T' && umoci unpack --image big:v1 '$D/x-umoci'")
		o=$(seconds "$KMODIMG" extract --quiet "oci:$T/big:v1" "$D/x-ours")
	fi
	((i == 0)) && continue
	echo "$o" >>"$T/p1.ours"
	echo "$p" >>"$T/p1.peer"
done
n_ours=$(find "$D/x-ours" | wc -l)
n_umoci=$(find "$D/x-umoci/rootfs" | wc -l)
rm -rf "$D"
report "1 extract vs umoci unpack ($n_ours/$n_umoci entries)" "<= 0.333" "$T/p1.ours" "$T/p1.peer"
echo "  (destination filesystem: $(df -T "${KMODIMG_BENCH_DEST:-$T}" | awk 'NR == 2 {print $2}'))"

# Part 2 -------------------------------------------------------------------
st=$T/state
"$KMODIMG" load --state-dir "$st" --kernel "$KVER" "oci:$T/big:v1" btrfs --dry-run >/dev/null
root=$(find "$st" -mindepth 1 -maxdepth 1 -name 'sha256-*')
# Runs of 2 ms vary by a few percent from one to the next: 20 times as many.
for mod in btrfs snd_hda_intel; do
	: >"$T/p2.ours"
	: >"$T/p2.peer"
	for i in $(seq 0 $((runs * 20))); do
		if ours_first "$i"; then
			o=$(seconds "$KMODIMG" load --state-dir "$st" --kernel "$KVER" "oci:$T/big:v1" "$mod" --dry-run)
			p=$(seconds modprobe -d "$root/opt" -S "$KVER" --show-depends "$mod")
		else
			p=$(seconds modprobe -d "$root/opt" -S "$KVER" --show-depends "$mod")
			o=$(seconds "$KMODIMG" load --state-dir "$st" --kernel "$KVER" "oci:$T/big:v1" "$mod" --dry-run)
		fi
		((i == 0)) && continue
		echo "$o" >>"$T/p2.ours"
		echo "$p" >>"$T/p2.peer"
	done
	deps=$(modprobe -d "$root/opt" -S "$KVER" --show-depends "$mod" | wc -l)
	report "2 load --dry-run $mod ($deps insmod)" "<= 1" "$T/p2.ours" "$T/p2.peer"
done
# What part 2 pays before any work: loading the binary and its libraries.
: >"$T/p3.ours"
: >"$T/p3.peer"
for i in $(seq 0 "$runs"); do
	o=$(seconds "$KMODIMG" --version)
	p=$(seconds modprobe --version)
	((i == 0)) && continue
	echo "$o" >>"$T/p3.ours"
	echo "$p" >>"$T/p3.peer"
done
report "3 startup only: --version" "(context)" "$T/p3.ours" "$T/p3.peer"
