#!/bin/bash
# depmod.d configuration given with -C, on a small tree with duplicate
# module names in several subdirs and an external dir outside the tree:
#   kernel/fs/fat/{fat,vfat,msdos}.ko kernel/fs/isofs/isofs.ko
#   kernel/fs/udf/udf.ko kernel/lib/crc-itu-t.ko kernel/drivers/cdrom/cdrom.ko
#   updates/vfat.ko  extra/{vfat,fat}.ko  weak-updates/msdos.ko
#   skipme/isofs.ko  kernel/fs/skipme.ko (an excluded name that is a file)
#   <outside>/external/{ext_isofs,cdrom}.ko <outside>/external/sub/udf.ko
# Each config below must give all 10 outputs byte-identical to kmod's:
# default (no search line: only `updates` ranks), search, override (with
# `*`, a matching and a non-matching kernel regex), exclude, external
# (with and without the `external` search keyword), several -C dirs merged
# by sorted basename (first seen wins, non-.conf and hidden files
# ignored), a -C file without .conf, a missing -C path, comments, line
# continuations and a bad line.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
kmi_setup

base=$KMI_TMP/base
moddir=$base/lib/modules/$KVER
step "extract a small tree"
kmi_extract_modules "$base" fat vfat msdos isofs udf crc-itu-t cdrom
k=$moddir/kernel
mkdir -p "$moddir/updates" "$moddir/extra" "$moddir/weak-updates" "$moddir/skipme"
cp "$k/fs/fat/vfat.ko" "$moddir/updates/"
cp "$k/fs/fat/vfat.ko" "$k/fs/fat/fat.ko" "$moddir/extra/"
cp "$k/fs/fat/msdos.ko" "$moddir/weak-updates/"
cp "$k/fs/isofs/isofs.ko" "$moddir/skipme/"
cp "$k/fs/fat/msdos.ko" "$k/fs/skipme.ko"
# Keep only the modules.order lines of modules present (a real subset
# tree from kbuild would have exactly those).
(cd "$moddir" && find kernel -name '*.ko' | sort) >"$KMI_TMP/kos"
grep -xFf "$KMI_TMP/kos" "$moddir/modules.order" >"$KMI_TMP/order" && mv "$KMI_TMP/order" "$moddir/modules.order"

ext=$KMI_TMP/outside/external
mkdir -p "$ext/sub"
cp "$k/fs/isofs/isofs.ko" "$ext/ext_isofs.ko"
cp "$k/drivers/cdrom/cdrom.ko" "$ext/"
cp "$k/fs/udf/udf.ko" "$ext/sub/"

c=$KMI_TMP/conf
mkdir -p "$c"
# conf NAME LINE...: a config dir NAME holding one file NAME.conf.
conf() {
	local name=$1
	shift
	mkdir -p "$c/$name"
	printf '%s\n' "$@" >"$c/$name/$name.conf"
}
conf none "# no search line: only 'updates' ranks above the rest"
conf search "search extra updates built-in"
conf search-builtin-first "search built-in extra"
# readdir order would pick extra/fat.ko here; the override must beat it.
conf override "override vfat * extra" "override fat ^${KVER%%.*}\\. kernel/fs/fat" "override msdos ^2\\.6 weak-updates"
conf exclude "exclude extra weak-updates" "exclude skipme skipme.ko"
conf external "external * $ext"
conf external-first "search updates external built-in" "external $KVER $ext"
conf external-last "search external built-in updates" "external .* $ext"
conf external-nomatch "external ^2\\.6\\. $ext"
conf syntax "# comment" "" "search extra \\" "	built-in" "frobnicate everything" "override vfat" "exclude"

# Several directories: sorted by basename across both, first seen wins.
mkdir -p "$c/dir1" "$c/dir2"
echo "search extra built-in" >"$c/dir1/10-search.conf"
echo "override vfat * updates" >"$c/dir1/50-override.conf"
echo "override vfat * kernel/fs/fat" >"$c/dir2/50-override.conf" # shadowed by dir1's
echo "exclude weak-updates" >"$c/dir2/20-exclude.conf"
echo "exclude kernel" >"$c/dir1/README"      # not .conf: ignored
echo "exclude kernel" >"$c/dir1/.hidden.conf" # hidden: ignored
# A file given directly needs no .conf suffix.
echo "search updates built-in extra" >"$c/plainfile"

run_case() {
	local name=$1
	shift
	step "config: $name"
	kmi_depmod_pair "$name" "$moddir" "$@" -b "$base" "$KVER"
	kmi_expect_same "$name"
}

for name in none search search-builtin-first override exclude external \
	external-first external-last external-nomatch syntax; do
	run_case "$name" -C "$c/$name"
done
run_case dirs -C "$c/dir1" -C "$c/dir2"
run_case file -C "$c/plainfile"
run_case missing-path -C "$KMI_TMP/does-not-exist" -C "$c/search"

# Oracle sanity: the cases do select different modules.
for pair in "none:updates/vfat.ko:" "search:extra/vfat.ko:" "override:extra/vfat.ko:" \
	"override:kernel/fs/fat/fat.ko:" "search-builtin-first:kernel/fs/fat/vfat.ko:" \
	"exclude:kernel/fs/fat/fat.ko:" "external:$ext/ext_isofs.ko:" \
	"external-first:$ext/cdrom.ko:" "dirs:updates/vfat.ko:"; do
	name=${pair%%:*}
	line=${pair#*:}
	grep -q "^$line" "$KMI_TMP/$name/kmod/modules.dep" ||
		fail "oracle: config '$name' should select ${line%:}"
done
grep -q 'skipme' "$KMI_TMP/exclude/kmod/modules.dep" && fail "oracle: exclude did not skip skipme"
grep -q "^$ext" "$KMI_TMP/external-nomatch/kmod/modules.dep" && fail "oracle: non-matching external was used"
grep -q '^weak-updates' "$KMI_TMP/dirs/kmod/modules.dep" && fail "oracle: dir2's exclude was not applied"

pass
