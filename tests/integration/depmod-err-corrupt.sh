#!/bin/bash
# Corrupt modules (ours only: kmod prints "failed to load symbols" and
# still lists the module, with exit 0). In a small tree plus
#   extra/truncated.ko  the first 40% of fat.ko (section headers gone)
#   extra/garbage.ko    4 KiB of fixed pseudo-random bytes
# our depmod must exit 1, name both, and leave the previous outputs and
# the module dir untouched. The same for
#   extra/badxz.ko.xz   an xz magic followed by garbage
#   extra/empty.ko      0 bytes
# With --keep-going on the tree holding all four: exit 0 and all 10
# outputs byte-identical to kmod's.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
kmi_setup

base=$KMI_TMP/base
moddir=$base/lib/modules/$KVER
step "extract a subset"
kmi_extract_modules "$base" fat vfat msdos isofs cdrom
(cd "$moddir" && find kernel -name '*.ko' | sort) >"$KMI_TMP/kos"
grep -xFf "$KMI_TMP/kos" "$moddir/modules.order" >"$KMI_TMP/order" && mv "$KMI_TMP/order" "$moddir/modules.order"

step "previous outputs (kmod, clean tree)"
depmod -b "$base" "$KVER" 2>/dev/null
touch -d '2001-01-01 00:00:00' "$moddir"/modules.{dep,dep.bin,alias,alias.bin,softdep,symbols,symbols.bin,builtin.bin,builtin.alias.bin,devname}

mkdir -p "$KMI_TMP/corrupt"
fat=$moddir/kernel/fs/fat/fat.ko
head -c $(($(stat -c %s "$fat") * 2 / 5)) "$fat" >"$KMI_TMP/corrupt/truncated.ko"
python3 -c 'import random, sys; r = random.Random(42); sys.stdout.buffer.write(bytes(r.randrange(256) for _ in range(4096)))' >"$KMI_TMP/corrupt/garbage.ko"
{
	printf '\xfd7zXZ\x00'
	head -c 1000 "$KMI_TMP/corrupt/garbage.ko"
} >"$KMI_TMP/corrupt/badxz.ko.xz"
: >"$KMI_TMP/corrupt/empty.ko"
mkdir -p "$moddir/extra"

# place FILE...: put these corrupt modules (and only these) into extra/.
place() {
	rm -f "$moddir/extra"/*
	local f
	for f in "$@"; do
		cp "$KMI_TMP/corrupt/$f" "$moddir/extra/"
	done
}

step "truncated + garbage"
place truncated.ko garbage.ko
kmi_run oracle.kmod depmod -n -b "$base" "$KVER"
((KMI_RC == 0)) || fail "oracle: kmod -n exited $KMI_RC"
grep -q 'failed to load symbols from .*truncated.ko' "$KMI_TMP/oracle.kmod.err" || fail "oracle: kmod did not flag truncated.ko"
grep -q 'failed to load symbols from .*garbage.ko' "$KMI_TMP/oracle.kmod.err" || fail "oracle: kmod did not flag garbage.ko"
kmi_ours_must_fail truncated-garbage "$moddir" truncated.ko garbage.ko -- -b "$base" "$KVER"

step "bad xz + empty"
place badxz.ko.xz empty.ko
kmi_ours_must_fail badxz-empty "$moddir" badxz.ko.xz empty.ko -- -b "$base" "$KVER"

step "--keep-going with all four: kmod's output"
place truncated.ko garbage.ko badxz.ko.xz empty.ko
kmi_move_outputs "$moddir" "$KMI_TMP/prev"
KMI_OURS_ARGS=(--keep-going)
kmi_depmod_pair keep-going "$moddir" -b "$base" "$KVER"
# shellcheck disable=SC2034 # read by kmi_depmod_pair
KMI_OURS_ARGS=()
kmi_expect_same keep-going
for f in truncated.ko garbage.ko badxz.ko.xz empty.ko; do
	grep -qx "extra/$f:" "$KMI_TMP/keep-going/kmod/modules.dep" || fail "oracle: kmod's modules.dep lacks extra/$f"
	grep -qF "$f" "$KMI_TMP/keep-going.ours.err" || fail_later "keep-going: no warning names $f"
done

pass
