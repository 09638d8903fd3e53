#!/bin/bash
# kmodimg load/unload on the host, without touching the host kernel (it runs
# another kernel): --dry-run against kmod's `modprobe -d DIR --show-depends`
# on the same extracted tree (the oracle: same lines, byte for byte), the
# state dir (one extraction per digest, reused, a new one when the tag
# moves, concurrent runs; a tree no reference names any more removed,
# without following symlinks), the error messages, and a registry source.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

kmi_setup
kmi_need_cmds sha256sum
ex=$KMI_TMP/ex
kmi_build_examples "$ex"
kmi_extract_modules "$KMI_TMP/tree" vfat fat
vfat=$(find "$KMI_TMP/tree" -name vfat.ko)
mkdir -p "$KMI_TMP/fw/acme"
echo firmware >"$KMI_TMP/fw/acme/blob.bin"

build_image() { # TAG MODULE...
	local tag=$1
	shift
	"$KMODIMG" build --quiet --kernel "$KVER" --in-tree-link host \
		--kernel-tree "$KMI_TMP/tree/lib/modules/$KVER" --subdir extra --firmware "$KMI_TMP/fw" \
		-t "oci:$KMI_TMP/img:$tag" "$@" >/dev/null 2>&1 || fail "kmodimg build ($tag) failed"
}
build_image v1 "$vfat" "$ex/kmodimg_a.ko" "$ex/kmodimg_b.ko"
img=oci:$KMI_TMP/img:v1
st=$KMI_TMP/state
load() { "$KMODIMG" load --state-dir "$st" --kernel "$KVER" "$@"; }
unload() { "$KMODIMG" unload --state-dir "$st" --kernel "$KVER" "$@"; }

