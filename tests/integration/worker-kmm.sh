#!/bin/bash
# kmodimg worker kmod load|unload CONFIG, the drop-in for KMM's worker, on
# the host without touching its kernel: KMM's argv for args and rawArgs
# (recorded by a stand-in modprobe on PATH, and run through kmod's real
# modprobe with --dry-run to prove the argv works), firmware copied and
# removed with the firmware class path set in a fake sysfs, the libkmod
# path's plan against modprobe with KMM's softdep.conf, strict config
# errors, and --pull.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

kmi_setup
ex=$KMI_TMP/ex
kmi_build_examples "$ex"
kmi_extract_modules "$KMI_TMP/tree" vfat fat
vfat=$(find "$KMI_TMP/tree" -name vfat.ko)
mkdir -p "$KMI_TMP/fw/acme"
echo firmware >"$KMI_TMP/fw/acme/blob.bin"
"$KMODIMG" build --quiet --kernel "$KVER" --in-tree-link host \
	--kernel-tree "$KMI_TMP/tree/lib/modules/$KVER" --subdir extra --firmware "$KMI_TMP/fw" \
	-t "oci:$KMI_TMP/img:v1" "$vfat" "$ex/kmodimg_a.ko" "$ex/kmodimg_b.ko" >/dev/null 2>&1 ||
	fail "kmodimg build failed"
# What KMM's init container leaves in the pod's /tmp: the image's files.
root=$KMI_TMP/podtmp
"$KMODIMG" extract "oci:$KMI_TMP/img:v1" "$root" || fail "extract failed"

# A stand-in modprobe that only records its argv (one word per line).
mkdir -p "$KMI_TMP/fakebin"
cat >"$KMI_TMP/fakebin/modprobe" <<EOF2
#!/bin/sh
printf '%s\n' "\$@" >"$KMI_TMP/argv"
EOF2
chmod +x "$KMI_TMP/fakebin/modprobe"
fake_worker() { PATH=$KMI_TMP/fakebin:$PATH "$KMODIMG" worker "$@"; }

# The node: a fake sysfs (firmware class path) and a module tree for the
# in-tree check that names a module no kernel has loaded.
sys=$KMI_TMP/sys
mkdir -p "$sys/module/firmware_class/parameters" "$KMI_TMP/node/$(uname -r)"
echo >"$sys/module/firmware_class/parameters/path"
echo "kernel/drivers/kmodimg_no_such_intree.ko:" >"$KMI_TMP/node/$(uname -r)/modules.dep"
export KMODIMG_SYSFS=$sys KMODIMG_HOST_MODULES=$KMI_TMP/node
hostfw=$KMI_TMP/hostfw
mkdir -p "$hostfw/other"
echo keep >"$hostfw/other/keep.bin"

cfg() { # NAME: YAML on stdin
	cat >"$KMI_TMP/$1.yaml"
}
argv_is() { # WHO WORDS...
	local who=$1
	shift
	if [[ $(cat "$KMI_TMP/argv") == "$(printf '%s\n' "$@")" ]]; then
		ok "$who: modprobe $*"
	else
		fail_later "$who: modprobe argv $(tr '\n' ' ' <"$KMI_TMP/argv"), want $*"
	fi
}

# ---------------------------------------------------------------- args
step "args: KMM's argv, firmware, class path"
cfg args <<EOF2
containerImage: registry.local/org/img:tag
kernelVersion: $KVER
inTreeModulesToRemove: [kmodimg_no_such_intree, not_in_node_tree]
modprobe:
  moduleName: kmodimg_b
  parameters: [base=1]
  dirName: /opt
  args: {load: [-S, $KVER], unload: [-S, $KVER]}
  firmwarePath: /lib/firmware
  modulesLoadingOrder: [kmodimg_b, kmodimg_a]
EOF2
kmi_run args-load fake_worker kmod load "$KMI_TMP/args.yaml" --root "$root" --firmware-path "$hostfw"
((KMI_RC == 0)) || fail "worker kmod load (args): rc $KMI_RC: $(cat "$KMI_TMP/args-load.err")"
argv_is "load" -vd "$root/opt" -S "$KVER" kmodimg_b base=1
cmp -s "$hostfw/acme/blob.bin" "$KMI_TMP/fw/acme/blob.bin" || fail_later "firmware not copied into $hostfw"
[[ $(cat "$sys/module/firmware_class/parameters/path") == "$hostfw" ]] ||
	fail_later "firmware class path: '$(cat "$sys/module/firmware_class/parameters/path")'"
