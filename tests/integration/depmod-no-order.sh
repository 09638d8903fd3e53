#!/bin/bash
# The full Debian tree without modules.order: module order is then kmod's
# hash order (SuperFastHash & 511, strcmp within a bucket), as in a KMM
# /opt image. Then the builtin inputs are varied on the same tree:
#   - modules.builtin{,.modinfo} missing: kmod writes 0-byte .bin files;
#   - both present but empty: kmod writes 12-byte empty indexes.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
kmi_setup

base=$KMI_TMP/base
moddir=$base/lib/modules/$KVER

step "extract linux-image-$KVER"
kmi_extract_tree "$base"
mv "$moddir/modules.order" "$KMI_TMP/"

step "no modules.order"
kmi_depmod_pair noorder "$moddir" -b "$base" "$KVER"
kmi_expect_same noorder
# Oracle sanity: the module order really is not modules.order's.
cut -d: -f1 "$KMI_TMP/noorder/kmod/modules.dep" | cmp -s - "$KMI_TMP/modules.order" &&
	fail "oracle: modules.dep follows modules.order although it was removed"
kmi_expect_line "$KMI_TMP/noorder/ours/modules.dep" "kernel/fs/fat/vfat.ko: kernel/fs/fat/fat.ko" "our modules.dep"

step "no modules.order, no modules.builtin, no modules.builtin.modinfo"
mv "$moddir/modules.builtin" "$moddir/modules.builtin.modinfo" "$KMI_TMP/"
kmi_depmod_pair nobuiltin "$moddir" -b "$base" "$KVER"
kmi_expect_same nobuiltin
for f in modules.builtin.bin modules.builtin.alias.bin; do
	[[ -f $KMI_TMP/nobuiltin/kmod/$f && ! -s $KMI_TMP/nobuiltin/kmod/$f ]] ||
		fail "oracle: kmod's $f should be 0 bytes without builtin inputs"
done

step "empty modules.builtin and modules.builtin.modinfo"
: >"$moddir/modules.builtin"
: >"$moddir/modules.builtin.modinfo"
kmi_depmod_pair emptybuiltin "$moddir" -b "$base" "$KVER"
kmi_expect_same emptybuiltin
[[ $(stat -c %s "$KMI_TMP/emptybuiltin/kmod/modules.builtin.bin") == 12 ]] ||
	fail "oracle: kmod's modules.builtin.bin should be a 12-byte empty index"

pass
