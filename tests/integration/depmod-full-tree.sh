#!/bin/bash
# The whole Debian module tree (~4000 modules) with modules.order,
# modules.builtin and modules.builtin.modinfo, as the kernel package ships
# it: all 10 outputs must be byte-identical to kmod 30's. The tree also
# gets the build/source links an installed system has (source dangling):
# both tools skip those names without looking at them. Also checks -a,
# -v's stdout ("needs" lines) and -w's duplicate warnings against kmod's.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
kmi_setup

base=$KMI_TMP/base
moddir=$base/lib/modules/$KVER

step "extract linux-image-$KVER"
kmi_extract_tree "$base"
[[ -f $moddir/modules.order && -f $moddir/modules.builtin && -f $moddir/modules.builtin.modinfo ]] ||
	fail "package tree lacks modules.order/modules.builtin/modules.builtin.modinfo"
nko=$(find "$moddir" -name '*.ko' | wc -l)
echo "tree: $nko modules"
((nko > 1000)) || fail "expected a full tree, found $nko modules"

ln -s "/usr/src/linux-headers-$KVER" "$moddir/build"
ln -s "/nonexistent/kmodimg-test/source" "$moddir/source"

step "depmod -b BASE KVER"
kmi_depmod_pair full "$moddir" -b "$base" "$KVER"
kmi_expect_same full

# Sanity on the oracle side: one line per module, in modules.order order.
ndep=$(wc -l <"$KMI_TMP/full/kmod/modules.dep")
((ndep == nko)) || fail "kmod's modules.dep has $ndep lines for $nko modules"
kmi_expect_line "$KMI_TMP/full/ours/modules.dep" "kernel/fs/fat/vfat.ko: kernel/fs/fat/fat.ko" "our modules.dep"

step "depmod -a -b BASE KVER (explicit -a, same result)"
kmi_depmod_pair full-a "$moddir" -a -b "$base" "$KVER"
kmi_expect_same full-a

step "-v: the same outputs and the same 'X needs \"sym\": Y' lines on stdout"
# kmod prints one line per (module, new dependency), naming the first
# symbol that resolved to it: this pins the import order per module.
kmi_depmod_pair verbose "$moddir" -v -b "$base" "$KVER"
kmi_expect_same verbose
n=$(grep -c ' needs "' "$KMI_TMP/verbose.kmod.out") || fail "oracle: kmod -v printed no 'needs' line"
if cmp -s "$KMI_TMP/verbose.kmod.out" "$KMI_TMP/verbose.ours.out"; then
	ok "verbose: stdout identical to kmod's ($n 'needs' lines)"
else
	fail_later "verbose: stdout differs from kmod's"
	diff -u --label kmod --label ours "$KMI_TMP/verbose.kmod.out" "$KMI_TMP/verbose.ours.out" | head -40 || true
fi

step "-w: the same duplicate warnings"
# kmod's -w messages span two lines ("WARNING: duplicate module alias:"
# then "<alias> <module>"); compare both, without the program name.
dups() {
	awk '/WARNING: duplicate /{sub(/.*WARNING: /, ""); print; if ((getline l) > 0) print l}' "$1"
}
kmi_depmod_pair warn "$moddir" -w -b "$base" "$KVER"
kmi_expect_same warn
n=$(dups "$KMI_TMP/warn.kmod.err" | wc -l)
((n > 0)) || fail "oracle: kmod -w printed no duplicate warning"
if diff -q <(dups "$KMI_TMP/warn.kmod.err") <(dups "$KMI_TMP/warn.ours.err") >/dev/null; then
	ok "warn: the same $((n / 2)) duplicate warnings as kmod"
else
	fail_later "warn: duplicate warnings differ from kmod's"
	diff -u --label kmod --label ours <(dups "$KMI_TMP/warn.kmod.err") <(dups "$KMI_TMP/warn.ours.err") | head -20 || true
fi

pass