# ---------------------------------------------------------------- dry run vs modprobe
step "load --dry-run against modprobe --show-depends"
kmi_run first load "$img" kmodimg_b --dry-run
((KMI_RC == 0)) || fail "load --dry-run: rc $KMI_RC: $(cat "$KMI_TMP/first.err")"
shopt -s nullglob
trees=("$st"/sha256-*)
shopt -u nullglob
((${#trees[@]} == 1)) || fail "want one extracted tree in the state dir, got: ${trees[*]:-none}"
root=${trees[0]}
digest=sha256:${root##*/sha256-}
[[ $(jq -r '.manifests[0].digest' "$KMI_TMP/img/index.json") == "$digest" ]] ||
	fail_later "the tree is not named after the manifest digest"

same_as_modprobe() { # NAME MODULE [PARAMS...]
	local name=$1
	shift
	kmi_run "$name.ours" load "$img" "$@" --dry-run
	kmi_run "$name.kmod" modprobe -d "$root/opt" -S "$KVER" --show-depends "$@"
	((KMI_RC == 0)) || fail "modprobe --show-depends $* failed: $(cat "$KMI_TMP/$name.kmod.err")"
	if cmp -s "$KMI_TMP/$name.ours.out" "$KMI_TMP/$name.kmod.out"; then
		ok "$*: same lines as modprobe --show-depends ($(wc -l <"$KMI_TMP/$name.kmod.out") insmod)"
	else
		fail_later "$*: differs from modprobe --show-depends"
		diff -u --label modprobe --label kmodimg "$KMI_TMP/$name.kmod.out" "$KMI_TMP/$name.ours.out" || true
	fi
}
same_as_modprobe dep kmodimg_b
same_as_modprobe params kmodimg_a base=5
same_as_modprobe params2 kmodimg_b base=5 other=x
same_as_modprobe alias kmodimg-example
same_as_modprobe intree vfat

# Every module of the image: each once, dependencies first.
kmi_run all load "$img" --dry-run
((KMI_RC == 0)) || fail_later "load --dry-run (all): rc $KMI_RC"
sed 's|.*/||; s| *$||' "$KMI_TMP/all.out" >"$KMI_TMP/all.names"
for m in kmodimg_a.ko kmodimg_b.ko vfat.ko; do
	[[ $(grep -cx "$m" "$KMI_TMP/all.names") == 1 ]] || fail_later "all: $m not listed exactly once"
done
[[ $(grep -nx kmodimg_a.ko "$KMI_TMP/all.names" | cut -d: -f1) -lt \
	$(grep -nx kmodimg_b.ko "$KMI_TMP/all.names" | cut -d: -f1) ]] ||
	fail_later "all: kmodimg_a must come before kmodimg_b"
ok "all modules: $(tr '\n' ' ' <"$KMI_TMP/all.names")"

# --order is KMM's modulesLoadingOrder: [b, vfat] is "softdep b pre: vfat".
mkdir -p "$KMI_TMP/softdep.d"
echo "softdep kmodimg_b pre: vfat" >"$KMI_TMP/softdep.d/softdep.conf"
kmi_run order.ours load "$img" kmodimg_b base=1 --order kmodimg_b,vfat --dry-run
kmi_run order.kmod modprobe -C "$KMI_TMP/softdep.d" -d "$root/opt" -S "$KVER" --show-depends kmodimg_b base=1
if cmp -s "$KMI_TMP/order.ours.out" "$KMI_TMP/order.kmod.out"; then
	ok "--order: same lines as modprobe with KMM's softdep.conf"
else
	fail_later "--order differs from modprobe with the softdep"
	diff -u "$KMI_TMP/order.kmod.out" "$KMI_TMP/order.ours.out" || true
fi

# ---------------------------------------------------------------- state dir
step "the state dir: reused while the digest is unchanged"
ino=$(stat -c %i "$root/opt/lib/modules/$KVER/extra/kmodimg_a.ko")
kmi_run again load "$img" kmodimg_b --dry-run -v
[[ $(stat -c %i "$root/opt/lib/modules/$KVER/extra/kmodimg_a.ko") == "$ino" ]] ||
	fail_later "the tree was extracted again"
grep -q "already extracted" "$KMI_TMP/again.err" || fail_later "-v does not say the tree was reused"
# Once index.json is a few seconds old, the reference's record holds its
# stamp and the next run skips index.json; a moved tag must still be seen.
sleep 3
kmi_run stamped load "$img" kmodimg_b --dry-run
rec=$(readlink "$st"/.refs/oci:*img:v1)
[[ $rec == sha256-*@* ]] || fail_later "the record has no index.json stamp: $rec"
build_image v1 "$ex/kmodimg_a.ko" "$ex/kmodimg_b.ko"
kmi_run moved load "$img" kmodimg_b --dry-run -v
grep -q "/sha256-" "$KMI_TMP/moved.out" && ! grep -q "$root" "$KMI_TMP/moved.out" ||
	fail_later "the moved tag still loads from the old tree"
# The old tree was named by no other record: the move removed it.
only_tree() { # NAME TREE: TREE must be the only tree in the state dir
	local t
	shopt -s nullglob
	t=("$st"/sha256-*)
	shopt -u nullglob
	[[ ${#t[@]} == 1 && ${t[0]} == "$2" ]] ||
		fail_later "$1: want only ${2##*/}, the state dir has: ${t[*]##*/}"
}
tree2=$(sed -n 's|.*\('"$st"'/sha256-[0-9a-f]*\)/.*|\1|p' "$KMI_TMP/moved.out" | head -1)
only_tree "a moved tag" "$tree2"
grep -qF "removed the unused tree \`$root\`" "$KMI_TMP/moved.err" ||
	fail_later "-v does not say the old tree was removed: $(cat "$KMI_TMP/moved.err")"
build_image v1 "$vfat" "$ex/kmodimg_a.ko" "$ex/kmodimg_b.ko" # back to the first digest
kmi_run back load "$img" kmodimg_b --dry-run
only_tree "the tag moved back" "$root"
ok "a moved tag leaves one tree, its new one (also when moved back)"

step "the state dir: what a record still names is kept, the rest removed"
# The same image through a second reference text: its record keeps the tree
# when v1 moves away from it.
kmi_run bydigest load "oci:$KMI_TMP/img:$digest" kmodimg_b --dry-run
((KMI_RC == 0)) || fail_later "load by digest: $(cat "$KMI_TMP/bydigest.err")"
build_image v1 "$ex/kmodimg_a.ko" "$ex/kmodimg_b.ko"
kmi_run moved2 load "$img" kmodimg_b --dry-run
[[ -d $root && -d $tree2 ]] ||
	fail_later "a tree another reference names was removed (or v1's new one is missing)"
# Things to remove at the next change: a symlink in the tree to go that
# leads out of the state dir (plus the in-tree link `host`, absolute), a
# temp dir left by a killed extraction, a record whose tree is gone.
mkdir -p "$KMI_TMP/outside/sub"
echo keep >"$KMI_TMP/outside/sub/keep.txt"
ln -s "$KMI_TMP/outside" "$tree2/opt/escape"
ln -s "$KMI_TMP/outside/sub" "$tree2/escape2"
stale=$st/sha256-$(printf '0%.0s' {1..64}).kmodimg-tmp-999999-AbC123
mkdir -p "$stale/opt/lib"
ln -s "$KMI_TMP/outside" "$stale/opt/lib/escape"
ln -s "sha256-$(printf 'e%.0s' {1..64})@1:2" "$st/.refs/oci:nothing"
ln -s "$KMI_TMP/outside" "$st/sha256-$(printf 'f%.0s' {1..64})" # not a tree: not ours
build_image v1 "$vfat" "$ex/kmodimg_a.ko" "$ex/kmodimg_b.ko" # back: $tree2 loses its record
kmi_run moved3 load "$img" kmodimg_b --dry-run -v
[[ -L $st/sha256-$(printf 'f%.0s' {1..64}) ]] || fail_later "a symlink that is no tree was removed"
rm -f "$st/sha256-$(printf 'f%.0s' {1..64})"
only_tree "v1 and the digest on one image again" "$root"
[[ ! -e $stale ]] || fail_later "the temp dir of an interrupted extraction is still there"
[[ ! -L $st/.refs/oci:nothing ]] || fail_later "a record whose tree is gone is still there"
[[ $(cat "$KMI_TMP/outside/sub/keep.txt" 2>/dev/null) == keep ]] ||
	fail_later "removing a tree removed what a symlink in it points to"
grep -qF "removed the temp dir of an interrupted extraction \`$stale\`" "$KMI_TMP/moved3.err" ||
	fail_later "-v does not say the temp dir was removed: $(cat "$KMI_TMP/moved3.err")"
ok "a tree another reference names is kept; an unused one, a stale temp dir and a dead record removed; symlinks not followed"
# A tree that cannot be removed fully is a warning, not a failure.
if command -v chattr >/dev/null && chattr +i "$root/opt" 2>/dev/null; then
	build_image v1 "$ex/kmodimg_a.ko" "$ex/kmodimg_b.ko"
	rm "$st/.refs/oci:"*"sha256:"*
	kmi_run stuck load "$img" kmodimg_b --dry-run
	chattr -i "$root".kmodimg-tmp-*/opt
	((KMI_RC == 0)) && grep -qF "could not remove the unused tree \`$root\` fully" "$KMI_TMP/stuck.err" ||
		fail_later "an unremovable tree: rc $KMI_RC, $(cat "$KMI_TMP/stuck.err")"
	# Its name is free (a half-removed tree is never reused); the rest goes next time.
	[[ ! -e $root ]] || fail_later "a half-removed tree kept its name"
	build_image v1 "$vfat" "$ex/kmodimg_a.ko" "$ex/kmodimg_b.ko"
	kmi_run back2 load "$img" kmodimg_b --dry-run
	only_tree "after the unremovable tree" "$root"
	[[ -z $(find "$st" -maxdepth 1 -name '*kmodimg-tmp*') ]] || fail_later "the rest of the half-removed tree stays"
	ok "a tree that cannot be removed is a warning: $(grep -m1 WARNING "$KMI_TMP/stuck.err" | cut -c1-120)"
fi

# Concurrent first runs: one extraction, all succeed.
st2=$KMI_TMP/state2
pids=()
for i in 1 2 3; do
	"$KMODIMG" load --state-dir "$st2" --kernel "$KVER" "$img" kmodimg_b --dry-run \
		>"$KMI_TMP/conc$i.out" 2>"$KMI_TMP/conc$i.err" &
	pids+=($!)
done
conc_ok=1
for i in 0 1 2; do
	wait "${pids[$i]}" || { conc_ok=0; cat "$KMI_TMP/conc$((i + 1)).err"; }
done
((conc_ok)) || fail_later "concurrent loads failed"
n=$(find "$st2" -mindepth 1 -maxdepth 1 -name 'sha256-*' | wc -l)
left=$(find "$st2" -mindepth 1 -maxdepth 1 -name '*kmodimg-tmp*' | wc -l)
((n == 1 && left == 0)) || fail_later "concurrent runs: $n trees, $left temp dirs"
cmp -s "$KMI_TMP/conc1.out" "$KMI_TMP/conc3.out" || fail_later "concurrent runs printed different plans"
ok "three concurrent first runs: one tree, no temp dirs"

# ---------------------------------------------------------------- errors
step "errors that say what is wrong"
expect_error() { # NAME RC NEEDLE -- CMD...
	local name=$1 rc=$2 needle=$3
	shift 4
	kmi_run "$name" "$@"
	if ((KMI_RC != rc)); then
		fail_later "$name: exit $KMI_RC, want $rc: $(head -3 "$KMI_TMP/$name.err")"
	elif ! grep -qF -- "$needle" "$KMI_TMP/$name.err"; then
		fail_later "$name: stderr lacks '$needle': $(head -3 "$KMI_TMP/$name.err")"
	else
		ok "$name: $(head -1 "$KMI_TMP/$name.err" | cut -c1-160)"
	fi
}
expect_error missing 1 "it has: kmodimg_b, vfat, kmodimg_a" -- load "$img" nosuch --dry-run
expect_error kver 1 "/opt/lib/modules has: $KVER" -- \
	"$KMODIMG" load --state-dir "$st" --kernel 9.9.9-nope "$img" kmodimg_b --dry-run
expect_error dirname 1 "is its module root elsewhere" -- load "$img" kmodimg_b --dir-name /usr --dry-run
expect_error param 2 "is not PARAM=VALUE" -- load "$img" kmodimg_b oops --dry-run
expect_error order 2 "--order must start with MODULE" -- load "$img" kmodimg_b --order vfat,kmodimg_b
# the order becomes softdep lines: a newline must not smuggle in an install command
expect_error order-inject 2 "is not a module name" -- load "$img" kmodimg_b --dry-run \
	--order "kmodimg_b,vfat
install vfat touch $KMI_TMP/injected"
[[ ! -e $KMI_TMP/injected ]] || fail_later "an --order name ran a command"
expect_error noimage 1 "" -- load "oci:$KMI_TMP/img:nosuch" kmodimg_b --dry-run
expect_error unl-missing 1 "it has:" -- unload "$img" nosuch --dry-run
expect_error usage 2 "want REF" -- "$KMODIMG" load
# Nothing happened on the node for the failures above: no firmware dir was made.
kmi_run fwmissing load "$img" nosuch --firmware-path "$KMI_TMP/hostfw"
[[ ! -e $KMI_TMP/hostfw ]] || fail_later "a failed load copied firmware"

# ---------------------------------------------------------------- unload
step "unload --dry-run: nothing of the image is loaded on this host"
kmi_run unl unload "$img" --dry-run
((KMI_RC == 0)) && [[ ! -s $KMI_TMP/unl.out ]] || fail_later "unload --dry-run: rc $KMI_RC, out: $(cat "$KMI_TMP/unl.out")"
kmi_run unl2 unload "$img" kmodimg_b --order kmodimg_b,kmodimg_a --dry-run
((KMI_RC == 0)) || fail_later "unload --order --dry-run: rc $KMI_RC $(cat "$KMI_TMP/unl2.err")"

# The image is gone (layout deleted): unload uses the tree load extracted.
# Also for a reference too long to name its record in the state dir as is.
long=$KMI_TMP/$(printf 'l%.0s' {1..120})/$(printf 'o%.0s' {1..120})
for gone in "$KMI_TMP/img-gone" "$long/img-gone"; do
	mkdir -p "${gone%/*}"
	cp -a "$KMI_TMP/img" "$gone"
	kmi_run gone1 load "oci:$gone:v1" kmodimg_b --dry-run
	rm -rf "$gone"
	kmi_run gone2 unload "oci:$gone:v1" kmodimg_b --dry-run
	((KMI_RC == 0)) && grep -q "using the tree" "$KMI_TMP/gone2.err" ||
		fail_later "unload of a deleted image (${#gone} bytes): rc $KMI_RC $(cat "$KMI_TMP/gone2.err")"
	kmi_run gone3 load "oci:$gone:v1" kmodimg_b --dry-run
	((KMI_RC != 0)) || fail_later "load of a deleted image must fail (only unload falls back)"
done
ok "unload of an image that is gone falls back to its extracted tree; load does not"

# The tree is reused without reading the manifest again, but only while the
# layout still names the digest and holds the manifest's blob.
cp -a "$KMI_TMP/img" "$KMI_TMP/img-noblob"
rm "$KMI_TMP/img-noblob/blobs/sha256/${digest#sha256:}"
expect_error noblob 1 "${digest}" -- load "oci:$KMI_TMP/img-noblob:v1" kmodimg_b --dry-run
rm -rf "$KMI_TMP/img-noblob"

# In-tree removal looks at the node's tree only: a name it lacks is skipped.
mkdir -p "$KMI_TMP/node/$KVER"
: >"$KMI_TMP/node/$KVER/modules.dep"
KMODIMG_HOST_MODULES=$KMI_TMP/node kmi_run intree load "$img" kmodimg_b --remove-in-tree dummy --dry-run -v
((KMI_RC == 0)) && grep -q "in-tree module \`dummy\` is not in" "$KMI_TMP/intree.err" ||
	fail_later "in-tree removal of a module the node lacks: rc $KMI_RC $(cat "$KMI_TMP/intree.err")"

# ---------------------------------------------------------------- registry
if command -v docker-registry >/dev/null 2>&1; then
	step "a registry source"
	. "$KMI_LIB_DIR/registry.sh"
	kmi_reg_start plain
	"$KMODIMG" copy --quiet "${KMI_REG_CLIENT[@]}" "$img" "docker://$KMI_REG_HOST/kmod/ex:v1" >/dev/null 2>&1 ||
		fail "push to the registry failed"
	kmi_run reg "$KMODIMG" load --state-dir "$KMI_TMP/state3" --kernel "$KVER" "${KMI_REG_CLIENT[@]}" \
		"docker://$KMI_REG_HOST/kmod/ex:v1" kmodimg_b --dry-run
	sed "s|$KMI_TMP/state3|$st|" "$KMI_TMP/reg.out" | cmp -s - "$KMI_TMP/dep.ours.out" ||
		fail_later "registry source: rc $KMI_RC, $(cat "$KMI_TMP/reg.err")"
	ok "registry image extracted to the same digest and plan"
	kmi_reg_stop
	# The registry is gone: what was loaded from it can still be unloaded.
	kmi_run reg-gone "$KMODIMG" unload --state-dir "$KMI_TMP/state3" --kernel "$KVER" "${KMI_REG_CLIENT[@]}" \
		"docker://$KMI_REG_HOST/kmod/ex:v1" kmodimg_b --dry-run
	((KMI_RC == 0)) && grep -q "using the tree" "$KMI_TMP/reg-gone.err" ||
		fail_later "unload with the registry gone: rc $KMI_RC $(cat "$KMI_TMP/reg-gone.err")"
fi
pass