grep -q "not_in_node_tree\` is not in" "$KMI_TMP/args-load.err" ||
	fail_later "the in-tree module the node lacks is not reported as skipped"
ok "firmware copied, class path set, in-tree check against the node's tree"

kmi_run args-unload fake_worker kmod unload "$KMI_TMP/args.yaml" --root "$root" --firmware-path "$hostfw"
((KMI_RC == 0)) || fail "worker kmod unload (args): rc $KMI_RC: $(cat "$KMI_TMP/args-unload.err")"
argv_is "unload" -rvd "$root/opt" -S "$KVER" kmodimg_b kmodimg_a
[[ ! -e $hostfw/acme/blob.bin && -d $hostfw/acme && -f $hostfw/other/keep.bin ]] ||
	fail_later "unload: the image's firmware files must go, directories and other files stay"

# The same argv through kmod's real modprobe, with --dry-run among the args.
cfg real <<EOF2
modprobe:
  moduleName: kmodimg_b
  parameters: [base=1]
  dirName: /opt
  args: {load: [--dry-run, -S, $KVER], unload: [--dry-run, -S, $KVER]}
EOF2
kmi_run real-load "$KMODIMG" worker kmod load "$KMI_TMP/real.yaml" --root "$root"
kmi_run real-kmod modprobe -vd "$root/opt" -S "$KVER" --show-depends kmodimg_b base=1
if ((KMI_RC == 0)) && cmp -s "$KMI_TMP/real-load.out" "$KMI_TMP/real-kmod.out"; then
	ok "kmod's modprobe runs KMM's argv: $(wc -l <"$KMI_TMP/real-load.out") insmod lines"
else
	fail_later "real modprobe with KMM's argv: $(cat "$KMI_TMP/real-load.err")"
	diff "$KMI_TMP/real-kmod.out" "$KMI_TMP/real-load.out" || true
fi
kmi_run real-unload "$KMODIMG" worker kmod unload "$KMI_TMP/real.yaml" --root "$root"
((KMI_RC == 0)) || fail_later "real modprobe -r with KMM's argv: rc $KMI_RC $(cat "$KMI_TMP/real-unload.err")"
# modprobe's failure is ours, exit 1.
cfg realbad <<EOF2
modprobe:
  moduleName: kmodimg_nosuch
  args: {load: [--dry-run, -S, $KVER]}
EOF2
kmi_run real-bad "$KMODIMG" worker kmod load "$KMI_TMP/realbad.yaml" --root "$root"
((KMI_RC == 1)) && grep -q "modprobe exited with status 1" "$KMI_TMP/real-bad.err" ||
	fail_later "a failing modprobe: rc $KMI_RC $(cat "$KMI_TMP/real-bad.err")"

# ---------------------------------------------------------------- rawArgs
step "rawArgs: verbatim"
cfg raw <<EOF2
modprobe:
  moduleName: kmodimg_b
  dirName: /opt
  args: {load: [ignored]}
  rawArgs: {load: [-v, --first-time, x y], unload: [-r, kmodimg_b]}
EOF2
kmi_run raw-load fake_worker kmod load "$KMI_TMP/raw.yaml" --root "$root"
argv_is "rawArgs load" -v --first-time "x y"
kmi_run raw-unload fake_worker kmod unload "$KMI_TMP/raw.yaml" --root "$root"
argv_is "rawArgs unload" -r kmodimg_b

# ---------------------------------------------------------------- libkmod
step "no args: libkmod, the order as KMM's softdep.conf"
cfg lib <<EOF2
modprobe:
  moduleName: kmodimg_b
  parameters: [base=2]
  dirName: /opt
  modulesLoadingOrder: [kmodimg_b, vfat]
