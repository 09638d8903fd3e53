#!/bin/bash
# kmodimg render against KMM's own unit-test expectations (common_test.go for
# the build and sign Pods, workerpodmanager_test.go for the worker Pod,
# imagepuller_test.go for the pull Pod), re-expressed as Modules under
# data/kmm/render/: whole Pods compared with jq (hash annotations are ours,
# so only their form is checked), the tables of kaniko flags and the
# Dockerfile text as jq assertions, then every Pod through the Kubernetes
# Python client's V1Pod model and back without losing a field.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

kmi_need_cmds jq yq
kmi_require_kmodimg
kmi_mktemp
D=$KMI_DATA/kmm/render
T=$KMI_TMP

# render NAME ARGS...: run kmodimg render, JSON in $T/NAME.json.
render() {
	local name=$1
	shift
	kmi_run "$name" "$KMODIMG" render "$@" -o json
	cp "$T/$name.out" "$T/$name.json"
	((KMI_RC == 0)) || fail_later "$name: exit $KMI_RC: $(cat "$T/$name.err")"
}

# Hash annotations: a decimal uint64 string, then masked for comparison.
mask_hashes='if .metadata.annotations then .metadata.annotations |= with_entries(if (.key | endswith("hash")) then
	(if (.value | test("^[0-9]+$")) then .value = "HASH" else .value = "BAD HASH " + .value end) else . end) else . end'

same_pod() {
	local name=$1 expected=$2
	if ! diff <(jq -S "$mask_hashes" "$T/$name.json") <(jq -S . "$expected") >"$T/$name.diff"; then
		fail_later "$name: differs from $expected:"
		cat "$T/$name.diff"
	else
		ok "$name: the Pod KMM's test expects"
	fi
}

# check NAME JQ-EXPR: the rendered Pod satisfies the expression.
check() {
	local name=$1 expr=$2
	if [[ $(jq "$expr" "$T/$name.json") == true ]]; then
		ok "$name: $expr"
	else
		fail_later "$name: $expr is false for: $(jq -c . "$T/$name.json")"
	fi
}

kaniko=(--builder-image some-kaniko-image:some-tag --signer-image some-sign-image:some-tag)

render build build-pod "$D/build.yaml" --kernel 1.2.3+4 --owner-uid 0123 "${kaniko[@]}"
same_pod build "$D/build.expected.json"
render sign sign-pod "$D/sign.yaml" --kernel 1.2.3 "${kaniko[@]}"
same_pod sign "$D/sign.expected.json"
render worker worker-pod "$D/worker.yaml" --kernel 6.1.0-18-amd64 --node node-1 \
	--worker-image some-worker-image:some-tag --firmware-host-path /var/lib/firmware
same_pod worker "$D/worker.expected.json"
render pull pull-pod "$D/pull.yaml" --kernel 6.1.0-18-amd64
same_pod pull "$D/pull.expected.json"

# A Module written inline: mod NAME CONTAINER-YAML (indented for .spec.moduleLoader.container).
mod() {
	cat >"$T/$1.yaml" <<EOT
apiVersion: kmm.sigs.x-k8s.io/v1beta1
kind: Module
metadata: {name: m, namespace: ns}
spec:
  selector: {a: b}
  moduleLoader:
    container:
$2
EOT
}

# common_test.go "should set correct kaniko flags": one flag per TLS option, in KMM's order.
mod tls '      modprobe: {moduleName: m}
      kernelMappings:
        - literal: 1.2.3
          containerImage: r/i:t
          registryTLS: {insecure: true, insecureSkipTLSVerify: true}
          build:
            dockerfileConfigMap: {name: df}
            baseImageRegistryTLS: {insecure: true, insecureSkipTLSVerify: true}'
render tls build-pod "$T/tls.yaml" --kernel 1.2.3
check tls '.spec.containers[0].args[0:6] == ["--destination","r/i:t","--insecure","--skip-tls-verify","--insecure-pull","--skip-tls-verify-pull"]'
render tls-nopush build-pod "$T/tls.yaml" --kernel 1.2.3 --no-push
check tls-nopush '.spec.containers[0].args[0:3] == ["--no-push","--insecure-pull","--skip-tls-verify-pull"]'
check tls-nopush '[.spec.containers[0].args[] | select(. == "--destination" or . == "--insecure")] == []'
mod base-insecure '      modprobe: {moduleName: m}
      kernelMappings:
        - literal: 1.2.3
          containerImage: r/i:t
          build:
            dockerfileConfigMap: {name: df}
            baseImageRegistryTLS: {insecure: true}'
render base-insecure build-pod "$T/base-insecure.yaml" --kernel 1.2.3
check base-insecure '.spec.containers[0].args[0:3] == ["--destination","r/i:t","--insecure-pull"]'
check base-insecure '.spec.tolerations == null and .spec.nodeSelector == null'

