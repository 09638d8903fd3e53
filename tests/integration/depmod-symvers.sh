#!/bin/bash
# Kernel symbols and symbol checks (-E, -F, -e, -P) on the example modules,
# where kmodimg_b.ko's __versions was patched: the CRC of one vmlinux
# symbol (module_layout if present) and of kmodimg_a_add (exported by
# kmodimg_a, whose CRC comes from its __crc_ symbol) are wrong.
# For every case: all 10 outputs byte-identical to kmod's, same exit code,
# and the same WARNING lines in the same order (compared after
# "WARNING: ", since the program name prefix differs).
#   - -E <headers>/Module.symvers -e: two "disagrees about version" lines;
#   - -E without -e: no warnings;
#   - -E with a symvers that also claims kmodimg_a_add for vmlinux (the
#     module export replaces it) and has non-vmlinux and bad lines;
#   - -F with a small synthetic System.map lacking one needed symbol:
#     "needs unknown symbol";
#   - -F with a System.map without any exported symbol: every import is
#     reported once;
#   - -F ... -P _ -e (symbol prefix);
#   - -e alone: "-e needs -E or -F".
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
kmi_setup

prefix=$KMI_TMP/opt
moddir=$prefix/lib/modules/$KVER
symvers=/usr/src/linux-headers-$KVER/Module.symvers

step "build the example modules"
kmi_build_examples "$moddir/extra"
rm -f "$moddir/extra/Module.symvers"
[[ -f $symvers ]] || skip "no $symvers"
# Inputs present, so the only warnings are about symbols.
printf 'extra/kmodimg_a.ko\nextra/kmodimg_b.ko\n' >"$moddir/modules.order"
: >"$moddir/modules.builtin"
: >"$moddir/modules.builtin.modinfo"

step "patch CRCs in kmodimg_b.ko's __versions"
# Prints the vmlinux symbol it patched. ELF64 little-endian; a
# __versions entry is { u64 crc; char name[56]; }.
vsym=$(python3 - "$moddir/extra/kmodimg_b.ko" "$symvers" <<'EOF'
import struct, sys
path, symvers = sys.argv[1], sys.argv[2]
vmlinux = set()
for line in open(symvers):
    f = line.split('\t')
    if len(f) >= 3 and f[2] == 'vmlinux':
        vmlinux.add(f[1])
b = bytearray(open(path, 'rb').read())
assert b[:4] == b'\x7fELF' and b[4] == 2 and b[5] == 1, 'not ELF64 LE'
shoff, = struct.unpack_from('<Q', b, 0x28)
shentsize, shnum, shstrndx = struct.unpack_from('<HHH', b, 0x3a)
def sh(i):
    return struct.unpack_from('<IIQQQQIIQQ', b, shoff + i * shentsize)
stroff = sh(shstrndx)[4]
entries = []
for i in range(shnum):
    s = sh(i)
    name = b[stroff + s[0]:b.index(0, stroff + s[0])].decode()
    if name == '__versions':
        for o in range(s[4], s[4] + s[5], 64):
            entries.append((o, bytes(b[o + 8:o + 64]).split(b'\0')[0].decode()))
names = [n for _, n in entries]
assert 'kmodimg_a_add' in names, 'kmodimg_a_add not in __versions: %r' % names
vm = [n for n in names if n in vmlinux]
assert vm, 'no vmlinux symbol in __versions'
target = 'module_layout' if 'module_layout' in vm else vm[0]
for o, n in entries:
    if n in (target, 'kmodimg_a_add'):
        crc, = struct.unpack_from('<Q', b, o)
        struct.pack_into('<Q', b, o, crc ^ 0x5a5a5a5a)
open(path, 'wb').write(b)
print(target)
EOF
) || fail "could not patch kmodimg_b.ko"
echo "patched kmodimg_a_add and $vsym"

# warnings NAME TOOL: the WARNING messages of a run, prefix stripped.
warnings() {
	sed -n 's/.*WARNING: //p' "$KMI_TMP/$1.$2.err"
}

# run_case NAME EXPECTED-WARNINGS DEPMOD-ARGS...: outputs, exit code and
# warning lines must equal kmod's; EXPECTED-WARNINGS is how many lines
# kmod must print (oracle sanity), or "any".
run_case() {
	local name=$1 nwarn=$2 rc_kmod
	shift 2
	step "$name: depmod $*"
	kmi_run "$name.kmod" kmod_depmod "$@" -b "$prefix" "$KVER"
	rc_kmod=$KMI_RC
	kmi_move_outputs "$moddir" "$KMI_TMP/$name/kmod"
	kmi_run "$name.ours" our_depmod "$@" -b "$prefix" "$KVER"
	kmi_move_outputs "$moddir" "$KMI_TMP/$name/ours"
	((rc_kmod == 0)) || fail "oracle: kmod exited $rc_kmod: $(cat "$KMI_TMP/$name.kmod.err")"
	((KMI_RC == rc_kmod)) || fail_later "$name: we exited $KMI_RC, kmod $rc_kmod"
	kmi_expect_same "$name"
	local n
	n=$(warnings "$name" kmod | wc -l)
	[[ $nwarn == any ]] || ((n == nwarn)) || {
		cat "$KMI_TMP/$name.kmod.err"
		fail "oracle: kmod printed $n warnings, expected $nwarn"
	}
	if diff -q <(warnings "$name" kmod) <(warnings "$name" ours) >/dev/null; then
		ok "$name: same $n warning(s) as kmod"
	else
		fail_later "$name: warnings differ from kmod's"
		diff -u --label kmod --label ours <(warnings "$name" kmod) <(warnings "$name" ours) | head -20 || true
	fi
}

