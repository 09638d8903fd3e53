#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Benchmark (not a test): kmodimg's image commands against the peers, in one
# run, medians of RUNS (default 5) after one warm-up, with a plain-HTTP
# docker-registry on 127.0.0.1 (a fresh one for each timed push, so that no
# tool can mount blobs pushed by an earlier run).
#
#   bench/image.sh [RUNS]
#   BENCH_PARTS="1 3" bench/image.sh     only those parts (default: all four)
#
# 1. small: the two example modules, build and push
#      kmodimg build -t docker://...        vs  buildah from scratch, copy, commit, push (vfs)
# 2. big layer: Debian's whole module tree (~400 MB) into an image layout
#      kmodimg build -t oci:... (depmod included)  vs  tar c | gzip -6 >/dev/null
# 3. big push: the same layout to the registry
#      kmodimg copy oci:... docker://...    vs  skopeo copy
# 4. big pull + extract
#      kmodimg extract docker://... DIR     vs  skopeo copy docker:// oci: + umoci unpack
#
# Needs what scripts/install-deps.sh test installs, plus buildah for part 1
# (skipped without it).  KMODIMG overrides the binary (default build/kmodimg:
# configure it with -Dbuildtype=release for numbers worth quoting).
set -euo pipefail

repo=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
runs=${1:-5}
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "usage: bench/image.sh [RUNS]" >&2; exit 2; }
KMODIMG=${KMODIMG:-$repo/build/kmodimg}
export KMODIMG KMODIMG_SRC=$repo
. "$repo/tests/lib/common.sh"
kmi_setup >/dev/null
. "$KMI_LIB_DIR/registry.sh"
export KMODIMG_STORE=$KMI_TMP/store
T=$KMI_TMP

# shellcheck source=bench/lib.sh
. "$repo/bench/lib.sh"

reg_up=0
fresh_registry() {
	((reg_up == 0)) || kmi_reg_stop
	kmi_reg_start plain >/dev/null
	reg_up=1
}

parts=${BENCH_PARTS:-1 2 3 4}
part() { [[ " $parts " == *" $1 "* ]]; }

echo "kmodimg bench: KVER=$KVER, $runs runs, $(nproc) CPUs, binary $KMODIMG, parts $parts"
kmi_build_examples "$T/ex" >/dev/null
tree=$T/tree/lib/modules/$KVER
if part 2 || part 3 || part 4; then
	kmi_extract_tree "$T/tree"
fi

# Part 1 -------------------------------------------------------------------
if ! part 1; then
	:
elif command -v buildah >/dev/null; then
	: >"$T/p1.ours"
	: >"$T/p1.peer"
	bh() { buildah --storage-driver vfs --root "$T/bh/root" --runroot "$T/bh/run" "$@"; }
	bh_push() {
		local c
		c=$(bh from scratch)
		bh copy "$c" "$T/ex/kmodimg_a.ko" "$T/ex/kmodimg_b.ko" "/opt/lib/modules/$KVER/" >/dev/null
		bh commit -q "$c" "bench-small:$1" >/dev/null
		bh push -q --tls-verify=false "bench-small:$1" "docker://$KMI_REG_HOST/bh/small:$1"
		bh rm "$c" >/dev/null
	}
	export -f bh bh_push
	export T KVER
	for i in $(seq 0 "$runs"); do
		fresh_registry
		o=$(seconds "$KMODIMG" build --quiet --insecure --kernel "$KVER" \
			-t "docker://$KMI_REG_HOST/ours/small:$i" "$T/ex/kmodimg_a.ko" "$T/ex/kmodimg_b.ko")
		p=$(KMI_REG_HOST=$KMI_REG_HOST seconds bash -c "bh_push $i")
		((i == 0)) && continue
		echo "$o" >>"$T/p1.ours"
		echo "$p" >>"$T/p1.peer"
	done
	report "1 small build+push vs buildah" "<= 0.1" "$T/p1.ours" "$T/p1.peer"
else
	echo "1 small build+push vs buildah       skipped: buildah is not installed"
fi

part 2 || part 3 || part 4 || { ((reg_up == 0)) || kmi_reg_stop; exit 0; }

# Part 2 (its layout is the input of parts 3 and 4) ------------------------
: >"$T/p2.ours"
: >"$T/p2.peer"
for i in $(seq 0 "$runs"); do
	rm -rf "$T/big"
	o=$(seconds "$KMODIMG" build --quiet --kernel "$KVER" -t "oci:$T/big:v1" "$tree")
	p=$(seconds sh -c "tar c -C '$tree' . | gzip -6 >/dev/null")
	((i == 0)) && continue
	echo "$o" >>"$T/p2.ours"
	echo "$p" >>"$T/p2.peer"
done
part 2 && report "2 big layer vs tar|gzip -6" "<= 0.5" "$T/p2.ours" "$T/p2.peer"

# Part 3 -------------------------------------------------------------------
if part 3; then
: >"$T/p3.ours"
: >"$T/p3.peer"
for i in $(seq 0 "$runs"); do
	fresh_registry
	o=$(seconds "$KMODIMG" copy --quiet --insecure "oci:$T/big:v1" "docker://$KMI_REG_HOST/ours/big:1")
	fresh_registry
	p=$(seconds skopeo copy -q --dest-tls-verify=false "oci:$T/big:v1" "docker://$KMI_REG_HOST/sk/big:1")
	((i == 0)) && continue
	echo "$o" >>"$T/p3.ours"
	echo "$p" >>"$T/p3.peer"
done
report "3 big push vs skopeo copy" "< 1" "$T/p3.ours" "$T/p3.peer"
fi

# Part 4 -------------------------------------------------------------------
if ! part 4; then
	:
elif "$KMODIMG" extract --help >/dev/null 2>&1; then
	: >"$T/p4.ours"
	: >"$T/p4.peer"
	fresh_registry
	"$KMODIMG" copy --quiet --insecure "oci:$T/big:v1" "docker://$KMI_REG_HOST/k/big:1" >/dev/null
	ours4() { seconds "$KMODIMG" extract --quiet --insecure "docker://$KMI_REG_HOST/k/big:1" "$T/x-ours"; }
	peer4() {
		seconds sh -c "skopeo copy -q --src-tls-verify=false docker://$KMI_REG_HOST/k/big:1 oci:$T/x-skl:1 &&
			cd '$T' && umoci unpack --image x-skl:1 x-sk"
	}
	for i in $(seq 0 "$runs"); do
		rm -rf "$T/x-ours" "$T/x-sk" "$T/x-skl"
		if ours_first "$i"; then
			o=$(ours4)
			p=$(peer4)
		else
			p=$(peer4)
			o=$(ours4)
		fi
		((i == 0)) && continue
		echo "$o" >>"$T/p4.ours"
		echo "$p" >>"$T/p4.peer"
	done
	report "4 big pull+extract vs skopeo+umoci" "<= 0.333" "$T/p4.ours" "$T/p4.peer"
else
	echo "4 big pull+extract                  skipped: this kmodimg has no extract"
fi
((reg_up == 0)) || kmi_reg_stop
