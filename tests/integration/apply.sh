#!/bin/bash
# kmodimg apply / delete: KMM's flow for a Module on one machine.  The
# Module's image lives in a registry with Basic auth whose credentials are
# only in the Module's imageRepoSecret (a Secret in the same file); the
# Dockerfile comes from a ConfigMap, the build secret from a Secret, the FROM
# images from a second, plain registry.  Checked: --dry-run changes nothing;
# the first apply builds and pushes (buildah, as build --dockerfile), the
# second finds the image and builds nothing; a Module without build whose
# image is missing is an error; a kernel no mapping matches is left alone;
# delete leaves a module that is not loaded alone.  Loading itself is the
# worker's (tests/integration/worker-*.sh): the modules are never loaded into
# this host's kernel, so load steps run with --dry-run or --no-load here.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

kmi_setup
kmi_need_cmds buildah skopeo jq docker-registry htpasswd base64
. "$KMI_LIB_DIR/registry.sh"
. "$KMI_LIB_DIR/bases.sh"
kmi_base_busybox
export TMPDIR=$KMI_TMP/tmpdir KMODIMG_STORE=$KMI_TMP/store
mkdir -p "$TMPDIR" "$KMI_TMP/sysfs/module"
# the fake sysfs says which modules are loaded (none) without touching the host's
export KMODIMG_SYSFS=$KMI_TMP/sysfs

kmi_reg_start plain
BASES=$KMI_REG_HOST
skopeo copy -q --dest-tls-verify=false "oci:$KMI_BASE_BUSYBOX:latest" "docker://$BASES/base/busybox:latest"
# the module sources of the Dockerfile: the examples, prebuilt, in an image
kmi_build_examples "$KMI_TMP/ex"
"$KMODIMG" build --quiet --insecure --kernel "$KVER" --prefix /src -t "docker://$BASES/src/examples:v1" \
	"$KMI_TMP/ex/kmodimg_a.ko" "$KMI_TMP/ex/kmodimg_b.ko" >/dev/null
kmi_reg_start htpasswd
REG=$KMI_REG_HOST
auth=$(printf '%s:%s' "$KMI_REG_USER" "$KMI_REG_PASS" | base64 -w0)
dockerconfig=$(printf '{"auths":{"%s":{"auth":"%s"}}}' "$REG" "$auth" | base64 -w0)
token=token-$$-$RANDOM

module() { # NAME MAPPING-YAML: a Module with its ConfigMap and Secrets
	cat <<EOF
apiVersion: kmm.sigs.x-k8s.io/v1beta1
kind: Module
metadata:
  name: $1
  namespace: kmm-test
spec:
  selector:
    kubernetes.io/hostname: node
  imageRepoSecret:
    name: repo-secret
  moduleLoader:
    container:
      modprobe:
        moduleName: kmodimg_b
      kernelMappings:
$2
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: kmod-dockerfile
  namespace: kmm-test
data:
  dockerfile: |
    FROM $BASES/src/examples:v1 as src
    FROM $BASES/base/busybox:latest
    ARG KERNEL_FULL_VERSION
    ARG MOD_NAME
    ARG MY_ARG
    RUN grep -q ^token- /run/secrets/build-secret/key && mkdir -p /opt && echo "\$MOD_NAME \$MY_ARG" >/opt/marker
    COPY --from=src /src/lib/modules/\${KERNEL_FULL_VERSION}/ /opt/lib/modules/\${KERNEL_FULL_VERSION}/
---
apiVersion: v1
kind: Secret
metadata:
  name: build-secret
  namespace: kmm-test
data:
  key: $(printf '%s' "$token" | base64 -w0)
---
apiVersion: v1
kind: Secret
metadata:
  name: repo-secret
  namespace: kmm-test
type: kubernetes.io/dockerconfigjson
data:
  .dockerconfigjson: $dockerconfig
EOF
}

with_build="        - regexp: '^.+\$'
          containerImage: $REG/\$MOD_NAMESPACE/\$MOD_NAME:\${KERNEL_FULL_VERSION}
          registryTLS:
            insecure: true
          build:
            buildArgs:
              - {name: MY_ARG, value: my-value}
            baseImageRegistryTLS:
              insecure: true
            secrets:
              - name: build-secret
            dockerfileConfigMap:
              name: kmod-dockerfile"
module examples "$with_build" >"$KMI_TMP/examples.yaml"
image=$REG/kmm-test/examples:$KVER
inspect() { skopeo inspect --tls-verify=false --creds "$KMI_REG_USER:$KMI_REG_PASS" "docker://$1"; }

