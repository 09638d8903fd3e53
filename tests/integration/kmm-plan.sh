#!/bin/bash
# kmodimg plan over Modules in data/kmm/plan/: the whole JSON plan of a
# Module like KMM's CI one on several kernels (mapping order, substitution,
# build args, merged build and sign, the image list de-duplicated as KMM's
# ModuleImagesConfig does), rawArgs from a JSON file and stdin, warnings,
# errors with file:line:col for every broken rule, YAML and text output,
# and the exit codes.  The per-field cases from KMM's unit tests are in
# tests/kmm/ (unit tests); this checks the command around them.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

kmi_need_cmds jq yq
kmi_require_kmodimg
kmi_mktemp
D=$KMI_DATA/kmm/plan
T=$KMI_TMP

expect_exit() {
	local want=$1 name=$2
	shift 2
	kmi_run "$name" "$KMODIMG" plan "$@"
	((KMI_RC == want)) && ok "$name: exit $want" || fail_later "$name: exit $KMI_RC, want $want: $(cat "$T/$name.err")"
}

# The CI-like Module: full plan; the third kernel comes from --node and keeps its "+".
expect_exit 0 ci "$D/ci.yaml" --kernel 6.1.0-18-amd64 -k 6.1.0-17-amd64 --node worker-2=6.1.0-19-amd64+
jq -S '.kernels[2] |= {kernel, targeted, mapping, containerImage, node}' "$T/ci.out" >"$T/ci.cmp"
if diff "$T/ci.cmp" <(jq -S . "$D/ci.expected.json"); then ok "ci: the expected plan"; else fail_later "ci: plan differs"; fi
jq -e '.kernels[2].build.buildArgs[1:3] == [{"name":"KERNEL_FULL_VERSION","value":"6.1.0-19-amd64"},{"name":"KERNEL_VERSION","value":"6.1.0-19-amd64"}]' \
	"$T/ci.out" >/dev/null && ok "ci: build args use the '+'-trimmed kernel" || fail_later "ci: build args of the '+' kernel"

# YAML and text outputs.
expect_exit 0 ci-yaml "$D/ci.yaml" -k 6.1.0-18-amd64 -k 6.1.0-17-amd64 -n worker-2=6.1.0-19-amd64+ -o yaml
if diff <(yq -S . "$T/ci-yaml.out") <(jq -S . "$T/ci.out") >/dev/null; then ok "ci: yaml reads back as the json"; else fail_later "ci: yaml differs"; fi
expect_exit 0 ci-text "$D/ci.yaml" -k 6.1.0-18-amd64 -o text
grep -q '6.1.0-18-amd64: mapping 1, image host.minikube.internal:5000/kmm-test/kmm-ci:6.1.0, build, sign' "$T/ci-text.out" &&
	ok "ci: text output" || fail_later "ci: text output: $(cat "$T/ci-text.out")"

# Not targeted: the plan is printed, the answer is no.
expect_exit 1 ci-miss "$D/rawargs.json" -k 5.10.0
jq -e '.kernels[0] | .targeted == false and .mapping == null and .containerImage == null and .build == null' "$T/ci-miss.out" >/dev/null &&
	ok "not targeted: null fields" || fail_later "not targeted: $(cat "$T/ci-miss.out")"

# JSON input through stdin; rawArgs win over everything else.
kmi_run stdin "$KMODIMG" plan - -k 6.2.1 <"$D/rawargs.json"
((KMI_RC == 0)) || fail_later "stdin: exit $KMI_RC: $(cat "$T/stdin.err")"
jq -e '.kernels[0] | .containerImage == "quay.io/o/raw:6.2" and .modprobe.loadCommand == ["modprobe","-v","-d","/tmp/opt","raw_mod","x=1"] and .modprobe.unloadCommand == ["modprobe","-r","raw_mod"]' \
	"$T/stdin.out" >/dev/null && ok "stdin: JSON Module, rawArgs" || fail_later "stdin: $(cat "$T/stdin.out")"

