#!/bin/bash
# kmodimg verify agrees with the kernel (issue 6's proof).  Each case is a
# kmod image built on the host; `kmodimg verify` judges it on the host
# against the headers' Module.symvers and the guest's module tree, then
# Debian's kernel under qemu loads it with kmod's modprobe (-d, the image's
# tree: in-tree dependencies through its `host` link, as on a node).  For
# every case, the module loads <=> verify exits 0, and every cause the
# kernel gives in dmesg ("disagrees about version of symbol X", "Unknown
# symbol X", "version magic ... should be ...") is named by verify too.
# Cases: good (a, b); a wrong CRC in __versions; a vermagic flag mismatch;
# a missing dependency; a module for another machine; a symbol namespace
# the module does not import; an in-tree dependency without the host link, then
# with it (and the firmware in the image); an in-tree module of Debian's
# 6.12 kernel (a module from another kernel), when apt can fetch it; and
# signatures the kernel checks with its own key: Debian's signed crc8.ko
# as shipped, then with one byte of .text changed after signing ("Key was
# rejected by service").  verify gets that key (--cert) from the kernel
# image itself (tests/lib/kernel-certs.py).  The patched examples are
# unsigned (built so), so the kernel gets past the signature check to the
# cause under test.
# Modules are loaded only in the guest, never on the host.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
# shellcheck source=SCRIPTDIR/../lib/qemu.sh
. "$KMI_LIB_DIR/qemu.sh"
kmi_setup
kmi_qemu_setup
kmi_need_cmds jq

symvers=/usr/src/linux-headers-$KVER/Module.symvers
[[ -f $symvers ]] || skip "no $symvers (install linux-headers-$KVER)"
modpatch() { python3 "$KMODIMG_SRC/tests/lib/modpatch.py" "$@"; }
root=$KMI_TMP/initrd
tree=$root/lib/modules/$KVER
cases=()

step "kernel, guest tree (crc8), example modules"
kmi_qemu_kernel crc8 efivarfs
kmi_qemu_root "$root"
kmi_qemu_add_tree "$root" crc8
ex=$KMI_TMP/ex
kmi_build_examples "$ex" kmodimg_a kmodimg_b kmodimg_c
# the kernel's own module signing certificate, from its image
certopt=()
if python3 "$KMODIMG_SRC/tests/lib/kernel-certs.py" "$KMI_QEMU_VMLINUZ" "$KMI_TMP/kcerts"; then
	certopt=(--cert "$KMI_TMP/kcerts/cert-0.der")
else
	fail_later "no certificate found in $KMI_QEMU_VMLINUZ: signature cases left out"
fi

# add_case NAME MODULE BUILD-ARGS...: image NAME built from BUILD-ARGS,
# verified on the host, extracted into the initramfs at /cases/NAME;
# the guest loads MODULE from it.
add_case() {
	local name=$1 mod=$2
	shift 2
	kmi_run "build-$name" "$KMODIMG" build --quiet --force --kernel "$KVER" \
		-t "oci:$KMI_TMP/img:$name" "$@"
	((KMI_RC == 0)) || fail "build $name: $(cat "$KMI_TMP/build-$name.err")"
	kmi_run "verify-$name" "$KMODIMG" verify "oci:$KMI_TMP/img:$name" --kernel "$KVER" \
		--symvers "$symvers" --kernel-tree "$tree" "${certopt[@]}"
	echo "$KMI_RC" >"$KMI_TMP/verify-$name.rc"
	((KMI_RC <= 1)) || fail "verify $name: exit $KMI_RC: $(cat "$KMI_TMP/verify-$name.err")"
	"$KMODIMG" extract "oci:$KMI_TMP/img:$name" "$root/cases/$name" >/dev/null ||
		fail "extract $name"
	cases+=("$name:$mod")
	echo "case $name: verify exit $KMI_RC"
}

step "cases"
mkdir -p "$KMI_TMP/p" "$root/cases"
add_case good kmodimg_b --subdir extra "$ex/kmodimg_a.ko" "$ex/kmodimg_b.ko"

cp "$ex/kmodimg_b.ko" "$KMI_TMP/p/crc-b.ko"
modpatch crc "$KMI_TMP/p/crc-b.ko" kmodimg_a_add
mkdir -p "$KMI_TMP/p/crc"
cp "$ex/kmodimg_a.ko" "$KMI_TMP/p/crc/"
cp "$KMI_TMP/p/crc-b.ko" "$KMI_TMP/p/crc/kmodimg_b.ko"
add_case crc kmodimg_b --subdir extra "$KMI_TMP/p/crc/kmodimg_a.ko" "$KMI_TMP/p/crc/kmodimg_b.ko"

