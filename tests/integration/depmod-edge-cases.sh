#!/bin/bash
# Corner cases kmod 30 handles in particular ways; all 10 outputs must be
# byte-identical to kmod's, and the warnings the same. The tree: a small
# Debian subset plus
#   extra/kmodimg_info.ko, extra/kmodimg-dash.ko  (tests/integration/data/
#       modinfo: aliases with '-', a [...] class, unmatched brackets, a
#       duplicate alias, devname/char-major/block-major, softdep, weakdep,
#       a hyphenated module name)
#   extra/fat_copy.ko       fat.ko again: every export twice (the later
#                           module in array order owns the symbol)
#   .hidden/hidden_isofs.ko hidden names are not skipped
#   a/b/c/d/e/f/deep.ko     deep nesting
#   notes.ko.bak README x.KO foo.ko/ (a dir named like a module)
#                           not modules
# Cases:
#   - no modules.order, -w: outputs, "WARNING: ..." records (duplicates,
#     unmatched brackets) and the devname-without-major error identical;
#   - modules.order with a duplicated line (kmod 30 keeps the last), a
#     line for a missing module, blank lines and a .ko name standing for a
#     .ko.xz file;
#   - modules.order whose last line lacks '\n' (kmod skips sorting);
#   - modules.builtin with invalid lines, and modules.builtin.modinfo with
#     quirky records (no '=', empty value, unmatched bracket, equal keys,
#     a record without its final NUL).
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
kmi_setup
kmi_need_cmds xz

base=$KMI_TMP/base
moddir=$base/lib/modules/$KVER
step "extract a subset, build the modinfo fixtures"
kmi_extract_modules "$base" fat vfat msdos isofs cdrom udf crc-itu-t
kmi_build_modules "$KMI_DATA/modinfo" "$moddir/extra"
rm -f "$moddir/extra/Module.symvers"
k=$moddir/kernel
cp "$k/fs/fat/fat.ko" "$moddir/extra/fat_copy.ko"
mkdir -p "$moddir/.hidden" "$moddir/a/b/c/d/e/f" "$moddir/foo.ko"
cp "$k/fs/isofs/isofs.ko" "$moddir/.hidden/hidden_isofs.ko"
cp "$k/fs/fat/msdos.ko" "$moddir/a/b/c/d/e/f/deep.ko"
echo notes >"$moddir/notes.ko.bak"
echo readme >"$moddir/README"
cp "$k/fs/fat/vfat.ko" "$moddir/x.KO"
xz "$k/fs/udf/udf.ko" # udf.ko.xz; modules.order still says udf.ko
mv "$moddir/modules.order" "$KMI_TMP/modules.order.pkg"
cp "$moddir/modules.builtin" "$moddir/modules.builtin.modinfo" "$KMI_TMP/"

# records FILE: WARNING messages (with the second line of a "duplicate"
# warning) and kmod's devname error, without the program name.
records() {
	awk '/WARNING: /{sub(/.*WARNING: /, ""); print; if (/^duplicate /) { if ((getline l) > 0) print l }; next}
	     /ERROR: Module .* has devname/{sub(/.*ERROR: /, ""); print}' "$1"
}

same_records() {
	local name=$1
	if diff -q <(records "$KMI_TMP/$name.kmod.err") <(records "$KMI_TMP/$name.ours.err") >/dev/null; then
		ok "$name: the same $(records "$KMI_TMP/$name.kmod.err" | wc -l) warning lines as kmod"
	else
		fail_later "$name: warnings differ from kmod's"
		diff -u --label kmod --label ours <(records "$KMI_TMP/$name.kmod.err") <(records "$KMI_TMP/$name.ours.err") | head -20 || true
	fi
}

step "no modules.order, -w"
kmi_depmod_pair plain "$moddir" -w -b "$base" "$KVER"
kmi_expect_same plain
same_records plain
r=$KMI_TMP/plain.kmod.err
grep -q 'Unmatched bracket in bad-bracket\[abc' "$r" || fail "oracle: no unmatched-bracket warning"
grep -q "has devname (kmodimg-nomajor) but lacks major" "$r" || fail "oracle: no devname error"
grep -qx 'kmodimg_info kmodimg/info c250:7' "$KMI_TMP/plain/kmod/modules.devname" || fail "oracle: modules.devname"
grep -q '^\.hidden/hidden_isofs.ko:' "$KMI_TMP/plain/kmod/modules.dep" || fail "oracle: hidden module missing"
grep -qi 'x.KO\|notes\|foo.ko:' "$KMI_TMP/plain/kmod/modules.dep" && fail "oracle: a non-module was indexed"

step "modules.order: duplicate line, missing module, blank lines, .ko for .ko.xz"
{
	grep -E 'kernel/(fs/(fat|isofs|udf)|drivers/cdrom|lib/crc-itu-t)/' "$KMI_TMP/modules.order.pkg"
	echo "extra/kmodimg_info.ko"
	echo ""
	echo "kernel/fs/missing/missing.ko"
	echo "extra/kmodimg-dash.ko"
	echo "extra/fat_copy.ko"
	echo ""
	echo "extra/kmodimg_info.ko"
	echo "a/b/c/d/e/f/deep.ko"
} >"$moddir/modules.order"
kmi_depmod_pair order "$moddir" -b "$base" "$KVER"
kmi_expect_same order
grep -qx 'kernel/fs/udf/udf.ko.xz: kernel/lib/crc-itu-t.ko kernel/drivers/cdrom/cdrom.ko' "$KMI_TMP/order/kmod/modules.dep" ||
	fail "oracle: udf.ko.xz line"

step "modules.order whose last line lacks its newline"
printf '%s\n%s' "kernel/fs/fat/vfat.ko" "kernel/fs/fat/fat.ko" >"$moddir/modules.order"
kmi_depmod_pair order-nonl "$moddir" -b "$base" "$KVER"
kmi_expect_same order-nonl
grep -q "corrupted line misses" "$KMI_TMP/order-nonl.kmod.err" || fail "oracle: no corrupted-line error"
rm "$moddir/modules.order"

step "quirky modules.builtin and modules.builtin.modinfo"
{
	cat "$KMI_TMP/modules.builtin"
	printf '/abs/path.ko\n9p.ko\n\nkernel/drivers/foo-bar.ko\nkernel/fs/ext4/ext4.ko\nkernel/x/last.ko'
} >"$moddir/modules.builtin"
{
	cat "$KMI_TMP/modules.builtin.modinfo"
	printf 'bbb.alias=dup-alias\0aaa.alias=dup-alias\0'
	printf 'weird\0'
	printf 'foo.alias\0next.alias=eaten-by-foo\0'
	printf 'x.alias=\0'
	printf 'y.alias=bad[bracket\0'
	printf 'z.description=not an alias\0'
	printf 'w.alias=a-b-c\0'
	printf 'm.alias=of:N*T*Cvendor,foo.bar-baz\0'
	printf 'last.alias=no-final-nul'
} >"$moddir/modules.builtin.modinfo"
kmi_depmod_pair builtin "$moddir" -b "$base" "$KVER"
kmi_expect_same builtin
same_records builtin

pass
