#!/bin/bash
# Issue 4's proof in a real kernel: `kmodimg load`, `kmodimg unload` and
# `kmodimg worker kmod` run inside Debian's kernel under QEMU (one boot,
# tests/lib/qemu.sh), on a kmod image built on the host by `kmodimg build`
# (examples a, b, c; the `host` in-tree link; examples/firmware) and
# passed as the OCI layout oci:/images/kmod:v1. The guest's node tree
# /lib/modules/$KVER holds Debian's crc8.ko (kmodimg_c's dependency) and
# crc7.ko (removed as an in-tree module), indexed by kmod's depmod.
# Checked inside the guest, from /proc/modules, /sys and dmesg:
#   - load --dry-run prints the insmod sequence and loads nothing;
#   - parameters reach /sys/module/<m>/parameters; --kernel is accepted;
#     an unknown parameter is warned about and ignored, as the kernel does;
#     --dir-name finds modules under another root (an image built with
#     --prefix /kmods), and its absence is explained;
#   - the a/b pair: kmodimg_b loads and uses kmodimg_a's symbol;
#   - --remove-in-tree crc7 removes the loaded in-tree module first;
#     kmodimg_c loads with crc8 reached through `host`, also when `host`
#     points to /host/lib/modules/$KVER (KMM's recipe); --firmware-path
#     copies the firmware and sets firmware_class.path (kmodimg_c fails
#     to load without its firmware, and prints the file's text);
#   - unload removes the module and its unused dependencies, and the
#     copied firmware; load with no MODULE loads the whole image, unload
#     with none removes it all; a module not in the image is an error
#     that lists the image's modules; a load that fails midway (kmodimg_c
#     without its firmware) removes the crc8 it loaded; the image is
#     extracted once per digest; modules in use (an in-tree one to
#     remove, one of the image's used by another) are refused;
#   - the kernel's refusals explained (and seen in dmesg): a foreign
#     vermagic, a wrong symbol CRC, a dependency missing from the image,
#     no module directory for the kernel;
#   - worker kmod load|unload with KMM ModuleConfig files: through
#     libkmod (in-tree removal, firmware, parameters, modulesLoadingOrder
#     as softdep), with rawArgs and with args (kmod's modprobe, KMM's
#     argv; the deprecated single inTreeModuleToRemove), with --pull
#     (containerImage fetched by the worker), and an
#     unknown field rejected;
#   - SIGTERM mid-load removes what the load inserted; SIGTERM mid-unload
#     (kmodimg unload, worker kmod unload; held between two removals by a
#     modprobe.d remove command that waits for the test) stops before the
#     next removal, names what was removed and what is still loaded, exits 1.
# The load --dry-run sequence is compared with kmod's modprobe
# --show-depends on the same extracted tree. KMODIMG_QEMU_SHIM=1 runs the
# same guest checks (less those of kmodimg's own promises) against
# tests/lib/kmm-worker-shim.sh, KMM's worker rebuilt from kmod's modprobe.
# Skips (77) while the binary has no `load` command (issue 4 in progress).
# Modules are loaded only in the guest, never on the host.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
# shellcheck source=SCRIPTDIR/../lib/qemu.sh
. "$KMI_LIB_DIR/qemu.sh"
kmi_setup
kmi_qemu_setup

# KMODIMG_QEMU_SHIM=1: run the guest checks against tests/lib/kmm-worker-shim.sh
# (kmod's modprobe driven as KMM's worker does) instead of our commands,
# which proves the checks themselves.
shim=${KMODIMG_QEMU_SHIM:-0}
guest_bin=$(kmi_qemu_kmodimg_bin) || fail "no kmodimg binary for the guest"
if [[ $shim != 1 ]]; then
	for b in "$KMODIMG" "$guest_bin"; do
		"$b" load --help >/dev/null 2>&1 ||
			skip "$b has no 'load' command yet (issue 4: kmodimg load/unload/worker)"
		"$b" worker kmod load --help >/dev/null 2>&1 ||
			skip "$b has no 'worker kmod' command yet (issue 4)"
	done
fi

root=$KMI_TMP/initrd
kmi_qemu_example_guest "$root" crc8 crc7