mkdir -p "$KMI_TMP/p/vm"
cp "$ex/kmodimg_a.ko" "$ex/kmodimg_b.ko" "$KMI_TMP/p/vm/"
modpatch vermagic "$KMI_TMP/p/vm/kmodimg_b.ko" "preempt " ""
add_case vermagic kmodimg_b --subdir extra "$KMI_TMP/p/vm/kmodimg_a.ko" "$KMI_TMP/p/vm/kmodimg_b.ko"

add_case missing kmodimg_b --subdir extra "$ex/kmodimg_b.ko"

# another machine (aarch64): the image is built for it (its platform follows
# the modules), the kernel refuses it before anything else
mkdir -p "$KMI_TMP/p/arm"
cp "$ex/kmodimg_a.ko" "$KMI_TMP/p/arm/"
modpatch machine "$KMI_TMP/p/arm/kmodimg_a.ko" 183
add_case machine kmodimg_a --subdir extra "$KMI_TMP/p/arm/kmodimg_a.ko"

add_case nolink kmodimg_c --subdir extra --firmware "$KMODIMG_EXAMPLES/firmware" "$ex/kmodimg_c.ko"
add_case link kmodimg_c --subdir extra --in-tree-link host --kernel-tree "$tree" \
	--firmware "$KMODIMG_EXAMPLES/firmware" "$ex/kmodimg_c.ko"

# a symbol namespace not imported: Debian's efivarfs.ko without its
# import_ns=EFIVAR (unsigned after the patch)
mkdir -p "$KMI_TMP/p/ns"
cp "$(kmi_qemu_intree_path efivarfs)" "$KMI_TMP/p/ns/efivarfs.ko"
modpatch unsign "$KMI_TMP/p/ns/efivarfs.ko"
modpatch modinfo "$KMI_TMP/p/ns/efivarfs.ko" import_ns= ""
add_case namespace efivarfs --subdir extra "$KMI_TMP/p/ns/efivarfs.ko"

