#!/bin/bash
# kmodimg load/unload on the host, without touching the host kernel (it runs
# another kernel): --dry-run against kmod's `modprobe -d DIR --show-depends`
# on the same extracted tree (the oracle: same lines, byte for byte), the
# state dir (one extraction per digest, reused, a new one when the tag
# moves, concurrent runs), the error messages, and a registry source.
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
kmi_run moved load "$img" kmodimg_b --dry-run
shopt -s nullglob
trees=("$st"/sha256-*)
shopt -u nullglob
((${#trees[@]} == 2)) || fail_later "a moved tag must give a second tree, got ${#trees[@]}"
grep -q "/sha256-" "$KMI_TMP/moved.out" && ! grep -q "$root" "$KMI_TMP/moved.out" ||
	fail_later "the moved tag still loads from the old tree"
build_image v1 "$vfat" "$ex/kmodimg_a.ko" "$ex/kmodimg_b.ko" # back to the first digest

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
