#!/bin/bash
# The qemu harness (tests/lib/qemu.sh) proven with kmod's own modprobe:
# Debian's kernel boots under TCG with an initramfs holding busybox, kmod,
# the kmodimg binary, part of the node's module tree (crc8, crc7) and a
# kmod image built on the host by `kmodimg build` (examples a, b and c,
# the `host` in-tree link, the example firmware) as an OCI layout.
# Inside the guest:
#   - `kmodimg extract` unpacks the image (the binary runs there);
#   - modprobe -d loads kmodimg_a with base=5 (seen in /sys/module),
#     then kmodimg_b, which uses kmodimg_a's symbol (/proc/modules, dmesg);
#   - kmodimg_c fails while its firmware is not on the search path, then
#     loads with the in-tree crc8 reached through `host` once the firmware
#     is copied and firmware_class.path points at it (dmesg shows the
#     firmware's text);
#   - modprobe -r of c and b leaves nothing of them (nor crc8) loaded;
#   - the probe helper: a+b load, b alone is refused with the kernel's
#     "Unknown symbol", both read back on the host.
# Modules are loaded only in the guest, never on the host.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
# shellcheck source=SCRIPTDIR/../lib/qemu.sh
. "$KMI_LIB_DIR/qemu.sh"
kmi_setup
kmi_qemu_setup

root=$KMI_TMP/initrd
kmi_qemu_example_guest "$root" crc8 crc7

{
	echo "KVER=$KVER"
	cat <<-'EOF'
		step "kmodimg extract in the guest"
		run extract kmodimg extract oci:/images/kmod:v1 /run/img
		check_rc "kmodimg extract" 0
		m=/run/img/opt/lib/modules/$KVER
		check "the image's host link points at the node's tree" [ "$(readlink "$m/host")" = "/lib/modules/$KVER" ]
		check "modules.dep reaches crc8 through host" grep -qx "kmodimg_c.ko: host/kernel/lib/crc8.ko" "$m/modules.dep"

		step "the example pair, with a parameter"
		run a /sbin/modprobe -v -d /run/img/opt kmodimg_a base=5
		check_rc "modprobe kmodimg_a base=5" 0
		check_file "parameter" /sys/module/kmodimg_a/parameters/base 5
		run b /sbin/modprobe -v -d /run/img/opt kmodimg_b
		check_rc "modprobe kmodimg_b" 0
		check_loaded kmodimg_a kmodimg_b
		check_used_by kmodimg_a kmodimg_b
		check_dmesg "kmodimg_b called kmodimg_a" "kmodimg_a_add(2,3)=10"

		step "kmodimg_c: firmware and an in-tree dependency"
		run c0 /sbin/modprobe -v -d /run/img/opt kmodimg_c
		check "kmodimg_c fails while its firmware is not on the search path" [ "$RC" != 0 ]
		check_not_loaded kmodimg_c
		check_dmesg "the kernel looked for the firmware" "kmodimg_c: firmware kmodimg/hello.txt not found"
		check_out "crc8 came through the host link" c0 "/run/img/opt/lib/modules/$KVER/host/kernel/lib/crc8.ko"
		check_loaded crc8
		mkdir -p /var/lib/firmware
		cp -R /run/img/lib/firmware/. /var/lib/firmware/
		printf /var/lib/firmware >/sys/module/firmware_class/parameters/path
		run c /sbin/modprobe -v -d /run/img/opt kmodimg_c
		check_rc "modprobe kmodimg_c" 0
		check_loaded crc8 kmodimg_c
		check_used_by crc8 kmodimg_c
		check_dmesg "kmodimg_c read its firmware" 'says "kmodimg example firmware v1"'

		step "unload"
		run r /sbin/modprobe -v -r -d /run/img/opt kmodimg_c kmodimg_b
		check_rc "modprobe -r kmodimg_c kmodimg_b" 0
		check_not_loaded kmodimg_a kmodimg_b kmodimg_c crc8

		step "probes: what the kernel says about a set of module files"
		probe pair "$m/kmodimg_a.ko" "$m/kmodimg_b.ko"
		probe b-alone "$m/kmodimg_b.ko"
		check_not_loaded kmodimg_a kmodimg_b
	EOF
} >"$KMI_TMP/guest.sh"
kmi_qemu_script "$root" "$KMI_TMP/guest.sh"

step "boot"
kmi_qemu_run "$root"
step "guest done"
[[ $(kmi_qemu_probe_rc pair) == 0 ]] || fail_later "probe pair: rc $(kmi_qemu_probe_rc pair), want 0"
grep -qF 'kmodimg_a_add(2,3)=5' < <(kmi_qemu_probe_log pair) ||
	fail_later "probe pair: no kmodimg_b message in its log"
[[ $(kmi_qemu_probe_rc b-alone) == 1 ]] || fail_later "probe b-alone: rc $(kmi_qemu_probe_rc b-alone), want 1"
grep -qF 'Unknown symbol kmodimg_a_add' < <(kmi_qemu_probe_log b-alone) ||
	fail_later "probe b-alone: the kernel's reason is not in its log"
kmi_qemu_probe_log b-alone | sed 's/^/    b-alone: /'
ok "probes read back on the host"
pass
