#!/bin/bash
# -n / --show / --dry-run: the text outputs go to stdout back to back, no
# .bin, nothing written. On a ~30-module subset with modules.order and the
# builtin inputs (aliases, softdeps, devnames, symbols all present):
#   - stdout byte-identical to kmod's -n, same exit code;
#   - the module dir is left exactly as it was (no file created, and
#     pre-existing outputs keep their bytes, inode and mtime);
#   - the long spellings give the same stdout.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
kmi_setup

base=$KMI_TMP/base
moddir=$base/lib/modules/$KVER
step "extract a subset"
kmi_extract_modules "$base" fat vfat msdos isofs cdrom udf crc-itu-t ext4 crc16 \
	mbcache jbd2 fuse cuse loop tun ppp_generic slhc autofs4 nls_utf8 nls_euc-jp \
	btrfs xor raid6_pq zstd_compress libcrc32c sr_mod scsi_mod scsi_common
(cd "$moddir" && find kernel -name '*.ko' | sort) >"$KMI_TMP/kos"
grep -xFf "$KMI_TMP/kos" "$moddir/modules.order" >"$KMI_TMP/order" && mv "$KMI_TMP/order" "$moddir/modules.order"

# state: listing with size, inode and mtime of the module dir's top level.
state() {
	(cd "$moddir" && find . -maxdepth 1 -printf '%f %s %i %T@\n' | sort)
}

# dry NAME FLAG: kmod and ours with FLAG; stdout and exit code must match
# and the module dir must not change.
dry() {
	local name=$1 flag=$2 before rc_kmod
	step "$name: depmod $flag"
	before=$(state)
	kmi_run "$name.kmod" kmod_depmod "$flag" -b "$base" "$KVER"
	rc_kmod=$KMI_RC
	[[ $(state) == "$before" ]] || fail "oracle: kmod $flag changed the module dir"
	((rc_kmod == 0)) || fail "oracle: kmod $flag exited $rc_kmod"
	[[ -s $KMI_TMP/$name.kmod.out ]] || fail "oracle: kmod $flag printed nothing"
	kmi_run "$name.ours" our_depmod "$flag" -b "$base" "$KVER"
	((KMI_RC == rc_kmod)) || fail_later "$name: we exited $KMI_RC, kmod $rc_kmod: $(head -3 "$KMI_TMP/$name.ours.err")"
	if [[ $(state) != "$before" ]]; then
		fail_later "$name: our $flag changed the module dir:"
		diff <(echo "$before") <(state) | head -20 || true
	else
		ok "$name: module dir untouched"
	fi
	if cmp -s "$KMI_TMP/$name.kmod.out" "$KMI_TMP/$name.ours.out"; then
		ok "$name: stdout identical to kmod's ($(wc -c <"$KMI_TMP/$name.kmod.out") bytes)"
	else
		fail_later "$name: stdout differs from kmod's"
		diff -u --label kmod --label ours "$KMI_TMP/$name.kmod.out" "$KMI_TMP/$name.ours.out" | head -40 || true
	fi
}

dry n -n
# Oracle sanity: -n prints modules.dep then the other text files.
grep -qx 'kernel/fs/fat/vfat.ko: kernel/fs/fat/fat.ko' "$KMI_TMP/n.kmod.out" || fail "oracle: -n lacks the vfat line"
grep -qx '# Aliases extracted from modules themselves.' "$KMI_TMP/n.kmod.out" || fail "oracle: -n lacks modules.alias"
dry show --show
dry dry-run --dry-run

step "-n with existing outputs: they stay as they are"
depmod -b "$base" "$KVER" 2>/dev/null
touch -d '2001-01-01 00:00:00' "$moddir"/modules.*
dry n-existing -n

step "-n without modules.order and builtin inputs"
mv "$moddir/modules.order" "$moddir/modules.builtin" "$moddir/modules.builtin.modinfo" "$KMI_TMP/"
kmi_remove_outputs "$moddir"
dry n-bare -n

pass