# Images the kernel must refuse, for the error messages: kmodimg_a with
# its vermagic flags changed (SMP preempt -> SMP PREEMPT, same length:
# the kernel says "version magic ... should be ..."), with the CRC of
# _printk in __versions flipped ("disagrees about version of symbol"),
# and kmodimg_b without kmodimg_a ("Unknown symbol kmodimg_a_add").
patch_ko() {
	python3 - "$@" <<-'EOF'
		import struct, sys
		how, src, dst = sys.argv[1:]
		b = bytearray(open(src, "rb").read())
		if how == "vermagic":
		    old = b" SMP preempt mod_unload "
		    assert b.count(old) == 1, "vermagic flags not found once"
		    i = b.index(old)
		    b[i:i + len(old)] = b" SMP PREEMPT mod_unload "
		else:  # flip the CRC of _printk in __versions (ELF64 little-endian)
		    shoff, = struct.unpack_from("<Q", b, 0x28)
		    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", b, 0x3A)
		    def sec(i):
		        name, _, _, _, off, size = struct.unpack_from("<IIQQQQ", b, shoff + i * shentsize)
		        return name, off, size
		    stroff = sec(shstrndx)[1]
		    for i in range(shnum):
		        name, off, size = sec(i)
		        if bytes(b[stroff + name:stroff + name + 11]) == b"__versions\0":
		            for e in range(off, off + size, 64):
		                if bytes(b[e + 8:e + 16]) == b"_printk\0":
		                    b[e] ^= 0xff
		                    break
		            else:
		                sys.exit("no _printk in __versions")
		            break
		    else:
		        sys.exit("no __versions section")
		open(dst, "wb").write(b)
	EOF
}
bad=$KMI_TMP/bad
mkdir -p "$bad/magic" "$bad/crc"
patch_ko vermagic "$KMI_TMP/ex/kmodimg_a.ko" "$bad/magic/kmodimg_a.ko" || fail "cannot patch the vermagic"
patch_ko crc "$KMI_TMP/ex/kmodimg_a.ko" "$bad/crc/kmodimg_a.ko" || fail "cannot patch a CRC"
for img in magic:"$bad/magic/kmodimg_a.ko" crc:"$bad/crc/kmodimg_a.ko" dep:"$KMI_TMP/ex/kmodimg_b.ko"; do
	kmi_run "bad-${img%%:*}" "$KMODIMG" build --quiet --kernel "$KVER" \
		-t "oci:$root/images/bad-${img%%:*}:v1" "${img#*:}"
	((KMI_RC == 0)) || fail "kmodimg build of bad-${img%%:*}: $(cat "$KMI_TMP/bad-${img%%:*}.err")"
done

# KMM's recipe: the example image with host -> /host/lib/modules/$KVER.
kmi_run kx "$KMODIMG" extract "oci:$root/images/kmod:v1" "$KMI_TMP/kmmlink"
((KMI_RC == 0)) || fail "extract the example image: $(cat "$KMI_TMP/kx.err")"
ln -sfn "/host/lib/modules/$KVER" "$KMI_TMP/kmmlink/opt/lib/modules/$KVER/host"
python3 "$KMODIMG_SRC/tests/lib/mklayout.py" "$KMI_TMP/kmmlink" "$root/images/kmmlink" v1 ||
	fail "the kmmlink layout"

# KMM's dirName other than /opt: kmodimg_a under /kmods.
kmi_run prefix "$KMODIMG" build --quiet --kernel "$KVER" --prefix /kmods \
	-t "oci:$root/images/prefix:v1" "$KMI_TMP/ex/kmodimg_a.ko"
((KMI_RC == 0)) || fail "kmodimg build --prefix /kmods: $(cat "$KMI_TMP/prefix.err")"

if [[ $shim == 1 ]]; then
	mv "$root/usr/bin/kmodimg" "$root/usr/bin/kmodimg.real"
	install -m 755 "$KMI_LIB_DIR/kmm-worker-shim.sh" "$root/usr/bin/kmodimg"
	echo "guest kmodimg: the KMM worker shim (kmod's modprobe)"
fi

{
	echo "KVER=$KVER SHIM=$shim"
	cat "$KMI_DATA/worker-qemu-guest.sh"
} >"$KMI_TMP/guest.sh"
kmi_qemu_script "$root" "$KMI_TMP/guest.sh"

step "boot"
kmi_qemu_run "$root"
step "guest done"
pass
