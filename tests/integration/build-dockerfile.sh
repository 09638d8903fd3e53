#!/bin/bash
# kmodimg build --dockerfile: KMM's in-cluster build, run by buildah, against
# real registries.  Base images are made by tests/lib/bases.sh (busybox, and
# a debootstrap'ed Debian with gcc, make, kmod and linux-headers-$KVER) and
# cached between runs.  The seed-style two-stage Dockerfile (KMM's CI one,
# with Debian packages) builds the examples against the headers, runs
# depmod, and the pushed image is checked with skopeo and umoci: files, and
# depmod output equal to what kmod's depmod writes for those modules.  Then:
# a build secret read by a plain RUN and absent from every layer; the host
# module tree read-only at /host/lib/modules; KMM's build argument rule seen
# from inside the build; KMM's in-tree link, followed by the check as by
# kmod's depmod; missing and stale depmod output warned about; a
# failing RUN, a SIGTERM passed on to buildah, an image without modules and a
# missing buildah as errors that leave no image and no scratch files; the TLS flags of FROM pulls and of
# the push; usage errors.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

kmi_setup
kmi_need_cmds buildah skopeo umoci jq docker-registry openssl curl
. "$KMI_LIB_DIR/registry.sh"
. "$KMI_LIB_DIR/bases.sh"

kmi_base_busybox
kmi_base_debian
# buildah's temp files, and ours, in a dir of the test's own: "nothing left" is checkable
export TMPDIR=$KMI_TMP/tmpdir
mkdir -p "$TMPDIR"
export KMODIMG_STORE=$KMI_TMP/store

kmi_reg_start plain
REG=$KMI_REG_HOST
PLAIN_PID=$KMI_REG_PID
step "bases into the plain registry $REG"
skopeo copy -q --dest-tls-verify=false "oci:$KMI_BASE_BUSYBOX:latest" "docker://$REG/base/busybox:latest"
skopeo copy -q --dest-tls-verify=false "oci:$KMI_BASE_DEBIAN:bookworm" "docker://$REG/base/debbuild:bookworm"

# scratch_left: what a build left in TMPDIR (must be nothing) or mounted under it.
scratch_left() {
	find "$TMPDIR" -mindepth 1 -maxdepth 1 | head -5
	grep -F "$TMPDIR" /proc/self/mountinfo | head -3 || true
}

# unpack REF NAME: the image at REF (docker:// on the plain registry, or oci:)
# into $KMI_TMP/NAME.layout and $KMI_TMP/NAME/rootfs via skopeo and umoci.
unpack() {
	local ref=$1 name=$2
	skopeo copy -q --src-tls-verify=false "$ref" "oci:$KMI_TMP/$name.layout:x" ||
		fail "skopeo cannot copy $ref"
	(cd "$KMI_TMP" && umoci unpack --image "$name.layout:x" "$name" >/dev/null) ||
		fail "umoci cannot unpack $ref"
}

