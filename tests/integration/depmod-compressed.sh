#!/bin/bash
# Compressed modules, on a ~30-module subset of the Debian tree (fat,
# vfat, msdos, isofs, cdrom and their deps, plus modules with softdeps,
# devnames and hyphenated names), never the whole tree:
#   - all .ko.xz (as the kernel compresses: --check=crc32, 1 MiB dict),
#   - all .ko.zst,
#   - mixed .ko / .ko.xz (xz defaults, crc64) / .ko.zst,
# each with a modules.order (listing .ko names, as kbuild writes it) and
# without. All 10 outputs byte-identical to kmod's.
# Then .ko.gz, which kmod 30 on Debian silently ignores but we read: our
# modules.dep must list msdos.ko.gz, and with that line removed must be
# kmod's modules.dep.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
kmi_setup
kmi_need_cmds xz zstd gzip

mods=(fat vfat msdos isofs cdrom udf crc-itu-t ext4 crc16 mbcache jbd2
	btrfs xor raid6_pq zstd_compress libcrc32c xfs fuse cuse loop zram
	zsmalloc sr_mod scsi_mod scsi_common tun ppp_generic slhc squashfs
	autofs4 nls_utf8 nls_euc-jp)

src=$KMI_TMP/src
srcdir=$src/lib/modules/$KVER
step "extract ${#mods[@]} modules"
kmi_extract_modules "$src" "${mods[@]}"
(cd "$srcdir" && find kernel -name '*.ko' | sort) >"$KMI_TMP/kos"

step "compress (xz kernel-style, zstd)"
# Compress each format once into pools; variant trees hard-link from them.
while IFS= read -r ko; do
	xz -T0 --check=crc32 --lzma2=dict=1MiB -c "$srcdir/$ko" >"$srcdir/$ko.xz"
	zstd -q -T0 -c "$srcdir/$ko" >"$srcdir/$ko.zst"
done <"$KMI_TMP/kos"

# mktree NAME KIND: $KMI_TMP/NAME, a tree where each module is .ko,
# .ko.xz or .ko.zst; KIND xz|zst|mixed.
mktree() {
	local kind=$2 base=$KMI_TMP/$1 i=0 ko dir sfx
	local moddir=$base/lib/modules/$KVER
	mkdir -p "$moddir"
	cp "$srcdir/modules.builtin" "$srcdir/modules.builtin.modinfo" "$moddir/"
	while IFS= read -r ko; do
		dir=$moddir/$(dirname "$ko")
		mkdir -p "$dir"
		case $kind in
		xz | zst) sfx=.$kind ;;
		mixed)
			case $((i % 3)) in
			0) sfx= ;;
			1) sfx=.xz ;;
			2) sfx=.zst ;;
			esac
			;;
		esac
		if [[ $kind == mixed && $sfx == .xz ]]; then
			# xz's own defaults (crc64 check), unlike the kernel's.
			xz -c "$srcdir/$ko" >"$moddir/$ko.xz"
		else
			ln "$srcdir/$ko$sfx" "$moddir/$ko$sfx"
		fi
		i=$((i + 1))
	done <"$KMI_TMP/kos"
	# kbuild's modules.order lists .ko names whatever the compression;
	# keep the package's order for the modules present.
	grep -xFf "$KMI_TMP/kos" "$srcdir/modules.order" >"$moddir/modules.order"
}

for kind in xz zst mixed; do
	step "$kind, with modules.order"
	mktree "$kind" "$kind"
	moddir=$KMI_TMP/$kind/lib/modules/$KVER
	n=$(find "$moddir" -name '*.ko*' | wc -l)
	((n == ${#mods[@]})) || fail "$kind tree has $n modules, want ${#mods[@]}"
	kmi_depmod_pair "$kind-order" "$moddir" -b "$KMI_TMP/$kind" "$KVER"
	kmi_expect_same "$kind-order"
	ndep=$(wc -l <"$KMI_TMP/$kind-order/kmod/modules.dep")
	((ndep == ${#mods[@]})) || fail "oracle: kmod listed $ndep of ${#mods[@]} $kind modules"

	step "$kind, without modules.order"
	rm "$moddir/modules.order"
	kmi_depmod_pair "$kind-noorder" "$moddir" -b "$KMI_TMP/$kind" "$KVER"
	kmi_expect_same "$kind-noorder"
	rm -rf "${KMI_TMP:?}/$kind"
done
grep -qx 'kernel/fs/fat/vfat.ko.zst: kernel/fs/fat/fat.ko.zst' "$KMI_TMP/zst-order/kmod/modules.dep" ||
	fail "oracle: kmod's modules.dep lacks the vfat.ko.zst line"

step ".ko.gz (ours only: kmod 30 on Debian skips it)"
gz=$KMI_TMP/gz
gzdir=$gz/lib/modules/$KVER
mkdir -p "$gzdir/kernel/fs/fat" "$gzdir/kernel/fs/isofs" "$gzdir/kernel/drivers/cdrom"
ln "$srcdir/kernel/fs/fat/fat.ko.xz" "$gzdir/kernel/fs/fat/"
ln "$srcdir/kernel/fs/fat/vfat.ko.zst" "$gzdir/kernel/fs/fat/"
gzip -n -c "$srcdir/kernel/fs/fat/msdos.ko" >"$gzdir/kernel/fs/fat/msdos.ko.gz"
ln "$srcdir/kernel/fs/isofs/isofs.ko" "$gzdir/kernel/fs/isofs/"
ln "$srcdir/kernel/drivers/cdrom/cdrom.ko.xz" "$gzdir/kernel/drivers/cdrom/"
grep -E '^kernel/(fs/fat|fs/isofs|drivers/cdrom)/' "$srcdir/modules.order" >"$gzdir/modules.order"
kmi_depmod_pair gz "$gzdir" -b "$gz" "$KVER"
gzline="kernel/fs/fat/msdos.ko.gz: kernel/fs/fat/fat.ko.xz"
grep -q 'msdos' "$KMI_TMP/gz/kmod/modules.dep" && fail "oracle: this kmod reads .ko.gz; the .gz check assumes Debian's kmod 30"
kmi_expect_line "$KMI_TMP/gz/ours/modules.dep" "$gzline" "our modules.dep"
if grep -vxF "$gzline" "$KMI_TMP/gz/ours/modules.dep" | cmp -s - "$KMI_TMP/gz/kmod/modules.dep"; then
	ok "gz: our modules.dep minus the msdos line equals kmod's"
else
	fail_later "gz: our modules.dep minus the msdos line differs from kmod's"
	diff -u --label kmod --label ours-minus-msdos "$KMI_TMP/gz/kmod/modules.dep" \
		<(grep -vxF "$gzline" "$KMI_TMP/gz/ours/modules.dep") | head -20 || true
fi
# The .bin value's priority is the line's position in modules.dep.
lineno=$(grep -nxF "$gzline" "$KMI_TMP/gz/ours/modules.dep" | cut -d: -f1) || lineno=1
if grep -qxF "msdos	$((lineno - 1))	$gzline" < <(kmi_dump "$KMI_TMP/gz/ours/modules.dep.bin"); then
	ok "gz: our modules.dep.bin maps msdos to its line"
else
	fail_later "gz: our modules.dep.bin lacks 'msdos<TAB>$((lineno - 1))<TAB>$gzline'"
	kmi_dump "$KMI_TMP/gz/ours/modules.dep.bin" | head -10 || true
fi
grep -qx 'alias fs-msdos msdos' "$KMI_TMP/gz/ours/modules.alias" ||
	fail_later "gz: our modules.alias lacks 'alias fs-msdos msdos'"

pass
