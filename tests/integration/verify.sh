#!/bin/bash
# kmodimg verify on real modules built from examples/ against Debian's
# linux-headers, and on in-tree modules of linux-image: a good image passes;
# a wrong CRC in __versions, a vermagic flag mismatch, a missing dependency,
# another machine, a missing or wrong host link and stale depmod output fail,
# naming the cause; signatures made by the kernel's sign-file are reported as
# modinfo reports them (the oracle) and checked with --cert; a byte patch
# after signing fails.  JSON output and exit codes.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

kmi_setup
kmi_need_cmds jq openssl modinfo
hdr=/usr/src/linux-headers-$KVER
symvers=$hdr/Module.symvers
[[ -f $symvers ]] || skip "no $symvers (install linux-headers-$KVER)"
# the kernel's own signing tool, from Debian's linux-kbuild package
signfile=
for f in /usr/lib/linux-kbuild-*/scripts/sign-file; do
	[[ -x $f ]] && signfile=$f && break
done
modpatch() { python3 "$KMODIMG_SRC/tests/lib/modpatch.py" "$@"; }
mklayout() { python3 "$KMODIMG_SRC/tests/lib/mklayout.py" "$@"; }
ex=$KMI_TMP/ex
kmi_build_examples "$ex"

# image NAME FILE...: an image of the modules (in extra/), built by kmodimg build.
image() {
	local name=$1
	shift
	"$KMODIMG" build --quiet --kernel "$KVER" --subdir extra -t "oci:$KMI_TMP/img:$name" "$@" \
		>/dev/null 2>"$KMI_TMP/build-$name.err" || { cat "$KMI_TMP/build-$name.err"; fail "build $name"; }
}

