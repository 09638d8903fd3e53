#!/bin/bash
# KMM's "symbolic links for in-tree dependencies": a prefix tree whose
# module dir holds
#   vfat.ko                  copied from the Debian tree (needs fat, in-tree;
#                            its name also exists on the host side)
#   extra/myisofs.ko         isofs.ko under a unique name (needs cdrom)
#   extra/kmodimg_{a,b}.ko   the example modules
#   host -> <extracted Debian tree>/lib/modules/$KVER
# kmod follows the link and records every host module as host/...; the
# duplicate vfat is decided by depmod.d `search` (given with -C), or by
# readdir order when there is no search line (both tools see the same
# directory, so they must pick the same one).
# Checks: all 10 outputs byte-identical for each config; modprobe
# --show-depends vfat / myisofs / kmodimg_b identical with either index.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
kmi_setup

hostroot=$KMI_TMP/hostroot
hostdir=$hostroot/lib/modules/$KVER
prefix=$KMI_TMP/opt
moddir=$prefix/lib/modules/$KVER

step "extract linux-image-$KVER (the host side)"
kmi_extract_tree "$hostroot"

step "build the example modules, assemble the prefix tree"
kmi_build_examples "$moddir/extra"
rm -f "$moddir/extra/Module.symvers"
cp "$hostdir/kernel/fs/fat/vfat.ko" "$moddir/vfat.ko"
cp "$hostdir/kernel/fs/isofs/isofs.ko" "$moddir/extra/myisofs.ko"
ln -s "$hostdir" "$moddir/host"

conf=$KMI_TMP/conf
mkdir -p "$conf/builtin-first" "$conf/host-first" "$conf/none"
echo "search built-in host" >"$conf/builtin-first/search.conf"
echo "search host built-in" >"$conf/host-first/search.conf"

step "search built-in host: the top-level vfat.ko wins"
kmi_depmod_pair builtin-first "$moddir" -C "$conf/builtin-first" -b "$prefix" "$KVER"
kmi_expect_same builtin-first
for who in kmod ours; do
	f=$KMI_TMP/builtin-first/$who/modules.dep
	kmi_expect_line "$f" "vfat.ko: host/kernel/fs/fat/fat.ko" "$who modules.dep"
	kmi_expect_line "$f" "extra/myisofs.ko: host/kernel/drivers/cdrom/cdrom.ko" "$who modules.dep"
	kmi_expect_line "$f" "extra/kmodimg_b.ko: extra/kmodimg_a.ko" "$who modules.dep"
	grep -q '^host/kernel/fs/fat/vfat.ko:' "$f" && fail_later "$who modules.dep keeps the host vfat.ko too"
	grep -q '^host/kernel/fs/isofs/isofs.ko:' "$f" || fail_later "$who modules.dep lacks host/kernel/fs/isofs/isofs.ko"
done
kmi_modprobe_same builtin-first "$prefix" vfat
expected="insmod $moddir/host/kernel/fs/fat/fat.ko 
insmod $moddir/vfat.ko "
[[ $(cat "$KMI_TMP/builtin-first.mp.kmod.out") == "$expected" ]] ||
	fail "oracle: modprobe --show-depends vfat: $(cat "$KMI_TMP/builtin-first.mp.kmod.out")"
kmi_modprobe_same builtin-first "$prefix" myisofs
kmi_modprobe_same builtin-first "$prefix" kmodimg_b

step "search host built-in: the host vfat.ko wins"
kmi_depmod_pair host-first "$moddir" -C "$conf/host-first" -b "$prefix" "$KVER"
kmi_expect_same host-first
kmi_expect_line "$KMI_TMP/host-first/ours/modules.dep" "host/kernel/fs/fat/vfat.ko: host/kernel/fs/fat/fat.ko" "our modules.dep"
kmi_modprobe_same host-first "$prefix" vfat

step "no search line: readdir order decides, identically for both"
kmi_depmod_pair readdir "$moddir" -C "$conf/none" -b "$prefix" "$KVER"
kmi_expect_same readdir

pass