# "use a custom given tag", and the registry-port quirk (contract 9.9), which warns.
mod tag '      modprobe: {moduleName: m}
      kernelMappings:
        - literal: 1.2.3
          containerImage: r/i:t
          build:
            dockerfileConfigMap: {name: df}
            kanikoParams: {tag: some-tag}'
render tag build-pod "$T/tag.yaml" --kernel 1.2.3 --builder-image some-build-image:latest
check tag '.spec.containers[0].image == "some-build-image:some-tag"'
render tag-port build-pod "$T/tag.yaml" --kernel 1.2.3 --builder-image localhost:5000/kaniko/executor:v1
check tag-port '.spec.containers[0].image == "localhost:some-tag"'
grep -q 'warning: kanikoParams.tag cuts the builder image' "$T/tag-port.err" &&
	ok "tag-port: warned" || fail_later "tag-port: no warning: $(cat "$T/tag-port.err")"

# Sign: "should use the container image as source when build is also defined",
# the Dockerfile substrings of "sign explicit paths" / "sign multiple paths", TLS flags.
mod sign-build '      modprobe: {moduleName: m, dirName: /modules}
      kernelMappings:
        - literal: 1.2.3
          containerImage: r/i:final
          registryTLS: {insecureSkipTLSVerify: true}
          build:
            dockerfileConfigMap: {name: df}
          sign:
            unsignedImage: r/i:ignored
            unsignedImageRegistryTLS: {insecure: true}
            keySecret: {name: k}
            certSecret: {name: c}
            filesToSign: [/modules/a.ko, /modules/b.ko]'
render sign-build sign-pod "$T/sign-build.yaml" --kernel 1.2.3
check sign-build '.metadata.annotations.dockerfile | startswith("FROM r/i:final as source\n")'
for s in 'COPY --from=source /modules /opt/modules' 'for file in /opt/modules/a.ko; do' \
	'for file in /opt/modules/b.ko; do' '/usr/local/bin/sign-file sha256' 'COPY --from=signimage /opt/modules /modules'; do
	check sign-build ".metadata.annotations.dockerfile | contains(\"$s\")"
done
check sign-build '.metadata.annotations.dockerfile | contains("source-extract") | not'
check sign-build '.spec.containers[0].args == ["--destination","r/i:final","--skip-tls-verify","--insecure-pull"]'
check sign-build '.spec.containers[0].image == "gcr.io/kaniko-project/executor:latest"'
render build-both build-pod "$T/sign-build.yaml" --kernel 1.2.3
check build-both '.spec.containers[0].args[0:2] == ["--destination","r/i:final"]'

# Worker: unload (no softdep, SYS_MODULE even with firmware), load without firmware.
render unload worker-pod "$D/worker.yaml" --kernel 6.1.0-18-amd64 --node node-1 --action unload
check unload '.metadata.labels["kmm.node.kubernetes.io/worker-action"] == "Unload"'
check unload '.spec.containers[0].args == ["kmod","unload","/etc/kmm-worker/config.yaml","--firmware-path","/lib/firmware"]'
check unload '.metadata.annotations["kmm.node.kubernetes.io/modules-order"] == null and .metadata.annotations["kmm.node.kubernetes.io/worker-module-version"] == null'
check unload '[.spec.volumes[].name] == ["config","lib-modules","tmp","lib-firmware"]'
check unload '.spec.containers[0].securityContext == {"capabilities":{"add":["SYS_MODULE"]},"seLinuxOptions":{"type":"spc_t"},"runAsUser":0}'
check unload '.spec.containers[0].image == "gcr.io/k8s-staging-kmm/kernel-module-management-worker:latest"'
mod nofw '      modprobe: {moduleName: m}
      kernelMappings:
        - literal: 6.1.0
          containerImage: r/i:t'
render nofw worker-pod "$T/nofw.yaml" --kernel 6.1.0 --node n --run-as-user 201 --selinux-type my_t
check nofw '.spec.containers[0].securityContext == {"capabilities":{"add":["SYS_MODULE"]},"seLinuxOptions":{"type":"my_t"},"runAsUser":201}'
check nofw '.spec.containers[0].args == ["kmod","load","/etc/kmm-worker/config.yaml"]'
check nofw '.metadata.annotations["kmm.node.kubernetes.io/worker-config"] == "containerImage: r/i:t\nimagePullPolicy: \"\"\ninsecurePull: false\nkernelVersion: 6.1.0\nmodprobe:\n  dirName: /opt\n  moduleName: m\n"'
check nofw '.spec.initContainers[0].args == ["\nmkdir -p /tmp/opt/lib/modules;\ncp -R /opt/lib/modules/6.1.0 /tmp/opt/lib/modules;\n"]'
check nofw '.spec.serviceAccountName == "default" and .spec.imagePullSecrets == null'
check nofw '.spec.initContainers[0].imagePullPolicy == null'

