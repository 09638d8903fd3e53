#!/bin/bash
# A dependency cycle: kmodimg_cyc_a exports x and imports y,
# kmodimg_cyc_b exports y and imports x (tests/integration/data/cycle,
# built against the installed headers); kmodimg_cyc_c uses a.
# kmod fails too ("Found 2 modules in dependency cycles!", exit 1, nothing
# written); ours must exit 1, name both cycle modules, and leave the
# previous outputs and the module dir untouched, with and without
# --keep-going (a cycle has no kmod output to fall back to).
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
kmi_setup

prefix=$KMI_TMP/opt
moddir=$prefix/lib/modules/$KVER

step "build the cycle modules"
kmi_build_modules "$KMI_DATA/cycle" "$KMI_TMP/cycle"
mkdir -p "$moddir/extra"

step "previous outputs (kmod, without the cycle)"
cp "$KMI_TMP/cycle/kmodimg_cyc_c.ko" "$moddir/extra/"
depmod -b "$prefix" "$KVER" 2>/dev/null
touch -d '2001-01-01 00:00:00' "$moddir"/modules.{dep,dep.bin,alias,alias.bin,softdep,symbols,symbols.bin,builtin.bin,builtin.alias.bin,devname}

cp "$KMI_TMP/cycle/kmodimg_cyc_a.ko" "$KMI_TMP/cycle/kmodimg_cyc_b.ko" "$moddir/extra/"
step "oracle: kmod -n rejects the cycle"
kmi_run oracle.kmod depmod -n -b "$prefix" "$KVER"
((KMI_RC == 1)) || fail "oracle: kmod exited $KMI_RC on a cycle"
grep -q 'Found 2 modules in dependency cycles' "$KMI_TMP/oracle.kmod.err" || fail "oracle: no cycle message: $(cat "$KMI_TMP/oracle.kmod.err")"
grep -q 'Cycle detected: kmodimg_cyc_[ab] -> kmodimg_cyc_[ab] -> kmodimg_cyc_[ab]' "$KMI_TMP/oracle.kmod.err" ||
	fail "oracle: no 'Cycle detected' line"

step "ours"
kmi_ours_must_fail cycle "$moddir" kmodimg_cyc_a kmodimg_cyc_b -- -b "$prefix" "$KVER"
step "ours --keep-going"
kmi_ours_must_fail cycle-keep-going "$moddir" kmodimg_cyc_a kmodimg_cyc_b -- --keep-going -b "$prefix" "$KVER"
step "ours -n"
kmi_run cycle-n.ours "$KMODIMG" depmod -n -b "$prefix" "$KVER"
((KMI_RC == 1)) || fail_later "cycle -n: exit $KMI_RC, want 1"

pass