run_case symvers-e 2 -E "$symvers" -e
grep -qxF "$moddir/extra/kmodimg_b.ko disagrees about version of symbol $vsym" <(warnings symvers-e kmod) ||
	fail "oracle: kmod did not flag $vsym"
grep -qxF "$moddir/extra/kmodimg_b.ko disagrees about version of symbol kmodimg_a_add" <(warnings symvers-e kmod) ||
	fail "oracle: kmod did not flag kmodimg_a_add"

run_case symvers-quiet 0 -E "$symvers"

# A symvers claiming kmodimg_a_add for vmlinux: the module export, loaded
# later, replaces it, so b still depends on a. Non-vmlinux lines are
# ignored; a line with a bad CRC is an error message, not fatal.
mixed=$KMI_TMP/Module.symvers.mixed
{
	cat "$symvers"
	printf '0x00000001\tkmodimg_a_add\tvmlinux\tEXPORT_SYMBOL\t\n'
	printf '0x12345678\tsome_module_sym\tdrivers/foo/foo\tEXPORT_SYMBOL_GPL\t\n'
	printf '0xZZZZ\tbad_crc_sym\tvmlinux\tEXPORT_SYMBOL\t\n'
	printf 'short line\n'
} >"$mixed"
run_case symvers-mixed 2 -E "$mixed" -e
kmi_expect_line "$KMI_TMP/symvers-mixed/ours/modules.dep" "extra/kmodimg_b.ko: extra/kmodimg_a.ko" "symvers-mixed: our modules.dep"

# A small System.map: __ksymtab_ entries for the vmlinux symbols the two
# modules import, except $vsym; some noise and one malformed line.
map=$KMI_TMP/System.map
python3 - "$moddir/extra/kmodimg_a.ko" "$moddir/extra/kmodimg_b.ko" "$symvers" "$vsym" >"$map" <<'EOF'
import struct, sys
*mods, symvers, drop = sys.argv[1:]
vmlinux = {l.split('\t')[1] for l in open(symvers) if l.count('\t') >= 2 and l.split('\t')[2] == 'vmlinux'}
need = []
for path in mods:
    b = open(path, 'rb').read()
    shoff, = struct.unpack_from('<Q', b, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from('<HHH', b, 0x3a)
    sh = lambda i: struct.unpack_from('<IIQQQQIIQQ', b, shoff + i * shentsize)
    stroff = sh(shstrndx)[4]
    for i in range(shnum):
        s = sh(i)
        if b[stroff + s[0]:b.index(0, stroff + s[0])] == b'__versions':
            for o in range(s[4], s[4] + s[5], 64):
                n = b[o + 8:o + 64].split(b'\0')[0].decode()
                if n in vmlinux and n != drop and n not in need:
                    need.append(n)
addr = 0xffffffff81000000
print('%016x T _stext' % addr)
for n in need:
    addr += 0x10
    print('%016x r __ksymtab_%s' % (addr, n))
    print('%016x T %s' % (addr + 8, n))
print('%016x r __kstrtab_noise' % (addr + 0x100))
print('malformed-line-without-fields')
EOF
run_case sysmap-e 2 -F "$map" -e
grep -qxF "$moddir/extra/kmodimg_a.ko needs unknown symbol $vsym" <(warnings sysmap-e kmod) ||
	fail "oracle: kmod did not report $vsym unknown"

# A System.map without any __ksymtab_ entry: every import is unknown, so
# each one is reported once, in kmod's order (.symtab imports first, then
# the __versions records no .symtab entry named, such as module_layout;
# modpost does not write __versions in .symtab order).
nomap=$KMI_TMP/System.map.empty
printf 'ffffffff81000000 T _stext\nffffffff81000100 r __kstrtab_noise\n' >"$nomap"
run_case sysmap-empty any -F "$nomap" -e
(($(warnings sysmap-empty kmod | wc -l) >= 4)) || fail "oracle: too few unknown symbols with an empty System.map"

# kmod decides how many warnings -P _ gives (every symbol loses its
# leading '_' on lookup); run it once to learn the count.
step "symbol prefix"
kmi_run prefix-probe.kmod kmod_depmod -F "$map" -P _ -e -b "$prefix" "$KVER"
kmi_move_outputs "$moddir" "$KMI_TMP/prefix-probe"
nprefix=$(sed -n 's/.*WARNING: //p' "$KMI_TMP/prefix-probe.kmod.err" | wc -l)
run_case sysmap-prefix "$nprefix" -F "$map" -P _ -e
((nprefix > 2)) || fail "oracle: -P _ should hide the System.map symbols ($nprefix warnings)"

run_case e-alone 1 -e
grep -qx -- '-e needs -E or -F' <(warnings e-alone kmod) || fail "oracle: no '-e needs -E or -F'"

pass
