#!/bin/bash
# Our deliberately strict symlink handling (kmod only prints an error and
# exits 0, or recurses until it runs out of file descriptors):
#   - dangling `host` dir link, and a dangling .ko link: exit 1, stderr
#     names the link and its target, the outputs of the previous run keep
#     their bytes/inode/mtime, no temp file left;
#   - symlink loops (`loop -> .`, `kernel/fs/up -> ../..`, an absolute
#     link to the module dir, `self -> self`): exit 1 within 20 s, the link
#     named, outputs untouched;
#   - --keep-going on the dangling-link tree: exit 0 and outputs
#     byte-identical to kmod's on the same tree;
#   - --keep-going on a loop: exit 0, the loop not followed, so outputs
#     byte-identical to kmod's on the tree without the loop link.
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

# Outputs of a good run, which every failing run must leave alone.
step "previous outputs (kmod, clean tree)"
depmod -b "$base" "$KVER" 2>/dev/null
touch -d '2001-01-01 00:00:00' "$moddir"/modules.{dep,dep.bin,alias,alias.bin,softdep,symbols,symbols.bin,builtin.bin,builtin.alias.bin,devname}

# oracle_exit0 ARGS: kmod must exit 0 on the broken tree (it only prints
# an error), run on a scratch copy of the outputs so they stay unchanged.
oracle_exit0() {
	local name=$1 save=$KMI_TMP/save
	shift
	kmi_move_outputs "$moddir" "$save"
	kmi_run "$name.kmod" timeout 120 depmod "$@"
	((KMI_RC == 0)) || fail "oracle: kmod exited $KMI_RC on $name"
	kmi_remove_outputs "$moddir"
	kmi_move_outputs "$save" "$moddir"
}

step "dangling host link"
target=$KMI_TMP/nonexistent/lib/modules/$KVER
ln -s "$target" "$moddir/host"
oracle_exit0 dangling-host -b "$base" "$KVER"
grep -q "fstatat(.*host): No such file or directory" "$KMI_TMP/dangling-host.kmod.err" ||
	fail "oracle: kmod did not report the dangling link"
kmi_ours_must_fail dangling-host "$moddir" host "$target" -- -b "$base" "$KVER"

step "--keep-going on the dangling host link"
kmi_move_outputs "$moddir" "$KMI_TMP/prev"
KMI_OURS_ARGS=(--keep-going)
kmi_depmod_pair keep-dangling "$moddir" -b "$base" "$KVER"
KMI_OURS_ARGS=()
kmi_expect_same keep-dangling
grep -qF "$target" "$KMI_TMP/keep-dangling.ours.err" || fail_later "keep-dangling: the warning does not name $target"
rm "$moddir/host"
kmi_move_outputs "$KMI_TMP/prev" "$moddir"

step "dangling .ko link"
ln -s /nonexistent/kmodimg-test/gone.ko "$moddir/kernel/gone.ko"
kmi_ours_must_fail dangling-ko "$moddir" gone.ko /nonexistent/kmodimg-test/gone.ko -- -b "$base" "$KVER"
rm "$moddir/kernel/gone.ko"

# loop_case NAME LINK TARGET: a loop must fail fast and name the link.
loop_case() {
	local name=$1 link=$2 target=$3
	step "symlink loop: ${link#"$moddir"/} -> $target"
	ln -s "$target" "$link"
	kmi_ours_must_fail "$name" "$moddir" "$(basename "$link")" -- -b "$base" "$KVER"
	rm "$link"
}
loop_case loop-dot "$moddir/loop" .
loop_case loop-parent "$moddir/kernel/fs/up" ../..
loop_case loop-abs "$moddir/kernel/abs" "$moddir"
loop_case loop-self "$moddir/self" self

step "--keep-going on a loop: not followed"
kmi_move_outputs "$moddir" "$KMI_TMP/prev"
kmi_run noloop.kmod depmod -b "$base" "$KVER"
kmi_move_outputs "$moddir" "$KMI_TMP/keep-loop/kmod"
ln -s . "$moddir/loop"
before=$(kmi_ls "$moddir")
kmi_run keep-loop.ours timeout 20 "$KMODIMG" depmod --keep-going -b "$base" "$KVER"
if ((KMI_RC != 0)); then
	fail_later "keep-loop: --keep-going exited $KMI_RC: $(head -3 "$KMI_TMP/keep-loop.ours.err")"
else
	kmi_check_created "kmodimg depmod --keep-going" "$before" "$moddir"
	kmi_move_outputs "$moddir" "$KMI_TMP/keep-loop/ours"
	kmi_expect_same keep-loop
	grep -q loop "$KMI_TMP/keep-loop.ours.err" || fail_later "keep-loop: no warning names the loop"
fi
rm "$moddir/loop"

pass
