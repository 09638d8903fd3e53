#!/bin/bash
# A KMM-style image tree: the example modules alone under
# <prefix>/lib/modules/$KVER/extra/, no modules.order, no builtin files
# (what `depmod -b /opt $KVER` sees in a KMM module image).
#   - all 10 outputs byte-identical to kmod's;
#   - modules.dep has `extra/kmodimg_b.ko: extra/kmodimg_a.ko`;
#   - `modprobe -d PREFIX -S KVER --show-depends kmodimg_b` resolves the
#     same insmod lines from our index as from kmod's;
#   - a relative -b;
#   - existing outputs are replaced by rename (hard links to the old files
#     keep the old bytes; new inodes; no temp file left);
#   - output modes follow the umask as kmod 30's do (umask 027 -> 0640).
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
kmi_setup

prefix=$KMI_TMP/opt
moddir=$prefix/lib/modules/$KVER

step "build the example modules"
kmi_build_examples "$moddir/extra"
rm -f "$moddir/extra/Module.symvers"

step "depmod -b PREFIX KVER"
kmi_depmod_pair kmm "$moddir" -b "$prefix" "$KVER"
kmi_expect_same kmm
kmi_expect_line "$KMI_TMP/kmm/kmod/modules.dep" "extra/kmodimg_b.ko: extra/kmodimg_a.ko" "kmod's modules.dep"
kmi_expect_line "$KMI_TMP/kmm/ours/modules.dep" "extra/kmodimg_b.ko: extra/kmodimg_a.ko" "our modules.dep"

step "modprobe --show-depends kmodimg_b"
kmi_modprobe_same kmm "$prefix" kmodimg_b
# Oracle sanity: modprobe loads a before b.
expected="insmod $moddir/extra/kmodimg_a.ko 
insmod $moddir/extra/kmodimg_b.ko "
[[ $(cat "$KMI_TMP/kmm.mp.kmod.out") == "$expected" ]] || {
	cat "$KMI_TMP/kmm.mp.kmod.out"
	fail "oracle: unexpected modprobe --show-depends output with kmod's index"
}

step "relative -b (kmod makes it absolute against the cwd)"
pushd "$KMI_TMP" >/dev/null
kmi_depmod_pair kmm-rel "$moddir" -b opt "$KVER"
popd >/dev/null
kmi_expect_same kmm-rel

step "existing outputs are replaced by rename, never rewritten in place"
# Hard links to the old outputs must keep the old bytes (an in-place
# rewrite would change them too), and each output gets a new inode.
depmod -b "$prefix" "$KVER" 2>/dev/null
mkdir -p "$KMI_TMP/links"
echo "stale" >"$moddir/modules.dep" # differs from what depmod will write
for f in "${KMI_OUTPUTS[@]}"; do
	ln "$moddir/$f" "$KMI_TMP/links/$f"
done
sums_before=$(kmi_sums "$KMI_TMP/links")
before=$(kmi_ls "$moddir")
kmi_run replace.ours our_depmod -b "$prefix" "$KVER"
((KMI_RC == 0)) || fail_later "replace: exit $KMI_RC"
[[ $(kmi_ls "$moddir") == "$before" ]] || fail_later "replace: the module dir listing changed (temp file left?)"
[[ $(kmi_sums "$KMI_TMP/links") == "$sums_before" ]] || fail_later "replace: an old output was rewritten in place"
for f in "${KMI_OUTPUTS[@]}"; do
	[[ $(stat -c %i "$moddir/$f") != $(stat -c %i "$KMI_TMP/links/$f") ]] ||
		fail_later "replace: $f kept its inode (written in place)"
done
cmp -s "$moddir/modules.dep" "$KMI_TMP/kmm/kmod/modules.dep" || fail_later "replace: new modules.dep differs from kmod's"
kmi_remove_outputs "$moddir"

step "file modes follow the umask as kmod's (umask 027)"
(umask 027 && depmod -b "$prefix" "$KVER" 2>/dev/null)
kmodmodes=$(cd "$moddir" && stat -c '%n %a' "${KMI_OUTPUTS[@]}")
kmi_remove_outputs "$moddir"
(umask 027 && "$KMODIMG" depmod -b "$prefix" "$KVER" 2>/dev/null) || fail_later "umask: our run failed"
ourmodes=$(cd "$moddir" && stat -c '%n %a' "${KMI_OUTPUTS[@]}" 2>&1) || true
if [[ $ourmodes == "$kmodmodes" ]]; then
	ok "umask 027: same modes as kmod ($(echo "$kmodmodes" | head -1))"
else
	fail_later "umask 027: modes differ from kmod's"
	# shellcheck disable=SC2001
	paste <(echo "$kmodmodes" | sed 's/^/    kmod: /') <(echo "$ourmodes" | sed 's/^/ours: /') | head -10 || true
fi
kmi_remove_outputs "$moddir"

pass