step "apply --dry-run: the steps, nothing built"
kmi_run dry "$KMODIMG" apply --dry-run --kernel "$KVER" -f "$KMI_TMP/examples.yaml"
((KMI_RC == 0)) || { cat "$KMI_TMP/dry.err"; fail "apply --dry-run exited $KMI_RC"; }
grep -q "Module kmm-test/examples: kernel $KVER: image $image" "$KMI_TMP/dry.out" || fail_later "no plan line"
grep -q "would build $image from ConfigMap kmod-dockerfile" "$KMI_TMP/dry.out" || fail_later "no build step"
grep -q "would load module kmodimg_b" "$KMI_TMP/dry.out" || fail_later "no load step: $(cat "$KMI_TMP/dry.out")"
inspect "$image" >/dev/null 2>&1 && fail_later "--dry-run pushed the image"

step "apply --no-load: image missing, built and pushed with the imageRepoSecret's credentials"
kmi_run first "$KMODIMG" apply --no-load --kernel "$KVER" -f "$KMI_TMP/examples.yaml"
((KMI_RC == 0)) || { tail -20 "$KMI_TMP/first.err"; fail "first apply exited $KMI_RC"; }
grep -q "building $image with buildah" "$KMI_TMP/first.out" || fail_later "no build: $(cat "$KMI_TMP/first.out")"
grep -q "pushed $image sha256:" "$KMI_TMP/first.out" || fail_later "no push line"
inspect "$image" >"$KMI_TMP/image.json" || fail "the image is not in the registry"
skopeo copy -q --src-tls-verify=false --src-creds "$KMI_REG_USER:$KMI_REG_PASS" "docker://$image" \
	"oci:$KMI_TMP/pulled:x"
"$KMODIMG" extract --quiet "oci:$KMI_TMP/pulled:x" "$KMI_TMP/rootfs"
[[ $(cat "$KMI_TMP/rootfs/opt/marker") == "examples my-value" ]] ||
	fail_later "build args in the build: $(cat "$KMI_TMP/rootfs/opt/marker")"
grep -qx 'kmodimg_b.ko: kmodimg_a.ko' "$KMI_TMP/rootfs/opt/lib/modules/$KVER/modules.dep" ||
	fail_later "modules.dep in the image"
