#!/bin/bash
# Modules given as absolute paths after KVER: only those are processed
# (no walk, no depmod.d config), and the outputs hold only them.
#   - two in-tree modules (vfat, fat): byte-identical outputs;
#   - given in reverse order, with modules.order present;
#   - plus a module outside the module dir (absolute path in modules.dep)
#     and a .ko.xz;
#   - -C config is not consulted for explicit paths (exclude ignored);
#   - a path whose dependency is not given: no dep;
# and failures, where kmod writes nothing and exits 1 (ours: 1, or 2 for
# the relative path; the path named, nothing written):
#   - a relative path; a missing file; two paths with the same module name.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
kmi_setup
kmi_need_cmds xz

base=$KMI_TMP/base
moddir=$base/lib/modules/$KVER
step "extract a subset"
kmi_extract_modules "$base" fat vfat msdos isofs cdrom
(cd "$moddir" && find kernel -name '*.ko' | sort) >"$KMI_TMP/kos"
grep -xFf "$KMI_TMP/kos" "$moddir/modules.order" >"$KMI_TMP/order" && mv "$KMI_TMP/order" "$moddir/modules.order"
k=$moddir/kernel
mkdir -p "$KMI_TMP/outside" "$moddir/extra"
cp "$k/fs/isofs/isofs.ko" "$KMI_TMP/outside/out_isofs.ko"
xz -c "$k/drivers/cdrom/cdrom.ko" >"$moddir/extra/cdrom_xz.ko.xz"
cp "$k/fs/fat/vfat.ko" "$moddir/extra/vfat.ko"
mkdir -p "$KMI_TMP/conf"
echo "exclude kernel extra" >"$KMI_TMP/conf/exclude.conf"

case_same() {
	local name=$1
	shift
	step "$name"
	kmi_depmod_pair "$name" "$moddir" -b "$base" "$KVER" "$@"
	kmi_expect_same "$name"
}

case_same two "$k/fs/fat/vfat.ko" "$k/fs/fat/fat.ko"
[[ $(cat "$KMI_TMP/two/kmod/modules.dep") == "kernel/fs/fat/fat.ko:
kernel/fs/fat/vfat.ko: kernel/fs/fat/fat.ko" ]] || fail "oracle: unexpected modules.dep: $(cat "$KMI_TMP/two/kmod/modules.dep")"
case_same reversed "$k/fs/fat/msdos.ko" "$k/fs/isofs/isofs.ko" "$k/fs/fat/fat.ko" "$k/drivers/cdrom/cdrom.ko"
case_same outside-and-xz "$KMI_TMP/outside/out_isofs.ko" "$moddir/extra/cdrom_xz.ko.xz" "$k/fs/fat/vfat.ko"
grep -q "^$KMI_TMP/outside/out_isofs.ko:" "$KMI_TMP/outside-and-xz/kmod/modules.dep" ||
	fail "oracle: the outside module should have an absolute path"
case_same missing-dep "$k/fs/fat/vfat.ko"

step "config is not read for explicit paths"
kmi_depmod_pair config "$moddir" -C "$KMI_TMP/conf" -b "$base" "$KVER" "$k/fs/fat/vfat.ko" "$moddir/extra/cdrom_xz.ko.xz"
kmi_expect_same config

# case_fail NAME NEEDLE CODES ARGS...: kmod exits 1 and writes nothing;
# so must we, with an exit code in CODES ("1" or "1 2": a relative path
# may count as a usage error), naming NEEDLE on stderr. Any other code (a
# crash, a sanitizer report) fails.
case_fail() {
	local name=$1 needle=$2 codes=$3 before
	shift 3
	step "$name: must fail"
	before=$(kmi_ls "$moddir")
	kmi_run "$name.kmod" kmod_depmod -b "$base" "$KVER" "$@"
	((KMI_RC == 1)) || fail "oracle: kmod exited $KMI_RC"
	[[ $(kmi_ls "$moddir") == "$before" ]] || fail "oracle: kmod wrote files"
	kmi_run "$name.ours" our_depmod -b "$base" "$KVER" "$@"
	if [[ " $codes " == *" $KMI_RC "* ]]; then
		ok "$name: exit $KMI_RC"
	else
		fail_later "$name: we exited $KMI_RC, want ${codes// / or }"
	fi
	if [[ $(kmi_ls "$moddir") != "$before" ]]; then
		fail_later "$name: we left files in the module dir"
		kmi_remove_outputs "$moddir"
	fi
	if grep -qF -- "$needle" "$KMI_TMP/$name.ours.err"; then
		ok "$name: stderr names '$needle'"
	else
		fail_later "$name: stderr does not name '$needle': $(head -3 "$KMI_TMP/$name.ours.err")"
	fi
}

case_fail relative kernel/fs/fat/vfat.ko "1 2" "$k/fs/fat/fat.ko" kernel/fs/fat/vfat.ko
case_fail missing "$moddir/nope.ko" 1 "$k/fs/fat/fat.ko" "$moddir/nope.ko"
case_fail same-name "$moddir/extra/vfat.ko" 1 "$k/fs/fat/vfat.ko" "$moddir/extra/vfat.ko"

pass