ctx=$KMI_TMP/seed
mkdir -p "$ctx/src"
cp "$KMODIMG_EXAMPLES"/Kbuild "$KMODIMG_EXAMPLES"/*.c "$KMODIMG_EXAMPLES"/*.h "$ctx/src/"
# KMM's CI Dockerfile (ci/kmm-kmod-dockerfile.yaml) with Debian packages and
# the examples, depmod with the version as KMM's documentation says.
cat >"$ctx/Dockerfile" <<EOF
FROM $REG/base/debbuild:bookworm as builder
ARG KERNEL_FULL_VERSION
WORKDIR /usr/src
COPY src/ /usr/src/kmodimg/
RUN make -C /usr/src/linux-headers-\${KERNEL_FULL_VERSION} M=/usr/src/kmodimg modules
RUN mkdir -p /opt/lib/modules/\${KERNEL_FULL_VERSION}/extra && \\
    cp /usr/src/kmodimg/kmodimg_a.ko /usr/src/kmodimg/kmodimg_b.ko /opt/lib/modules/\${KERNEL_FULL_VERSION}/extra/ && \\
    depmod -b /opt \${KERNEL_FULL_VERSION}

FROM $REG/base/busybox:latest
ARG KERNEL_FULL_VERSION
COPY --from=builder /opt/lib/modules/\${KERNEL_FULL_VERSION}/ /opt/lib/modules/\${KERNEL_FULL_VERSION}/
EOF

step "seed-style two-stage build, pushed to docker://$REG/kmod/examples:$KVER"
t0=$SECONDS
kmi_run seed "$KMODIMG" build --dockerfile "$ctx/Dockerfile" --kernel "$KVER" --base-insecure \
	--insecure -t "docker://$REG/kmod/examples:$KVER"
((KMI_RC == 0)) || { tail -30 "$KMI_TMP/seed.err"; fail "seed build exited $KMI_RC"; }
echo "    (build and push: $((SECONDS - t0)) s)"
digest=$(cat "$KMI_TMP/seed.out")
grep -q "^\[1/2\] STEP 1/6: FROM $REG/base/debbuild:bookworm" "$KMI_TMP/seed.err" ||
	fail_later "buildah's output did not stream through: $(head -3 "$KMI_TMP/seed.err")"
grep -q "kmodimg build: WARNING" "$KMI_TMP/seed.err" && fail_later "warnings for a sound image: $(grep "kmodimg build: WARNING" "$KMI_TMP/seed.err")"
grep -q "2 modules in /opt/lib/modules/$KVER/" "$KMI_TMP/seed.err" || fail_later "no module count"
skopeo inspect --tls-verify=false "docker://$REG/kmod/examples:$KVER" >"$KMI_TMP/seed.json" ||
	fail "the image is not in the registry"
[[ $(jq -r .Digest "$KMI_TMP/seed.json") == "$digest" ]] || fail_later "printed digest $digest is not the registry's"
[[ $(jq -r '.Labels["io.kmodimg.kernel.version"]' "$KMI_TMP/seed.json") == "$KVER" ]] ||
	fail_later "kernel label missing"
unpack "docker://$REG/kmod/examples:$KVER" seed
m=$KMI_TMP/seed/rootfs/opt/lib/modules/$KVER
for f in extra/kmodimg_a.ko extra/kmodimg_b.ko modules.dep modules.dep.bin; do
	[[ -f $m/$f ]] || fail_later "$f missing in the image"
done
[[ -x $KMI_TMP/seed/rootfs/bin/sh && -e $KMI_TMP/seed/rootfs/bin/cp ]] ||
	fail_later "no /bin/sh and cp from the busybox base"
[[ -d $KMI_TMP/seed/rootfs/usr/src ]] && fail_later "the builder stage leaked into the final image"
[[ $(modinfo -F vermagic "$m/extra/kmodimg_a.ko") == "$KVER "* ]] ||
	fail_later "module not built against linux-headers-$KVER: $(modinfo -F vermagic "$m/extra/kmodimg_a.ko")"
# kmod's depmod (the oracle) over the same modules in a fresh tree
o=$KMI_TMP/oracle/lib/modules/$KVER
mkdir -p "$o/extra"
cp "$m"/extra/*.ko "$o/extra/"
depmod -b "$KMI_TMP/oracle" "$KVER"
if kmi_compare_outputs "$o" "$m"; then
	ok "image's depmod output is byte-identical to kmod's for its modules"
else
	fail_later "image's depmod output differs from kmod's"
fi
grep -qx 'extra/kmodimg_b.ko: extra/kmodimg_a.ko' "$m/modules.dep" || fail_later "modules.dep: $(cat "$m/modules.dep")"
left=$(scratch_left)
[[ -z $left ]] || fail_later "scratch files left: $left"
ok "seed build: pushed, unpacked by umoci, modules and depmod output as kmod writes them"

step "the seed image passes verify and loads in Debian's kernel (qemu)"
kmi_run ver "$KMODIMG" verify --insecure "docker://$REG/kmod/examples:$KVER" --kernel "$KVER" \
	--symvers "/usr/src/linux-headers-$KVER/Module.symvers"
((KMI_RC == 0)) || fail_later "verify of the seed image: rc $KMI_RC $(cat "$KMI_TMP/ver.out" "$KMI_TMP/ver.err")"
# shellcheck source=SCRIPTDIR/../lib/qemu.sh
. "$KMI_LIB_DIR/qemu.sh"
if (kmi_qemu_setup) >/dev/null 2>&1; then
	kmi_qemu_kernel
	qroot=$KMI_TMP/initrd
	kmi_qemu_root "$qroot"
	kmi_qemu_add_kmodimg "$qroot"
	mkdir -p "$qroot/images"
	"$KMODIMG" copy --quiet --insecure "docker://$REG/kmod/examples:$KVER" "oci:$qroot/images/seed:v1" >/dev/null ||
		fail "copying the seed image into the guest's files"
	cat >"$KMI_TMP/guest.sh" <<-'EOF'
		step "kmodimg load of the Dockerfile-built image"
		run load kmodimg load --state-dir /run/state oci:/images/seed:v1 kmodimg_b
		check_rc "kmodimg load kmodimg_b" 0
		check_loaded kmodimg_a kmodimg_b
		check_used_by kmodimg_a kmodimg_b
		check_dmesg "kmodimg_b called kmodimg_a" "kmodimg_a_add(2,3)="
		run unload kmodimg unload --state-dir /run/state oci:/images/seed:v1 kmodimg_b
		check_rc "kmodimg unload kmodimg_b" 0
		check_not_loaded kmodimg_a kmodimg_b
	EOF
	kmi_qemu_script "$qroot" "$KMI_TMP/guest.sh"
	kmi_qemu_run "$qroot"
	rm -rf "$qroot"
	ok "the Dockerfile-built image loads and unloads in the guest"
else
	fail_later "qemu is not usable here (scripts/install-deps.sh test installs it)"
fi

# Prebuilt modules for the quick busybox builds below.
kmi_build_examples "$KMI_TMP/ex"
busy_ctx() { # DIR: a context with the example modules in mods/
	mkdir -p "$1/mods"
	cp "$KMI_TMP/ex/kmodimg_a.ko" "$KMI_TMP/ex/kmodimg_b.ko" "$1/mods/"
}

step "build secret and host module tree: visible to RUN, absent from the image"
c=$KMI_TMP/secret
busy_ctx "$c"
mkdir -p "$KMI_TMP/sec" "$KMI_TMP/hostmods/$KVER/kernel"
token=token-$$-$RANDOM$RANDOM
echo "super-secret-value $token" >"$KMI_TMP/sec/ci-build-secret"
echo marker >"$KMI_TMP/hostmods/$KVER/kernel/marker"
cat >"$c/Dockerfile" <<EOF
FROM $REG/base/busybox:latest
ARG KERNEL_FULL_VERSION
RUN grep super-secret-value /run/secrets/build-secret/ci-build-secret && echo SECRET-SEEN
RUN cat /host/lib/modules/\${KERNEL_FULL_VERSION}/kernel/marker && \\
    if touch /host/lib/modules/x 2>/dev/null; then echo HOST-WRITABLE; else echo HOST-READONLY; fi
COPY mods/ /opt/lib/modules/\${KERNEL_FULL_VERSION}/
EOF
kmi_run secret "$KMODIMG" build --dockerfile "$c/Dockerfile" --kernel "$KVER" --base-insecure \
	--secret "build-secret=$KMI_TMP/sec" --host-modules "$KMI_TMP/hostmods" -t "kmod/secret:$KVER"
((KMI_RC == 0)) || { tail -20 "$KMI_TMP/secret.err"; fail "secret build exited $KMI_RC"; }
grep -qx SECRET-SEEN "$KMI_TMP/secret.err" || fail_later "the RUN step did not read the secret"
grep -qx HOST-READONLY "$KMI_TMP/secret.err" || fail_later "/host/lib/modules not read-only (or not there)"
grep -qx marker "$KMI_TMP/secret.err" || fail_later "/host/lib/modules is not --host-modules"
# no depmod in this Dockerfile: a warning that names the fix, not an error
grep -q "WARNING: /opt/lib/modules/$KVER: modules.dep is missing.*RUN depmod -b /opt \${KERNEL_FULL_VERSION}" \
	"$KMI_TMP/secret.err" || fail_later "no warning about the missing depmod output: $(grep WARN "$KMI_TMP/secret.err")"
unpack "oci:$KMODIMG_STORE:kmod/secret:$KVER" secret
# (the Dockerfile's text is in the config's history: look for the secret's own token)
if grep -rqa "$token" "$KMI_TMP/secret.layout/blobs" "$KMI_TMP/secret/rootfs"; then
	fail_later "the secret's content is in the image"
fi
for b in "$KMI_TMP"/secret.layout/blobs/sha256/*; do
	if gzip -t "$b" 2>/dev/null && grep -qa "$token" < <(zcat "$b"); then
		fail_later "the secret's content is in layer $(basename "$b")"
	fi
done
[[ -z $(ls -A "$KMI_TMP/secret/rootfs/run/secrets/build-secret" 2>/dev/null) ]] ||
	fail_later "files under /run/secrets/build-secret in the image"
[[ -z $(find "$KMI_TMP/secret/rootfs/host" -type f 2>/dev/null) ]] || fail_later "host module files in the image"
grep -q "^kmod/secret:$KVER .*$KVER" < <("$KMODIMG" images) || fail_later "kmodimg images: $("$KMODIMG" images)"
ok "secret read by a plain RUN, not in any layer; host tree read-only; image in the local store"

step "build arguments: KMM's override rule, seen inside the build"
c=$KMI_TMP/args
busy_ctx "$c"
cat >"$c/Dockerfile" <<EOF
FROM $REG/base/busybox:latest
ARG KERNEL_FULL_VERSION
ARG KERNEL_VERSION
ARG MOD_NAME
ARG MOD_NAMESPACE
ARG USER1
ARG USER2
COPY mods/ /opt/lib/modules/\${KERNEL_FULL_VERSION}/
RUN echo "\$KERNEL_FULL_VERSION|\$KERNEL_VERSION|\$MOD_NAME|\$MOD_NAMESPACE|\$USER1|\$USER2" >/opt/args.txt && \\
    touch /opt/lib/modules/\${KERNEL_FULL_VERSION}/modules.dep /opt/lib/modules/\${KERNEL_FULL_VERSION}/modules.dep.bin
EOF
kmi_run args "$KMODIMG" build --dockerfile "$c/Dockerfile" --kernel "$KVER" --base-insecure \
	--build-arg USER1=first --build-arg KERNEL_VERSION=user-kver --build-arg MOD_NAME=user-mod \
	--build-arg USER2=two --build-arg USER1=second --module-namespace ns1 -t "oci:$KMI_TMP/args-out:v1"
((KMI_RC == 0)) || { tail -20 "$KMI_TMP/args.err"; fail "args build exited $KMI_RC"; }
unpack "oci:$KMI_TMP/args-out:v1" args
# KMM's values win over the user's; MOD_NAME defaults to REF's last name part;
# the user's own args keep their order (the later USER1 wins, as in kaniko).
want="$KVER|$KVER|args-out|ns1|second|two"
[[ $(cat "$KMI_TMP/args/rootfs/opt/args.txt") == "$want" ]] ||
	fail_later "build args seen in the build: $(cat "$KMI_TMP/args/rootfs/opt/args.txt"), want $want"
# empty index files: stale, and the warning says what the built-in depmod wanted
grep -q "WARNING: /opt/lib/modules/$KVER: modules.dep is stale.*depmod computes .kmodimg_.*RUN depmod -b /opt" \
	"$KMI_TMP/args.err" || fail_later "no stale-depmod warning: $(grep WARN "$KMI_TMP/args.err")"
ok "build args: $want"

step "KMM's in-tree link (host -> /host/lib/modules/KVER): the check follows it into --host-modules"
kmi_extract_modules "$KMI_TMP/tree" vfat fat
c=$KMI_TMP/link
s=$c/stage/lib/modules/$KVER
mkdir -p "$s"
cp "$(find "$KMI_TMP/tree/lib/modules/$KVER" -name vfat.ko)" "$s/"
# kmod's depmod (the oracle) through the link, which then points where KMM's recipe points it
ln -s "$KMI_TMP/tree/lib/modules/$KVER" "$s/host"
depmod -b "$c/stage" "$KVER"
ln -sfn "/host/lib/modules/$KVER" "$s/host"
printf 'FROM %s/base/busybox:latest\nARG KERNEL_FULL_VERSION\nCOPY stage/lib/modules/%s/ /opt/lib/modules/${KERNEL_FULL_VERSION}/\n' \
	"$REG" "$KVER" >"$c/Dockerfile"
kmi_run link "$KMODIMG" build --quiet --dockerfile "$c/Dockerfile" --kernel "$KVER" --base-insecure \
	--host-modules "$KMI_TMP/tree/lib/modules" -t "oci:$KMI_TMP/link-out:v1"
((KMI_RC == 0)) || { tail -20 "$KMI_TMP/link.err"; fail "link build exited $KMI_RC"; }
grep -qx "vfat.ko: host/kernel/fs/fat/fat.ko" "$s/modules.dep" || fail "kmod's depmod did not follow the link: $(cat "$s/modules.dep")"
grep -q "WARNING" "$KMI_TMP/link.err" && fail_later "warnings for kmod's depmod output through the link: $(grep WARNING "$KMI_TMP/link.err")"
unpack "oci:$KMI_TMP/link-out:v1" link
[[ $(readlink "$KMI_TMP/link/rootfs/opt/lib/modules/$KVER/host") == "/host/lib/modules/$KVER" ]] ||
	fail_later "the link did not survive COPY: $(ls -l "$KMI_TMP/link/rootfs/opt/lib/modules/$KVER")"
# the same image checked against a tree without fat: the check's depmod sees what the link reaches
kmi_run link2 "$KMODIMG" build --quiet --dockerfile "$c/Dockerfile" --kernel "$KVER" --base-insecure \
	--host-modules "$KMI_TMP/hostmods" -t "oci:$KMI_TMP/link-out:v2"
((KMI_RC == 0)) || fail_later "link build against another tree: exit $KMI_RC"
grep -q "WARNING: /opt/lib/modules/$KVER: modules.dep is stale.*vfat.ko.s line differs" "$KMI_TMP/link2.err" ||
	fail_later "no stale warning against a tree without fat: $(grep WARNING "$KMI_TMP/link2.err")"
ok "the in-tree link leads to --host-modules for the check, as for kmod's depmod"

step "a failing RUN: exit 1 naming the step, no image, nothing left"
c=$KMI_TMP/failing
busy_ctx "$c"
cat >"$c/Dockerfile" <<EOF
FROM $REG/base/busybox:latest
COPY mods/ /opt/lib/modules/$KVER/
RUN echo about to fail && false
EOF
kmi_run failing "$KMODIMG" build --dockerfile "$c/Dockerfile" --kernel "$KVER" --base-insecure --insecure \
	-t "docker://$REG/kmod/failing:$KVER"
((KMI_RC == 1)) || fail_later "failing RUN: exit $KMI_RC, want 1"
grep -q "kmodimg build: error: buildah build failed (exit 1) at STEP 3/[0-9]: RUN echo about to fail && false" \
	"$KMI_TMP/failing.err" || fail_later "the error does not name the step: $(tail -2 "$KMI_TMP/failing.err")"
skopeo inspect --tls-verify=false "docker://$REG/kmod/failing:$KVER" >/dev/null 2>&1 &&
	fail_later "an image was pushed after a failed build"
left=$(scratch_left)
[[ -z $left ]] || fail_later "scratch files left after a failed build: $left"

step "SIGTERM while buildah runs: passed on to it, exit 1, nothing stored or left"
c=$KMI_TMP/term
busy_ctx "$c"
printf 'FROM %s/base/busybox:latest\nCOPY mods/ /opt/lib/modules/%s/\nRUN echo SLEEPING && sleep 30\n' \
	"$REG" "$KVER" >"$c/Dockerfile"
"$KMODIMG" build --dockerfile "$c/Dockerfile" --kernel "$KVER" --base-insecure -t kmod/term:v1 \
	>"$KMI_TMP/term.out" 2>"$KMI_TMP/term.err" &
pid=$!
for ((i = 0; i < 300; i++)); do
	grep -qx SLEEPING "$KMI_TMP/term.err" && break
	sleep 0.2
done
grep -qx SLEEPING "$KMI_TMP/term.err" || fail_later "the RUN step did not start: $(tail -3 "$KMI_TMP/term.err")"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
((rc == 1)) || fail_later "SIGTERM during the build: exit $rc, want 1"
grep -q "kmodimg build: error: interrupted by signal 15 during the build" "$KMI_TMP/term.err" ||
	fail_later "SIGTERM not reported: $(tail -2 "$KMI_TMP/term.err")"
grep -q "kmod/term" < <("$KMODIMG" images) && fail_later "an interrupted build was stored"
left=$(scratch_left)
[[ -z $left ]] || fail_later "scratch files left after SIGTERM: $left"
ok "SIGTERM: buildah stopped, exit 1, nothing stored or left"

step "no modules (and modules for another kernel): error, nothing stored"
c=$KMI_TMP/nomods
busy_ctx "$c"
echo readme >"$c/README"
cat >"$c/Dockerfile" <<EOF
FROM $REG/base/busybox:latest
ARG KERNEL_FULL_VERSION
COPY README /opt/lib/modules/\${KERNEL_FULL_VERSION}/README
COPY mods/ /opt/lib/modules/0.0.0-other/
EOF
kmi_run nomods "$KMODIMG" build --quiet --dockerfile "$c/Dockerfile" --kernel "$KVER" --base-insecure \
	-t "kmod/nomods:v1"
((KMI_RC == 1)) || fail_later "no modules: exit $KMI_RC, want 1"
grep -q "error: no module (.*) in /opt/lib/modules/$KVER;.* the Dockerfile must copy" "$KMI_TMP/nomods.err" ||
	fail_later "no-module error: $(tail -2 "$KMI_TMP/nomods.err")"
grep -q "STEP" "$KMI_TMP/nomods.err" && fail_later "--quiet showed buildah's output of a good build"
printf 'FROM %s/base/busybox:latest\nCOPY mods/ /opt/lib/modules/0.0.0-other/\n' "$REG" >"$c/Dockerfile.other"
kmi_run nomods2 "$KMODIMG" build --quiet --dockerfile "$c/Dockerfile.other" --kernel 9.9.9 --base-insecure \
	-t "kmod/nomods:v1"
grep -q "no module directory /opt/lib/modules/9.9.9 in the image; .*other kernels: 0.0.0-other" "$KMI_TMP/nomods2.err" ||
	fail_later "wrong-kernel error: $(tail -2 "$KMI_TMP/nomods2.err")"
grep -q nomods < <("$KMODIMG" images) && fail_later "an image without modules was stored"
left=$(scratch_left)
[[ -z $left ]] || fail_later "scratch files left: $left"
ok "no module: error, nothing stored"

step "TLS: FROM pulls need --base-insecure; the push to a TLS registry takes the push flags"
c=$KMI_TMP/tls
busy_ctx "$c"
printf 'FROM %s/base/busybox:latest\nARG KERNEL_FULL_VERSION\nCOPY mods/ /opt/lib/modules/${KERNEL_FULL_VERSION}/\n' \
	"$REG" >"$c/Dockerfile"
kmi_run nobase "$KMODIMG" build --dockerfile "$c/Dockerfile" --kernel "$KVER" -t "kmod/tls:v1"
((KMI_RC == 1)) || fail_later "FROM a plain-HTTP registry without --base-insecure: exit $KMI_RC, want 1"
grep -q "buildah build failed.*STEP 1/[0-9]: FROM $REG/base/busybox:latest: .*HTTP response to HTTPS client" \
	"$KMI_TMP/nobase.err" ||
	fail_later "pull failure not named: $(tail -2 "$KMI_TMP/nobase.err")"
kmi_reg_start tls
kmi_run tlsfail "$KMODIMG" build --quiet --dockerfile "$c/Dockerfile" --kernel "$KVER" --base-insecure \
	-t "docker://$KMI_REG_HOST/kmod/tls:v1"
((KMI_RC == 2)) || fail_later "push to an untrusted TLS registry: exit $KMI_RC, want 2"
grep -qi "certificate" "$KMI_TMP/tlsfail.err" || fail_later "TLS failure not named: $(tail -1 "$KMI_TMP/tlsfail.err")"
kmi_run tlsok "$KMODIMG" build --quiet --dockerfile "$c/Dockerfile" --kernel "$KVER" --base-insecure \
	--insecure-skip-tls-verify -t "docker://$KMI_REG_HOST/kmod/tls:v1"
((KMI_RC == 0)) || fail_later "push with --insecure-skip-tls-verify: exit $KMI_RC: $(tail -2 "$KMI_TMP/tlsok.err")"
skopeo inspect --cert-dir "$KMI_REG_CERTS_D" "docker://$KMI_REG_HOST/kmod/tls:v1" >/dev/null ||
	fail_later "the image is not in the TLS registry"
# --if-missing: KMM builds only when the image is missing; here it is not
kmi_run again "$KMODIMG" build --dockerfile "$c/Dockerfile" --kernel "$KVER" --if-missing \
	--cert-dir "$KMI_REG_CERTS_D" -t "docker://$KMI_REG_HOST/kmod/tls:v1"
((KMI_RC == 0)) && grep -q "exists: nothing to do" "$KMI_TMP/again.err" && ! grep -q STEP "$KMI_TMP/again.err" ||
	fail_later "--if-missing with the image present: exit $KMI_RC: $(tail -2 "$KMI_TMP/again.err")"
kmi_reg_stop
ok "base TLS flags for FROM, push TLS flags for the push"

step "no buildah: an error naming the package"
kmi_run nobuildah env PATH=/nonexistent "$KMODIMG" build --dockerfile "$c/Dockerfile" --kernel "$KVER" -t "kmod/x:v1"
((KMI_RC == 1)) || fail_later "no buildah: exit $KMI_RC, want 1"
grep -q "apt-get install buildah" "$KMI_TMP/nobuildah.err" || fail_later "no buildah: $(cat "$KMI_TMP/nobuildah.err")"

step "usage errors (exit 2)"
usage() { # NEEDLE ARGS...
	local needle=$1
	shift
	kmi_run usage "$KMODIMG" build "$@"
	if ((KMI_RC != 2)) || ! grep -qF -- "$needle" "$KMI_TMP/usage.err"; then
		fail_later "build $*: exit $KMI_RC, stderr: $(head -1 "$KMI_TMP/usage.err")"
	fi
}
df=(--dockerfile "$c/Dockerfile" --kernel "$KVER" -t kmod/x:v1)
usage "takes no PATH" "${df[@]}" "$KMI_TMP/ex/kmodimg_a.ko"
usage "--subdir does not apply" "${df[@]}" --subdir extra
usage "--secret applies to --dockerfile builds only" --kernel "$KVER" -t kmod/x:v1 --secret a=/tmp "$KMI_TMP/ex/kmodimg_a.ko"
usage "want NAME=VALUE" "${df[@]}" --build-arg NOVALUE
usage "want NAME=DIR" "${df[@]}" --secret nodir
usage "is not a directory" "${df[@]}" --secret "s=$c/Dockerfile"
usage "--dockerfile \`$KMI_TMP/nope\`" --dockerfile "$KMI_TMP/nope" --kernel "$KVER" -t kmod/x:v1
usage "--host-modules" "${df[@]}" --host-modules "$KMI_TMP/nope"
usage "-t REF and --kernel KVER are required" --dockerfile "$c/Dockerfile" -t kmod/x:v1
left=$(scratch_left)
[[ -z $left ]] || fail_later "scratch files left: $left"

kill -0 "$PLAIN_PID" 2>/dev/null || fail_later "the plain registry died"
pass