# (the Dockerfile is in the history: it names only the prefix of the token)
for b in "$KMI_TMP"/pulled/blobs/sha256/*; do
	grep -qa "$token" < <(zcat -f "$b") && fail_later "the build secret is in blob $(basename "$b")"
done
ok "built from the ConfigMap, secret used and not stored, pushed with the Secret's credentials"

step "second apply: the image exists, nothing is built"
kmi_run second "$KMODIMG" apply --no-load --kernel "$KVER" -f "$KMI_TMP/examples.yaml"
((KMI_RC == 0)) || fail_later "second apply exited $KMI_RC: $(tail -3 "$KMI_TMP/second.err")"
grep -q "image $image exists" "$KMI_TMP/second.out" || fail_later "no 'exists': $(cat "$KMI_TMP/second.out")"
grep -q "building" "$KMI_TMP/second.out" && fail_later "the second apply built again"
kmi_run dry2 "$KMODIMG" apply --dry-run --kernel "$KVER" -f "$KMI_TMP/examples.yaml"
grep -q "would load module kmodimg_b from $image" "$KMI_TMP/dry2.out" || fail_later "dry-run load step"
# a module reported loaded is left alone
mkdir -p "$KMI_TMP/sysfs/module/kmodimg_b"
kmi_run loaded "$KMODIMG" apply --kernel "$KVER" -f "$KMI_TMP/examples.yaml"
grep -q "module kmodimg_b is loaded: nothing to do" "$KMI_TMP/loaded.out" ||
	fail_later "loaded module: $(cat "$KMI_TMP/loaded.out" "$KMI_TMP/loaded.err")"
kmi_run deldry "$KMODIMG" delete --dry-run --kernel "$KVER" -f "$KMI_TMP/examples.yaml"
grep -q "would unload module kmodimg_b" "$KMI_TMP/deldry.out" || fail_later "delete --dry-run: $(cat "$KMI_TMP/deldry.out")"
rmdir "$KMI_TMP/sysfs/module/kmodimg_b"
kmi_run del "$KMODIMG" delete --kernel "$KVER" -f "$KMI_TMP/examples.yaml"
((KMI_RC == 0)) && grep -q "module kmodimg_b is not loaded: nothing to do" "$KMI_TMP/del.out" ||
	fail_later "delete of a module not loaded: exit $KMI_RC: $(cat "$KMI_TMP/del.out" "$KMI_TMP/del.err")"
ok "idempotent: exists, loaded, not loaded"

step "apply and delete for real: the image pulled and extracted, KMM's modprobe argv"
# modprobe.args makes the worker run modprobe with KMM's argv: a stand-in on
# PATH records it, so the whole path runs without touching this host's kernel.
mkdir -p "$KMI_TMP/fakebin"
printf '#!/bin/sh\nprintf "%%s\\n" "$@" >"%s/argv"\n' "$KMI_TMP" >"$KMI_TMP/fakebin/modprobe"
chmod +x "$KMI_TMP/fakebin/modprobe"
module examples "        - regexp: '^.+\$'
          containerImage: $REG/kmm-test/examples:\${KERNEL_FULL_VERSION}
          registryTLS:
            insecure: true" | sed 's/^        moduleName: kmodimg_b$/        moduleName: kmodimg_b\n        args:\n          load: [--first-time]\n          unload: [--quiet]/' \
	>"$KMI_TMP/args.yaml"
grep -q -- --first-time "$KMI_TMP/args.yaml" || fail "could not write the Module with args"
kmi_run real env PATH="$KMI_TMP/fakebin:$PATH" "$KMODIMG" apply --kernel "$KVER" --state-dir "$KMI_TMP/state" \
	-f "$KMI_TMP/args.yaml"
((KMI_RC == 0)) || fail_later "apply (load): exit $KMI_RC: $(tail -3 "$KMI_TMP/real.err")"
root=$(find "$KMI_TMP/state" -mindepth 1 -maxdepth 1 -type d -name 'sha256-*' | head -1)
[[ -n $root && -f $root/opt/lib/modules/$KVER/kmodimg_b.ko ]] || fail_later "the image was not extracted under --state-dir"
[[ $(cat "$KMI_TMP/argv" 2>/dev/null) == "$(printf '%s\n' -vd "$root/opt" --first-time kmodimg_b)" ]] ||
	fail_later "load argv: $(tr '\n' ' ' <"$KMI_TMP/argv" 2>/dev/null)"
grep -q "module kmodimg_b loaded" "$KMI_TMP/real.out" || fail_later "no 'loaded' line: $(cat "$KMI_TMP/real.out")"
rm -f "$KMI_TMP/argv"
mkdir -p "$KMI_TMP/sysfs/module/kmodimg_b"
kmi_run realdel env PATH="$KMI_TMP/fakebin:$PATH" "$KMODIMG" delete --kernel "$KVER" --state-dir "$KMI_TMP/state" \
	-f "$KMI_TMP/args.yaml"
((KMI_RC == 0)) || fail_later "delete (unload): exit $KMI_RC: $(tail -3 "$KMI_TMP/realdel.err")"
[[ $(cat "$KMI_TMP/argv" 2>/dev/null) == "$(printf '%s\n' -rvd "$root/opt" --quiet kmodimg_b)" ]] ||
	fail_later "unload argv: $(tr '\n' ' ' <"$KMI_TMP/argv" 2>/dev/null)"
rmdir "$KMI_TMP/sysfs/module/kmodimg_b"
ok "load and unload through the worker with KMM's argv"

step "no build and no image: an error; no mapping: nothing to do"
module nobuild "        - regexp: '^.+\$'
          containerImage: $REG/kmm-test/nobuild:\${KERNEL_FULL_VERSION}
          registryTLS:
            insecure: true" >"$KMI_TMP/nobuild.yaml"
kmi_run nobuild "$KMODIMG" apply --no-load --kernel "$KVER" -f "$KMI_TMP/nobuild.yaml"
((KMI_RC == 1)) && grep -q "image $REG/kmm-test/nobuild:$KVER does not exist and the Module has no build" \
	"$KMI_TMP/nobuild.err" || fail_later "missing image without build: exit $KMI_RC: $(cat "$KMI_TMP/nobuild.err")"
module other "        - literal: 0.0.0-other
          containerImage: $REG/kmm-test/other:x" >"$KMI_TMP/other.yaml"
kmi_run other "$KMODIMG" apply --kernel "$KVER" -f "$KMI_TMP/other.yaml"
((KMI_RC == 0)) && grep -q "no kernel mapping matches $KVER: nothing to do" "$KMI_TMP/other.out" ||
	fail_later "no mapping: exit $KMI_RC: $(cat "$KMI_TMP/other.out" "$KMI_TMP/other.err")"
kmi_run usage "$KMODIMG" apply --kernel "$KVER"
((KMI_RC == 2)) || fail_later "apply without -f: exit $KMI_RC"
[[ -z $(ls -A "$TMPDIR") ]] || fail_later "scratch files left: $(ls -A "$TMPDIR")"
pass
