#!/bin/bash
# -A / --quick: regenerate only when some module file is newer than
# modules.dep, in whole seconds (kmod 30), walking like the main walk
# (build/source skipped, symlinks followed, only module suffixes count).
# Each scenario starts both tools from the same state (outputs from a
# normal run, modules at T0, outputs at T0+100) and must give the same
# decision (modules.dep rewritten or not), the same exit code and, when
# rewritten, byte-identical outputs; when not rewritten, our run must not
# touch the module dir at all.
# The setup functions are called through a variable:
# shellcheck disable=SC2317
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
kmi_setup

base=$KMI_TMP/base
moddir=$base/lib/modules/$KVER
outside=$KMI_TMP/outside
T0=1600000000

step "extract a subset, add a symlinked dir and a build/ dir"
kmi_extract_modules "$base" fat vfat msdos isofs cdrom udf crc-itu-t
(cd "$moddir" && find kernel -name '*.ko' | sort) >"$KMI_TMP/kos"
grep -xFf "$KMI_TMP/kos" "$moddir/modules.order" >"$KMI_TMP/order" && mv "$KMI_TMP/order" "$moddir/modules.order"
mkdir -p "$outside" "$moddir/build"
cp "$moddir/kernel/fs/isofs/isofs.ko" "$outside/linked_isofs.ko"
ln -s "$outside" "$moddir/linked"
cp "$moddir/kernel/fs/fat/msdos.ko" "$moddir/build/built_msdos.ko"
echo "notes" >"$moddir/README"

reset_mtimes() {
	find "$moddir" "$outside" -name '*.ko' -exec touch -h -d "@$T0" {} +
	touch -d "@$T0" "$outside/linked_isofs.ko" "$moddir/README" "$moddir/modules.order"
}

step "baseline outputs"
reset_mtimes
depmod -b "$base" "$KVER" 2>/dev/null
kmi_move_outputs "$moddir" "$KMI_TMP/baseline"

state() {
	(cd "$moddir" && find . -maxdepth 1 -printf '%f %s %i %T@\n' | sort)
}

# scenario NAME WANT SETUP [EXTRA-FLAGS]: WANT is "write" or "keep", kmod's
# expected decision; SETUP is a command run after the reset; an empty
# baseline name "none" means start without any outputs.
scenario() {
	local name=$1 want=$2 setup=$3 flags=${4:-} tool ino rc wrote before
	declare -A got
	step "$name (kmod: $want)"
	for tool in kmod ours; do
		kmi_remove_outputs "$moddir"
		reset_mtimes
		if [[ $setup != no-outputs ]]; then
			kmi_copy_outputs "$KMI_TMP/baseline" "$moddir"
			touch -d "@$((T0 + 100))" "$moddir"/modules.{dep,dep.bin,alias,alias.bin,softdep,symbols,symbols.bin,builtin.bin,builtin.alias.bin,devname}
			$setup
		fi
		ino=$(stat -c %i "$moddir/modules.dep" 2>/dev/null || echo none)
		before=$(state)
		# shellcheck disable=SC2086
		kmi_run "$name.$tool" "${tool/ours/our}_depmod" -A $flags -b "$base" "$KVER"
		rc=$KMI_RC
		if [[ $(stat -c %i "$moddir/modules.dep" 2>/dev/null || echo none) != "$ino" ]]; then
			wrote="write"
		else
			wrote="keep"
		fi
		got[$tool]="$wrote rc=$rc"
		if [[ $tool == ours && $wrote == keep && $(state) != "$before" ]]; then
			fail_later "$name: kept modules.dep but changed the module dir:"
			diff <(echo "$before") <(state) | head -10 || true
		fi
		kmi_move_outputs "$moddir" "$KMI_TMP/$name/$tool"
	done
	[[ ${got[kmod]} == "$want rc=0" ]] || fail "oracle: kmod -A $flags in '$name': ${got[kmod]}, expected $want rc=0"
	if [[ ${got[ours]} != "${got[kmod]}" ]]; then
		fail_later "$name: kmod ${got[kmod]}, ours ${got[ours]}"
		head -5 "$KMI_TMP/$name.ours.err" || true
	elif [[ $want == write ]]; then
		kmi_expect_same "$name"
	else
		ok "$name: both kept the outputs"
	fi
	if [[ -n $flags ]] && ! cmp -s "$KMI_TMP/$name.kmod.out" "$KMI_TMP/$name.ours.out"; then
		fail_later "$name: stdout differs from kmod's"
	fi
}

# Setups, called through scenario's SETUP argument.
touch_new() { touch -d "@$((T0 + 200))" "$moddir/kernel/fs/fat/vfat.ko"; }
touch_same_second() { touch -d "@$((T0 + 100)).700000000" "$moddir/kernel/fs/fat/vfat.ko"; }
touch_linked() { touch -d "@$((T0 + 200))" "$outside/linked_isofs.ko"; }
touch_build() { touch -d "@$((T0 + 200))" "$moddir/build/built_msdos.ko"; }
touch_other() { touch -d "@$((T0 + 200))" "$moddir/README" "$moddir/modules.order"; }
touch_dep_older() { touch -d "@$((T0 - 1))" "$moddir/modules.dep"; }
drop_alias_bin() { rm "$moddir/modules.alias.bin"; }
nothing() { :; }

scenario no-outputs write no-outputs
scenario up-to-date keep nothing
scenario module-newer write touch_new
scenario same-second keep touch_same_second
scenario via-symlink write touch_linked
scenario in-build-dir keep touch_build
scenario non-module-newer keep touch_other
scenario dep-older write touch_dep_older
# Only modules.dep's mtime is consulted: a missing index stays missing.
scenario other-output-missing keep drop_alias_bin
# -A with -n does nothing at all, even when outdated.
scenario quick-dry-run keep touch_new -n

pass