# The worker's config file for rawArgs (internal/worker/testdata/config.yaml's shape):
# nested lists as sigs.k8s.io/yaml writes them; args without rawArgs likewise.
mod raw '      modprobe:
        rawArgs: {load: [load, rawargs], unload: [unload, rawargs]}
        firmwarePath: /some/path
      kernelMappings:
        - literal: 6.1.0
          containerImage: registry.local/org/img:tag'
render raw worker-pod "$T/raw.yaml" --kernel 6.1.0 --node n
check raw '.metadata.annotations["kmm.node.kubernetes.io/worker-config"] == "containerImage: registry.local/org/img:tag\nimagePullPolicy: \"\"\ninsecurePull: false\nkernelVersion: 6.1.0\nmodprobe:\n  dirName: /opt\n  firmwarePath: /some/path\n  rawArgs:\n    load:\n    - load\n    - rawargs\n    unload:\n    - unload\n    - rawargs\n"'
check raw '.spec.containers[0].securityContext == {"privileged":true}'
mod args '      modprobe:
        moduleName: test
        parameters: [key0=value0, key1=value1]
        args: {load: [load, args], unload: [unload, args]}
      kernelMappings:
        - literal: 6.1.0
          containerImage: registry.local/org/img:tag'
render args worker-pod "$T/args.yaml" --kernel 6.1.0 --node n
check args '.metadata.annotations["kmm.node.kubernetes.io/worker-config"] | endswith("modprobe:\n  args:\n    load:\n    - load\n    - args\n    unload:\n    - unload\n    - args\n  dirName: /opt\n  moduleName: test\n  parameters:\n  - key0=value0\n  - key1=value1\n")'

# Pull pod: a prebuilt image waits until it can be pulled.
render pull-prebuilt pull-pod "$D/pull.yaml" --kernel 6.2.0
check pull-prebuilt '.metadata.labels["kmm.node.kubernetes.io/pull-pod-type"] == "until-success"'
check pull-prebuilt '.spec.containers[0].image == "example.org/repo/prebuilt:tag"'

# YAML output is the same document.
kmi_run yaml "$KMODIMG" render worker-pod "$D/worker.yaml" --kernel 6.1.0-18-amd64 --node node-1 \
	--worker-image some-worker-image:some-tag --firmware-host-path /var/lib/firmware
if yq -S . "$T/yaml.out" >"$T/yaml.json" 2>&1 && diff "$T/yaml.json" <(jq -S . "$T/worker.json"); then
	ok "yaml output reads back as the JSON one"
else
	fail_later "yaml output differs from json"
fi

# Exit codes: nothing to render 1, usage 2.
expect_exit() {
	local want=$1 name=$2
	shift 2
	kmi_run "$name" "$KMODIMG" render "$@"
	((KMI_RC == want)) && ok "$name: exit $want" || fail_later "$name: exit $KMI_RC, want $want: $(cat "$T/$name.err")"
}
expect_exit 1 not-targeted worker-pod "$D/worker.yaml" --kernel 5.10.0 --node n
expect_exit 1 no-build build-pod "$T/nofw.yaml" --kernel 6.1.0
expect_exit 1 no-sign sign-pod "$T/nofw.yaml" --kernel 6.1.0
expect_exit 2 no-node worker-pod "$T/nofw.yaml" --kernel 6.1.0
expect_exit 2 no-kernel pull-pod "$T/nofw.yaml"
expect_exit 2 bad-kind job "$T/nofw.yaml" --kernel 6.1.0
expect_exit 2 bad-action worker-pod "$T/nofw.yaml" --kernel 6.1.0 --node n --action reload
expect_exit 2 missing-file pull-pod "$T/does-not-exist.yaml" --kernel 6.1.0
grep -q 'not targeted' "$T/not-targeted.err" && ok "not-targeted: says so" || fail_later "not-targeted: $(cat "$T/not-targeted.err")"

# Every Pod through the Kubernetes 1.22 models and back, nothing lost.
PY=/usr/bin/python3
if $PY -c 'import kubernetes' 2>/dev/null; then
	for name in build sign worker pull unload nofw tls tag sign-build; do
		if $PY - "$T/$name.json" <<'EOPY'; then
import json, sys
from kubernetes import client
class Resp:
    def __init__(self, data):
        self.data = data
raw = open(sys.argv[1]).read()
api = client.ApiClient()
pod = api.deserialize(Resp(raw), "V1Pod")
back = api.sanitize_for_serialization(pod)
orig = json.loads(raw)
if back != orig:
    print("lost or changed:", json.dumps(orig, sort_keys=True), "\n!=\n", json.dumps(back, sort_keys=True))
    sys.exit(1)
EOPY
			ok "$name: round-trips through kubernetes.client V1Pod"
		else
			fail_later "$name: does not round-trip through kubernetes.client V1Pod"
		fi
	done
else
	echo "note: python3-kubernetes not installed, model round-trip skipped"
fi
pass