if ((${#certopt[@]})); then
	mkdir -p "$KMI_TMP/p/signed" "$KMI_TMP/p/patched"
	cp "$(kmi_qemu_intree_path crc8)" "$KMI_TMP/p/signed/crc8.ko"
	cp "$(kmi_qemu_intree_path crc8)" "$KMI_TMP/p/patched/crc8.ko"
	modpatch flip "$KMI_TMP/p/patched/crc8.ko"
	add_case signed crc8 --subdir extra "$KMI_TMP/p/signed/crc8.ko"
	add_case patched crc8 --subdir extra "$KMI_TMP/p/patched/crc8.ko"
fi

# A module of another kernel: fat from Debian's 6.12 (bookworm-backports),
# cached in $KMI_CACHE/verify (fetched once, renamed into place).
other_fat() {
	local dir=$KMI_CACHE/verify pkg tmp f
	f=$(find "$dir" -maxdepth 1 -name 'fat-6.12*.ko*' -print -quit 2>/dev/null || true)
	[[ -n $f ]] && { echo "$f"; return 0; }
	pkg=$(apt-cache search --names-only '^linux-image-6\.12\.[0-9.]*\+deb12-amd64-unsigned$' 2>/dev/null |
		awk '{print $1}' | sort -V | tail -1)
	[[ -n $pkg ]] || return 1
	mkdir -p "$dir" && tmp=$(mktemp -d "$dir/.dl.XXXXXX") || return 1
	if (cd "$tmp" && apt-get download "$pkg" >/dev/null 2>&1) &&
		dpkg-deb --fsys-tarfile "$tmp"/*.deb | tar -x -C "$tmp" --wildcards './lib/modules/*/kernel/fs/fat/fat.ko*' &&
		f=$(find "$tmp/lib" -name 'fat.ko*' -print -quit) && [[ -n $f ]]; then
		local kv=${pkg#linux-image-}
		kv=${kv%-unsigned}
		mv "$f" "$dir/fat-$kv.ko${f##*.ko}"
		rm -rf "$tmp"
		find "$dir" -maxdepth 1 -name 'fat-6.12*.ko*' -print -quit
		return 0
	fi
	rm -rf "$tmp"
	return 1
}
if fat612=$(other_fat) && [[ -n $fat612 ]]; then
	mkdir -p "$KMI_TMP/p/other"
	cp "$fat612" "$KMI_TMP/p/other/fat.ko${fat612##*.ko}"
	add_case other fat --subdir extra "$KMI_TMP/p/other/fat.ko${fat612##*.ko}"
else
	echo "no linux-image-6.12 package to take a module from: the other-kernel case is left out"
fi

step "guest: load every case (kmod's modprobe; no kmodimg in the guest)"
{
	printf 'CASES="%s"\n' "${cases[*]}"
	cat <<-'EOF'
		mkdir -p /var/lib/firmware
		printf /var/lib/firmware >/sys/module/firmware_class/parameters/path
		for c in $CASES; do
			name=${c%%:*}
			mod=${c#*:}
			step "case $name: modprobe $mod"
			# the firmware the image carries is where the node's worker would copy it
			rm -rf /var/lib/firmware/*
			[ -d /cases/$name/lib/firmware ] && cp -R /cases/$name/lib/firmware/. /var/lib/firmware/
			echo "KMI-MARK $name" >/dev/kmsg
			run "$name" /sbin/modprobe -d /cases/$name/opt "$mod"
			echo "KMI-CASE $name rc=$RC"
			dmesg | sed -n "/KMI-MARK $name\$/,\$p" | sed "s/^\[[ 0-9.]*\] //; s/^/KMI-DMESG $name /"
			# modprobe words what the kernel returned (EKEYREJECTED has no dmesg line)
			sed "s/^/KMI-DMESG $name /" /tmp/$name.err
			for m in "$mod" kmodimg_b kmodimg_c kmodimg_a crc8 fat efivarfs; do
				grep -q "^$m " /proc/modules && /sbin/rmmod "$m"
			done
			gok "case $name ran"
		done
	EOF
} >"$KMI_TMP/guest.sh"
kmi_qemu_script "$root" "$KMI_TMP/guest.sh"
kmi_qemu_run "$root"

step "verify's verdicts against the kernel's"
for c in "${cases[@]}"; do
	name=${c%%:*}
	vrc=$(cat "$KMI_TMP/verify-$name.rc")
	krc=$(sed -n "s/^KMI-CASE $name rc=//p" "$KMI_QEMU_LOG" | tail -1)
	if [[ -z $krc ]]; then
		fail_later "$name: the guest did not report the case"
		continue
	fi
	sed -n "s/^KMI-DMESG $name //p" "$KMI_QEMU_LOG" >"$KMI_TMP/dmesg-$name"
	if [[ $vrc == 0 && $krc == 0 || $vrc == 1 && $krc != 0 ]]; then
		ok "$name: verify exit $vrc, modprobe exit $krc"
	else
		fail_later "$name: verify exit $vrc but modprobe exit $krc"
		sed 's/^/    verify: /' "$KMI_TMP/verify-$name.out"
		sed 's/^/    dmesg: /' "$KMI_TMP/dmesg-$name"
		continue
	fi
	# the kernel's causes, as dmesg words them (an "Unknown symbol X (err -22)"
	# only repeats an earlier "disagrees about version of symbol X")
	grep -oE "(disagrees about version of symbol [^ ]+|Unknown symbol [^ ]+ \(err -2\)|version magic '[^']*' should be '[^']*'|module uses symbol \([^)]*\) from namespace [^,]*, but does not import it\.|Key was rejected by service|Invalid architecture in ELF header: [0-9]+|Invalid module format)" \
		"$KMI_TMP/dmesg-$name" | sed 's/ (err -2)$//' | sort -u >"$KMI_TMP/causes-$name" || true
	if [[ $krc != 0 && ! -s $KMI_TMP/causes-$name ]]; then
		fail_later "$name: modprobe failed but dmesg gives no cause this test knows"
		sed 's/^/    dmesg: /' "$KMI_TMP/dmesg-$name"
		continue
	fi
	n=0
	while IFS= read -r cause; do
		n=$((n + 1))
		if grep -qF -- "$cause" "$KMI_TMP/verify-$name.out"; then
			((n <= 3)) && ok "$name: verify names the kernel's cause: $cause"
		else
			fail_later "$name: the kernel says '$cause', verify does not"
		fi
	done <"$KMI_TMP/causes-$name"
	((n <= 3)) || ok "$name: ... and $((n - 3)) more causes, all named by verify"
done
pass