EOF2
mkdir -p "$KMI_TMP/modprobe.d"
echo "softdep kmodimg_b pre: vfat" >"$KMI_TMP/modprobe.d/softdep.conf"
kmi_run lib-load "$KMODIMG" worker kmod load "$KMI_TMP/lib.yaml" --root "$root" --kernel "$KVER" --dry-run
kmi_run lib-kmod modprobe -C "$KMI_TMP/modprobe.d" -d "$root/opt" -S "$KVER" --show-depends kmodimg_b base=2
if ((KMI_RC == 0)) && cmp -s "$KMI_TMP/lib-load.out" "$KMI_TMP/lib-kmod.out"; then
	ok "libkmod plan: same lines as modprobe with the softdep"
else
	fail_later "libkmod plan differs: $(cat "$KMI_TMP/lib-load.err")"
	diff -u "$KMI_TMP/lib-kmod.out" "$KMI_TMP/lib-load.out" || true
fi
kmi_run lib-unload "$KMODIMG" worker kmod unload "$KMI_TMP/lib.yaml" --root "$root" --kernel "$KVER" --dry-run
((KMI_RC == 0)) || fail_later "libkmod unload --dry-run: rc $KMI_RC $(cat "$KMI_TMP/lib-unload.err")"
cfg libmissing <<EOF2
modprobe: {moduleName: nosuch, dirName: /opt, firmwarePath: /lib/firmware}
EOF2
kmi_run lib-missing "$KMODIMG" worker kmod load "$KMI_TMP/libmissing.yaml" --root "$root" --kernel "$KVER" \
	--firmware-path "$KMI_TMP/hostfw2"
((KMI_RC == 1)) && grep -q "it has: kmodimg_b, vfat, kmodimg_a" "$KMI_TMP/lib-missing.err" &&
	[[ ! -e $KMI_TMP/hostfw2 ]] ||
	fail_later "a module the image lacks: rc $KMI_RC, $(cat "$KMI_TMP/lib-missing.err"); nothing may change first"

# ---------------------------------------------------------------- strictness
step "strict config"
cfg unknown <<EOF2
modprobe:
  moduleName: kmodimg_b
  dirname: /opt
EOF2
kmi_run unknown "$KMODIMG" worker kmod load "$KMI_TMP/unknown.yaml" --root "$root"
((KMI_RC == 2)) && grep -qF "unknown.yaml:3:3: unknown field \`dirname\` in modprobe" "$KMI_TMP/unknown.err" ||
	fail_later "unknown field: rc $KMI_RC $(cat "$KMI_TMP/unknown.err")"
cfg dotdot <<EOF2
modprobe: {moduleName: kmodimg_b, dirName: /opt/../../etc}
EOF2
kmi_run dotdot "$KMODIMG" worker kmod load "$KMI_TMP/dotdot.yaml" --root "$root"
((KMI_RC == 2)) && grep -q "leaves the root" "$KMI_TMP/dotdot.err" ||
	fail_later "dirName with ..: rc $KMI_RC $(cat "$KMI_TMP/dotdot.err")"
kmi_run nofile "$KMODIMG" worker kmod load "$KMI_TMP/nosuch.yaml"
((KMI_RC == 2)) || fail_later "missing config: rc $KMI_RC"
kmi_run badusage "$KMODIMG" worker kmod reload "$KMI_TMP/lib.yaml"
((KMI_RC == 2)) || fail_later "kmod reload: rc $KMI_RC"
ok "unknown field, missing file, bad action: exit 2"

# ---------------------------------------------------------------- --pull
step "--pull: the worker fetches containerImage itself"
cfg pull <<EOF2
containerImage: oci:$KMI_TMP/img:v1
modprobe: {moduleName: kmodimg_b, dirName: /opt}
EOF2
kmi_run pull "$KMODIMG" worker kmod load "$KMI_TMP/pull.yaml" --pull --state-dir "$KMI_TMP/state" \
	--kernel "$KVER" --dry-run
tree=$(find "$KMI_TMP/state" -mindepth 1 -maxdepth 1 -name 'sha256-*')
if ((KMI_RC == 0)) && [[ -n $tree ]] && grep -q "^insmod $tree/opt/.*kmodimg_b.ko" "$KMI_TMP/pull.out"; then
	ok "--pull extracted into the state dir and loads from there"
else
	fail_later "--pull: rc $KMI_RC $(cat "$KMI_TMP/pull.err")"
fi
pass
