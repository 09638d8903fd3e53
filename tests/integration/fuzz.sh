#!/bin/bash
# The libFuzzer targets, each for a bounded time, seeded with real modules
# (plain, xz, zstd, gzip) and small configs.  Any crash, sanitizer report or
# leak fails the test; the crashing input is kept and named.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

fuzz=${KMODIMG_FUZZ_BUILD:-}
[[ -n $fuzz && -x $fuzz/fuzz/fuzz-modfile ]] || skip "no fuzz build (scripts/test.sh makes one)"
secs=${KMODIMG_FUZZ_SECONDS:-10}

kmi_setup
corpus=$KMI_TMP/corpus
mkdir -p "$corpus/mod" "$corpus/cfg" "$corpus/idx" "$corpus/modconfig"
kmi_build_examples "$KMI_TMP/ex"
cp "$KMI_TMP"/ex/*.ko "$corpus/mod/"
for f in "$corpus"/mod/*.ko; do
	xz -k -c "$f" >"$f.xz"
	zstd -q -c "$f" >"$f.zst"
	gzip -c "$f" >"$f.gz"
done
printf 'search updates built-in host\noverride vfat * extra\nexternal 6.* /opt/x\nexclude build\n' \
	>"$corpus/cfg/seed.conf"
printf 'symbol:foo m1\nsymbol:foobar m2\npci:v*d[0-9] m3\n' >"$corpus/idx/seed"
# fuzz-verify: the first byte picks the parser (0 symvers, 1 signature, 2 vermagic, 3 .config)
mkdir -p "$corpus/verify"
hdr=/usr/src/linux-headers-$KVER
{ printf '\0'; head -50 "$hdr/Module.symvers" 2>/dev/null || printf '0x1\ta\tvmlinux\tEXPORT_SYMBOL\t\n'; } \
	>"$corpus/verify/symvers"
printf '\2%s%s' "$KVER SMP preempt mod_unload modversions " "$KVER SMP mod_unload " >"$corpus/verify/vermagic"
{ printf '\3'; grep -E '^CONFIG_(SMP|PREEMPT|MODULE|MODVERSIONS)' "$hdr/.config" 2>/dev/null || true; } \
	>"$corpus/verify/config"
# the kernel's own signing tool, from Debian's linux-kbuild package
signfile=
for f in /usr/lib/linux-kbuild-*/scripts/sign-file; do
	[[ -x $f ]] && signfile=$f && break
done
if [[ -n $signfile ]] && command -v openssl >/dev/null; then
	openssl req -new -nodes -batch -x509 -subj '/CN=fuzz seed' -days 2 -outform PEM \
		-out "$KMI_TMP/seed.crt" -keyout "$KMI_TMP/seed.key" 2>/dev/null
	cp "$KMI_TMP/ex/kmodimg_a.ko" "$KMI_TMP/signed.ko"
	strip --strip-debug "$KMI_TMP/signed.ko"
	"$signfile" sha256 "$KMI_TMP/seed.key" "$KMI_TMP/seed.crt" "$KMI_TMP/signed.ko"
	{ printf '\1'; cat "$KMI_TMP/signed.ko"; } >"$corpus/verify/signed"
fi
# KMM's internal/worker/testdata/config.yaml, with the other keys and an alias.
cat >"$corpus/modconfig/seed.yaml" <<'EOF2'
kernelVersion: 6.1.0-56-amd64
containerImage: registry.local/org/img:tag
imagePullPolicy: IfNotPresent
insecurePull: true
inTreeModulesToRemove: &l [intree1, intree2]
inTreeModuleToRemove: intree0
modprobe:
  moduleName: test
  parameters: [key0=value0, key1=value1]
  dirName: /path
  args:    {load: [load, args],    unload: [unload, args]}
  rawArgs: {load: [load, rawargs], unload: [unload, rawargs]}
  firmwarePath: /some/path
  modulesLoadingOrder: *l
EOF2
# KMM: the Modules of the tests (YAML and JSON), the substitution templates and regexps.
mkdir -p "$corpus/kmm" "$corpus/kenv"
for f in "$KMODIMG_SRC"/tests/kmm/validate/*.yaml "$KMODIMG_SRC"/tests/kmm/plan/*.yaml \
	"$KMI_DATA"/kmm/*/*.yaml "$KMI_DATA"/kmm/plan/*.json; do
	cp "$f" "$corpus/kmm/$(basename "$(dirname "$f")")-$(basename "$f")"
done
{ grep -v '^[#@]' "$KMODIMG_SRC/tests/kmm/envsubst.txt" | cut -f2
  grep -v '^#' "$KMODIMG_SRC/tests/kmm/regex.txt" | cut -f1; } | split -l 1 - "$corpus/kenv/seed-"

run_fuzzer() {
	local name=$1 dir=$2 log=$KMI_TMP/$1.log
	(cd "$KMI_TMP" && "$fuzz/fuzz/$name" -max_total_time="$secs" -rss_limit_mb=2048 \
		-max_len=262144 -artifact_prefix="$KMI_TMP/$name-" "$dir") >"$log" 2>&1 || {
		tail -30 "$log"
		ls "$KMI_TMP/$name-"* 2>/dev/null || true
		fail "$name found a problem"
	}
	echo "$name: $(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | tail -1)"
}

run_fuzzer fuzz-modfile "$corpus/mod"
run_fuzzer fuzz-depmod-config "$corpus/cfg"
run_fuzzer fuzz-index "$corpus/idx"
run_fuzzer fuzz-verify "$corpus/verify"
run_fuzzer fuzz-modconfig "$corpus/modconfig"
run_fuzzer fuzz-kmm-module "$corpus/kmm"
run_fuzzer fuzz-kmm-envsubst "$corpus/kenv"
pass