# Warnings (contract 9): the literal with "+" never matches, an in-tree name with '.'.
kmi_run lint "$KMODIMG" plan "$D/lint.yaml" -k 6.1.0
jq -s -e 'length == 2 and .[0].kernels[0].mapping == 1 and .[1].kernels[0].targeted == false' "$T/lint.out" >/dev/null &&
	ok "lint: two Modules, two plans" || fail_later "lint: $(cat "$T/lint.out")"
((KMI_RC == 1)) && ok "lint: second Module not targeted, exit 1" || fail_later "lint: exit $KMI_RC"
jq -s -e '.[0].warnings | length == 2' "$T/lint.out" >/dev/null && ok "lint: warnings in the plan" || fail_later "lint: warnings: $(jq -c '.[0].warnings' -s "$T/lint.out")"
grep -q 'lint.yaml:12:11: warning: kernelMappings\[0\].literal ends with "+"' "$T/lint.err" && ok "lint: literal warning on stderr" ||
	fail_later "lint: $(cat "$T/lint.err")"
grep -q 'inTreeModulesToRemove "nvidia.drm"' "$T/lint.err" && ok "lint: in-tree regexp warning" || fail_later "lint: $(cat "$T/lint.err")"

kmi_run lint-ko "$KMODIMG" plan "$D/lint-ko.yaml" -k 6.1.0 --builder-image registry.local:5000/kaniko/executor:v1.23
((KMI_RC == 0)) || fail_later "lint-ko: exit $KMI_RC"
for w in 'inTreeModulesToRemove "i915.ko" is a file name' 'modprobe.moduleName "mymod.ko" is a file name' \
	'kanikoParams.tag cuts the builder image `registry.local:5000/kaniko/executor:v1.23` at its registry port'; do
	jq -e --arg w "$w" '[.warnings[] | select(contains($w))] | length == 1' "$T/lint-ko.out" >/dev/null &&
		ok "lint-ko: $w" || fail_later "lint-ko: no warning '$w' in $(jq -c .warnings "$T/lint-ko.out")"
done
kmi_run lint-ko2 "$KMODIMG" plan "$D/lint-ko.yaml" -k 6.1.0
jq -e '[.warnings[] | select(contains("kanikoParams"))] == []' "$T/lint-ko2.out" >/dev/null &&
	ok "lint-ko: no port warning with KMM's default builder" || fail_later "lint-ko2: $(cat "$T/lint-ko2.out")"

# Every error, each with its place; nothing on stdout.
expect_exit 1 invalid "$D/invalid.yaml" -k 6.1.0
for e in 'invalid.yaml:10:11: error: regexp and literal are mutually exclusive properties at kernelMappings[0]' \
	'invalid.yaml:10:19: error: invalid regexp at index 0' \
	'invalid.yaml:12:27: error: container image must explicitely set a tag or digest; got: noTag' \
	'invalid.yaml:8:17: error: load and unload rawArgs must be set when moduleName is unset'; do
	grep -qF "$e" "$T/invalid.err" && ok "invalid: $e" || fail_later "invalid: missing '$e' in: $(cat "$T/invalid.err")"
done
[[ ! -s $T/invalid.out ]] && ok "invalid: no plan printed" || fail_later "invalid: printed a plan"

# Usage and access: exit 2.
expect_exit 2 no-kernel "$D/ci.yaml"
expect_exit 2 no-file -k 6.1.0
expect_exit 2 bad-node "$D/ci.yaml" --node worker-2
expect_exit 2 bad-format "$D/ci.yaml" -k 6.1.0 -o xml
expect_exit 2 missing "$T/nope.yaml" -k 6.1.0
expect_exit 2 directory "$T" -k 6.1.0
kmi_run help "$KMODIMG" plan --help
((KMI_RC == 0)) && grep -q -- '--node=NAME=KVER' "$T/help.out" && ok "help" || fail_later "help"
pass