# expect NAME RC NEEDLE... -- VERIFY-ARGS...: verify exits RC, stdout names every NEEDLE.
expect() {
	local name=$1 rc=$2 needles=() n
	shift 2
	while (($#)) && [[ $1 != -- ]]; do
		needles+=("$1")
		shift
	done
	shift
	kmi_run "v-$name" "$KMODIMG" verify "$@"
	if ((KMI_RC != rc)); then
		fail_later "$name: exit $KMI_RC, want $rc"
		sed 's/^/    /' "$KMI_TMP/v-$name.out" "$KMI_TMP/v-$name.err" | head -30
		return 0
	fi
	for n in "${needles[@]}"; do
		if grep -qF -- "$n" "$KMI_TMP/v-$name.out" "$KMI_TMP/v-$name.err"; then
			ok "$name: exit $rc, names '$n'"
		else
			fail_later "$name: output does not name '$n'"
			sed 's/^/    /' "$KMI_TMP/v-$name.out" | head -30
		fi
	done
}

sv=(--kernel "$KVER" --symvers "$symvers")

step "good image: passes against the headers (Module.symvers and .config)"
image good "$ex/kmodimg_a.ko" "$ex/kmodimg_b.ko"
expect good 0 "OK: nothing stops a load" -- "oci:$KMI_TMP/img:good" "${sv[@]}"
kmi_run good-json "$KMODIMG" verify "oci:$KMI_TMP/img:good" "${sv[@]}" -o json
[[ $KMI_RC == 0 && $(jq -r .verdict "$KMI_TMP/good-json.out") == pass ]] ||
	fail_later "good -o json: rc $KMI_RC, verdict $(jq -r .verdict "$KMI_TMP/good-json.out" 2>&1)"
[[ $(jq -r '.modules | map(.name) | join(",")' "$KMI_TMP/good-json.out") == kmodimg_a,kmodimg_b ]] ||
	fail_later "good -o json: modules $(jq -c .modules "$KMI_TMP/good-json.out")"
[[ $(jq -r .target_vermagic "$KMI_TMP/good-json.out") == "$(modinfo -F vermagic "$ex/kmodimg_a.ko")" ]] ||
	fail_later "target vermagic from the headers' .config differs from the module's"

step "wrong CRC in __versions"
mkdir -p "$KMI_TMP/crc"
cp "$ex"/*.ko "$KMI_TMP/crc/"
modpatch crc "$KMI_TMP/crc/kmodimg_b.ko" kmodimg_a_add
image crc "$KMI_TMP/crc/kmodimg_a.ko" "$KMI_TMP/crc/kmodimg_b.ko"
expect crc 1 "disagrees about version of symbol kmodimg_a_add" "[modversions] kmodimg_b" -- \
	"oci:$KMI_TMP/img:crc" "${sv[@]}"
# between two modules of the image, no target is needed to see it
expect crc-no-target 1 "disagrees about version of symbol kmodimg_a_add" "kmodimg_a exports" -- \
	"oci:$KMI_TMP/img:crc" --kernel "$KVER"
# a CRC of a vmlinux symbol, checked against Module.symvers
cp "$ex/kmodimg_b.ko" "$KMI_TMP/crc/b2.ko"
modpatch crc "$KMI_TMP/crc/b2.ko" _printk
image crc2 "$ex/kmodimg_a.ko" "$KMI_TMP/crc/b2.ko"
expect crc-vmlinux 1 "disagrees about version of symbol _printk" "(Module.symvers)" -- \
	"oci:$KMI_TMP/img:crc2" "${sv[@]}"

step "vermagic: a flag differs (error), the release differs (warning with modversions)"
mkdir -p "$KMI_TMP/vm" "$KMI_TMP/rel"
cp "$ex"/*.ko "$KMI_TMP/vm/"
cp "$ex"/*.ko "$KMI_TMP/rel/"
modpatch vermagic "$KMI_TMP/vm/kmodimg_b.ko" "preempt " ""
image vm "$KMI_TMP/vm/kmodimg_a.ko" "$KMI_TMP/vm/kmodimg_b.ko"
expect vermagic 1 "version magic '$KVER SMP mod_unload modversions ' should be" "preempt model" -- \
	"oci:$KMI_TMP/img:vm" "${sv[@]}"
modpatch vermagic "$KMI_TMP/rel/kmodimg_b.ko" "$KVER" "6.1.0-1-amd64"
"$KMODIMG" build --quiet --force --kernel "$KVER" -t "oci:$KMI_TMP/img:rel" \
	"$KMI_TMP/rel/kmodimg_a.ko" "$KMI_TMP/rel/kmodimg_b.ko" >/dev/null 2>&1 || fail "build rel"
expect release 0 "warning: [vermagic] kmodimg_b: built for release 6.1.0-1-amd64" -- \
	"oci:$KMI_TMP/img:rel" "${sv[@]}"

step "a symbol namespace the module does not import (Module.symvers puts _printk in one)"
awk -F'\t' 'BEGIN { OFS = "\t" } $2 == "_printk" { $5 = "KMI_TEST_NS" } { print }' "$symvers" >"$KMI_TMP/ns.symvers"
cp "$hdr/.config" "$KMI_TMP/.config"
expect namespace 1 "module uses symbol (_printk) from namespace KMI_TEST_NS, but does not import it." -- \
	"oci:$KMI_TMP/img:good" --kernel "$KVER" --symvers "$KMI_TMP/ns.symvers"

step "an export the kernel already has (Module.symvers says vmlinux exports kmodimg_a_add)"
printf '0x12345678\tkmodimg_a_add\tvmlinux\tEXPORT_SYMBOL\t\n' >>"$KMI_TMP/ns.symvers"
expect duplicate 1 "exports duplicate symbol kmodimg_a_add (owned by kernel)" -- \
	"oci:$KMI_TMP/img:good" --kernel "$KVER" --symvers "$KMI_TMP/ns.symvers"

step "missing dependency"
image miss "$ex/kmodimg_b.ko"
expect missing 1 "Unknown symbol kmodimg_a_add" "modinfo depends: kmodimg_a" -- \
	"oci:$KMI_TMP/img:miss" "${sv[@]}"

step "another machine"
mkdir -p "$KMI_TMP/arm"
cp "$ex/kmodimg_a.ko" "$KMI_TMP/arm/"
modpatch machine "$KMI_TMP/arm/kmodimg_a.ko" 183
image arm "$KMI_TMP/arm/kmodimg_a.ko"
expect machine 1 "Invalid architecture in ELF header: 183" "aarch64" -- \
	"oci:$KMI_TMP/img:arm" "${sv[@]}"

step "firmware named by modinfo: in the image, or a warning"
mkdir -p "$KMI_TMP/fwm" "$KMI_TMP/fw/acme"
cp "$ex/kmodimg_a.ko" "$KMI_TMP/fwm/"
modpatch modinfo "$KMI_TMP/fwm/kmodimg_a.ko" description= "firmware=acme/blob.bin"
[[ $(modinfo -F firmware "$KMI_TMP/fwm/kmodimg_a.ko") == acme/blob.bin ]] || fail "firmware patch"
echo blob >"$KMI_TMP/fw/acme/blob.bin"
image fw-missing "$KMI_TMP/fwm/kmodimg_a.ko"
expect fw-missing 0 "warning: [firmware] kmodimg_a: firmware acme/blob.bin not found" -- \
	"oci:$KMI_TMP/img:fw-missing" "${sv[@]}"
image fw "$KMI_TMP/fwm/kmodimg_a.ko" --firmware "$KMI_TMP/fw"
expect fw-present 0 "0 warning(s)" -- "oci:$KMI_TMP/img:fw" "${sv[@]}"

step "layout: wrong --dir-name, other kernels"
expect dir-name 1 "no module directory /usr/lib/modules/$KVER in the image" -- \
	"oci:$KMI_TMP/img:good" "${sv[@]}" --dir-name /usr/

step "depmod output stale or missing, host link to another kernel (hand-made layouts)"
kmi_run x "$KMODIMG" extract "oci:$KMI_TMP/img:good" "$KMI_TMP/r1"
m=$KMI_TMP/r1/opt/lib/modules/$KVER
cp -a "$KMI_TMP/r1" "$KMI_TMP/r2"
cp -a "$KMI_TMP/r1" "$KMI_TMP/r3"
: >"$KMI_TMP/r3/opt/lib/modules/$KVER/modules.dep"
mklayout "$KMI_TMP/r3" "$KMI_TMP/hand" empty
expect empty-dep 1 "modules.dep is stale" "extra/kmodimg_a.ko's line differs" -- "oci:$KMI_TMP/hand:empty" "${sv[@]}"
sed -i 's|^extra/kmodimg_b.ko:.*|extra/kmodimg_b.ko:|' "$m/modules.dep"
mklayout "$KMI_TMP/r1" "$KMI_TMP/hand" stale
expect stale 1 "modules.dep is stale" "the image has \`extra/kmodimg_b.ko:\`" -- "oci:$KMI_TMP/hand:stale" "${sv[@]}"
rm "$KMI_TMP/r2/opt/lib/modules/$KVER/modules.dep.bin"
ln -s /lib/modules/5.10.0-99-amd64 "$KMI_TMP/r2/opt/lib/modules/$KVER/host"
mklayout "$KMI_TMP/r2" "$KMI_TMP/hand" nobin
expect nobin 1 "modules.dep.bin is missing" "host -> /lib/modules/5.10.0-99-amd64" -- \
	"oci:$KMI_TMP/hand:nobin" "${sv[@]}"

step "signatures: sign-file (the kernel's) signs, modinfo is the oracle"
if [[ -z $signfile || ! -x $signfile ]]; then
	fail_later "sign-file not found (linux-kbuild package)"
else
	openssl req -new -nodes -utf8 -sha256 -days 3650 -batch -x509 \
		-subj '/CN=kmodimg verify test key/O=kmodimg' -outform PEM \
		-out "$KMI_TMP/key.crt" -keyout "$KMI_TMP/key.pem" 2>/dev/null
	openssl req -new -nodes -batch -x509 -subj '/CN=another key' -days 2 -outform DER \
		-out "$KMI_TMP/other.der" -keyout "$KMI_TMP/other.pem" 2>/dev/null
	mkdir -p "$KMI_TMP/sig"
	cp "$ex"/*.ko "$KMI_TMP/sig/"
	"$signfile" sha256 "$KMI_TMP/key.pem" "$KMI_TMP/key.crt" "$KMI_TMP/sig/kmodimg_a.ko"
	"$signfile" sha512 "$KMI_TMP/key.pem" "$KMI_TMP/key.crt" "$KMI_TMP/sig/kmodimg_b.ko"
	image sig "$KMI_TMP/sig/kmodimg_a.ko" "$KMI_TMP/sig/kmodimg_b.ko"
	kmi_run sig "$KMODIMG" verify "oci:$KMI_TMP/img:sig" "${sv[@]}" --cert "$KMI_TMP/key.crt" \
		--require-signature -o json
	((KMI_RC == 0)) || fail_later "signed: exit $KMI_RC: $(cat "$KMI_TMP/sig.out")"
	for mod in kmodimg_a kmodimg_b; do
		j=$(jq -c ".modules[] | select(.name == \"$mod\") | .signature" "$KMI_TMP/sig.out")
		want=$(modinfo -F sig_id "$KMI_TMP/sig/$mod.ko")/$(modinfo -F signer "$KMI_TMP/sig/$mod.ko")/$(modinfo -F sig_key "$KMI_TMP/sig/$mod.ko")/$(modinfo -F sig_hashalgo "$KMI_TMP/sig/$mod.ko")
		got=$(jq -r '"\(.id_type)/\(.signer)/\(.key_id)/\(.hash_algo)"' <<<"$j")
		if [[ $got == "$want" ]]; then
			ok "$mod: sig_id/signer/sig_key/sig_hashalgo as modinfo: $got"
		else
			fail_later "$mod: signature info '$got', modinfo says '$want'"
		fi
		[[ $(jq -r .verified <<<"$j") == true ]] || fail_later "$mod: signature not verified: $j"
	done
	mkdir -p "$KMI_TMP/ex2"
	cp "$KMI_TMP/sig"/*.ko "$KMI_TMP/ex2/"
	modpatch flip "$KMI_TMP/ex2/kmodimg_a.ko"
	image patched "$KMI_TMP/ex2/kmodimg_a.ko" "$KMI_TMP/ex2/kmodimg_b.ko"
	expect patched 1 "[signature] kmodimg_a: signature does not verify" "Key was rejected by service" -- \
		"oci:$KMI_TMP/img:patched" "${sv[@]}" --cert "$KMI_TMP/key.crt"
	# the patched module still loads where nobody checks the signature's key: no --cert, no error
	expect patched-nocert 0 "signed (PKCS#7" -- "oci:$KMI_TMP/img:patched" "${sv[@]}"
	expect other-key 0 "signed by another key than --cert's" -- \
		"oci:$KMI_TMP/img:sig" "${sv[@]}" --cert "$KMI_TMP/other.der"
	expect other-key-required 1 "signed by another key" -- \
		"oci:$KMI_TMP/img:sig" "${sv[@]}" --cert "$KMI_TMP/other.der" --require-signature
	expect unsigned 0 "module kmodimg_a (extra/kmodimg_a.ko): unsigned" -- "oci:$KMI_TMP/img:good" "${sv[@]}"
	expect unsigned-required 1 "unsigned module, and --require-signature is set" -- \
		"oci:$KMI_TMP/img:good" "${sv[@]}" --require-signature
	# a broken trailer: the kernel rejects it whatever the keys
	cp "$KMI_TMP/sig/kmodimg_a.ko" "$KMI_TMP/trunc.ko"
	python3 -c 'import sys; p=sys.argv[1]; d=bytearray(open(p,"rb").read()); d[-32]=0x7f; open(p,"wb").write(d)' "$KMI_TMP/trunc.ko"
	image trunc "$KMI_TMP/trunc.ko"
	expect bad-trailer 1 "malformed signature: signature length runs past the start of the file" -- \
		"oci:$KMI_TMP/img:trunc" "${sv[@]}"
fi

step "in-tree dependencies: vfat needs fat, through the host link (tree only: CRCs inferred)"
kmi_extract_modules "$KMI_TMP/tree" vfat fat
tree=$KMI_TMP/tree/lib/modules/$KVER
vfat=$(find "$tree" -name vfat.ko)
"$KMODIMG" build --quiet --kernel "$KVER" --in-tree-link host --kernel-tree "$tree" \
	-t "oci:$KMI_TMP/img:link" "$vfat" "$ex/kmodimg_a.ko" >/dev/null 2>&1 || fail "build link"
"$KMODIMG" build --quiet --kernel "$KVER" -t "oci:$KMI_TMP/img:nolink" "$vfat" >/dev/null 2>&1 ||
	fail "build nolink"
expect link 0 "vmlinux exports inferred from the tree's modules" "module vfat (vfat.ko): signed (PKCS#7" -- \
	"oci:$KMI_TMP/img:link" --kernel "$KVER" --kernel-tree "$tree"
expect link-symvers 0 "0 error(s)" -- "oci:$KMI_TMP/img:link" "${sv[@]}" --kernel-tree "$tree"
# a relative tree: depmod's mirror of the image must still reach it
pushd "$KMI_TMP" >/dev/null
expect link-relative 0 "0 error(s)" -- "oci:img:link" "${sv[@]}" --kernel-tree "tree/lib/modules/$KVER"
popd >/dev/null
# KMM's recipe links to /host/lib/modules/<kver>, where its worker pod mounts the node's tree too
kmi_run x "$KMODIMG" extract "oci:$KMI_TMP/img:link" "$KMI_TMP/rk"
ln -sfn "/host/lib/modules/$KVER" "$KMI_TMP/rk/opt/lib/modules/$KVER/host"
mklayout "$KMI_TMP/rk" "$KMI_TMP/hand" kmmlink
expect kmm-link 0 "0 error(s)" -- "oci:$KMI_TMP/hand:kmmlink" "${sv[@]}" --kernel-tree "$tree"
expect nolink 1 "needs in-tree module fat, but the image has no host link" "Unknown symbol fat_fill_super" -- \
	"oci:$KMI_TMP/img:nolink" --kernel "$KVER" --kernel-tree "$tree"
# a node's tree with more modules than the build saw: the image's lines still hold
kmi_extract_modules "$KMI_TMP/tree2" vfat fat msdos
expect link-other-tree 0 "made against another copy of the target's tree" "0 error(s)" -- \
	"oci:$KMI_TMP/img:link" "${sv[@]}" --kernel-tree "$KMI_TMP/tree2/lib/modules/$KVER"
# vfat's own CRC of a vmlinux symbol, against the one the tree's other modules agree on
mkdir -p "$KMI_TMP/vfatcrc"
cp "$vfat" "$KMI_TMP/vfatcrc/"
modpatch unsign "$KMI_TMP/vfatcrc/vfat.ko"
modpatch crc "$KMI_TMP/vfatcrc/vfat.ko" fat_fill_super
"$KMODIMG" build --quiet --kernel "$KVER" --in-tree-link host --kernel-tree "$tree" \
	-t "oci:$KMI_TMP/img:vfatcrc" "$KMI_TMP/vfatcrc/vfat.ko" >/dev/null 2>&1 || fail "build vfatcrc"
expect vfat-crc 1 "disagrees about version of symbol fat_fill_super" "fat exports" -- \
	"oci:$KMI_TMP/img:vfatcrc" --kernel "$KVER" --kernel-tree "$tree"

step "an interrupted verify leaves no temp dir behind"
mkdir -p "$KMI_TMP/vtmp"
for d in 0.05 0.1 0.2 0.4; do
	rc=0
	TMPDIR=$KMI_TMP/vtmp timeout --preserve-status -s INT "$d" "$KMODIMG" verify "oci:$KMI_TMP/img:link" \
		--kernel "$KVER" --kernel-tree "$tree" >/dev/null 2>&1 || rc=$?
	[[ $rc == 0 || $rc == 130 ]] || fail_later "interrupted after ${d}s: exit $rc, want 130 (or 0)"
done
left=$(ls -A "$KMI_TMP/vtmp")
if [[ -z $left ]]; then
	ok "nothing left in TMPDIR"
else
	fail_later "an interrupted verify left: $left"
fi

step "other references: the local store, a registry (htpasswd)"
"$KMODIMG" build --quiet --store "$KMI_TMP/store" --kernel "$KVER" -t verify/good:1 \
	"$ex/kmodimg_a.ko" "$ex/kmodimg_b.ko" >/dev/null 2>&1 || fail "build into the store"
expect store 0 "OK: nothing stops a load" -- verify/good:1 --store "$KMI_TMP/store" "${sv[@]}"
if command -v docker-registry >/dev/null 2>&1 && command -v htpasswd >/dev/null 2>&1; then
	# shellcheck source=../lib/registry.sh
	. "$KMI_LIB_DIR/registry.sh"
	kmi_reg_start htpasswd
	for t in good crc; do
		"$KMODIMG" copy "${KMI_REG_CLIENT[@]}" "oci:$KMI_TMP/img:$t" "docker://$KMI_REG_HOST/v:$t" \
			>/dev/null || fail "push $t"
	done
	expect registry-good 0 "OK: nothing stops a load" -- "docker://$KMI_REG_HOST/v:good" \
		"${KMI_REG_CLIENT[@]}" "${sv[@]}"
	expect registry-crc 1 "disagrees about version of symbol kmodimg_a_add" -- \
		"docker://$KMI_REG_HOST/v:crc" "${KMI_REG_CLIENT[@]}" "${sv[@]}"
	expect registry-badauth 2 "" -- "docker://$KMI_REG_HOST/v:good" --insecure \
		--creds "$KMI_REG_USER:wrong" "${sv[@]}"
	kmi_reg_stop
else
	echo "(no docker-registry: registry step not run)"
fi

step "usage and access errors"
expect no-kernel 2 "--kernel KVER is required" -- "oci:$KMI_TMP/img:good"
expect bad-symvers 2 "reading \`$KMI_TMP/nope\`: No such file" -- "oci:$KMI_TMP/img:good" --kernel "$KVER" \
	--symvers "$KMI_TMP/nope"
printf '0x1 broken\n' >"$KMI_TMP/bad.symvers"
expect corrupt-symvers 1 "bad.symvers:1: want CRC, symbol and module separated by tabs" -- \
	"oci:$KMI_TMP/img:good" --kernel "$KVER" --symvers "$KMI_TMP/bad.symvers"
expect bad-cert 2 "not an X.509 certificate" -- "oci:$KMI_TMP/img:good" "${sv[@]}" --cert "$symvers"
expect no-tree 2 "--kernel-tree \`$KMI_TMP/nope\`: not a directory" -- "oci:$KMI_TMP/img:good" \
	--kernel "$KVER" --kernel-tree "$KMI_TMP/nope"
expect bad-output 2 "want text or json" -- "oci:$KMI_TMP/img:good" "${sv[@]}" -o yaml
kmi_run no-image "$KMODIMG" verify "oci:$KMI_TMP/img:nope" "${sv[@]}"
((KMI_RC == 1)) || fail_later "missing image: exit $KMI_RC, want 1"
left=$(find "${TMPDIR:-/tmp}" -maxdepth 1 -name 'kmodimg-verify*' -newer "$KMI_TMP/ex" 2>/dev/null | head -3)
[[ -z $left ]] || fail_later "temp dirs left behind: $left"
pass
