#!/bin/bash
# kmodimg build into OCI layouts and the local store, read back by the
# oracles: skopeo (manifest, config) and umoci (unpacked filesystem).
# Reproducibility: the same inputs give the same digest whatever the file
# times, umask, destination or directory; KMM layout: modules and depmod
# files under /opt/lib/modules/KVER, the host link verbatim.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

kmi_setup
kmi_need_cmds skopeo umoci jq
ex=$KMI_TMP/ex
kmi_build_examples "$ex"
export KMODIMG_STORE=$KMI_TMP/store

build() { "$KMODIMG" build --quiet --kernel "$KVER" "$@"; }

step "build into an OCI layout"
d1=$(build -t "oci:$KMI_TMP/l1:v1" "$ex/kmodimg_a.ko" "$ex/kmodimg_b.ko")
[[ $d1 == sha256:* ]] || fail "build printed no digest: $d1"
skopeo inspect "oci:$KMI_TMP/l1:v1" >"$KMI_TMP/insp.json" || fail "skopeo cannot read our layout"
[[ $(jq -r .Digest "$KMI_TMP/insp.json") == "$d1" ]] || fail_later "skopeo sees another digest"
[[ $(jq -r .Architecture "$KMI_TMP/insp.json") == amd64 ]] || fail_later "architecture is not amd64"
[[ $(jq -r '.Labels["io.kmodimg.kernel.version"]' "$KMI_TMP/insp.json") == "$KVER" ]] ||
	fail_later "kernel label missing"
(cd "$KMI_TMP" && umoci unpack --image l1:v1 b1 >/dev/null) || fail "umoci cannot unpack our image"
m=$KMI_TMP/b1/rootfs/opt/lib/modules/$KVER
for f in kmodimg_a.ko kmodimg_b.ko modules.dep modules.dep.bin modules.alias.bin modules.symbols.bin; do
	[[ -f $m/$f ]] || fail_later "$f missing in the unpacked image"
done
grep -qx 'kmodimg_b.ko: kmodimg_a.ko' "$m/modules.dep" || fail_later "modules.dep: $(cat "$m/modules.dep")"
cmp -s "$m/kmodimg_a.ko" "$ex/kmodimg_a.ko" || fail_later "module bytes changed"
# kmod's modprobe reads our indexes from the unpacked image
modprobe -d "$KMI_TMP/b1/rootfs/opt" -S "$KVER" --show-depends kmodimg_b >"$KMI_TMP/sd" 2>&1 ||
	fail_later "modprobe --show-depends failed: $(cat "$KMI_TMP/sd")"
grep -q "insmod .*/kmodimg_a.ko" "$KMI_TMP/sd" || fail_later "modprobe does not load kmodimg_a first"
ok "layout read by skopeo and umoci; modprobe follows the indexes"

step "reproducible: other mtimes, umask, order, destination"
cp -a "$ex" "$KMI_TMP/ex2"
touch -d '2001-02-03 04:05:06' "$KMI_TMP/ex2"/*.ko
chmod 0600 "$KMI_TMP/ex2/kmodimg_a.ko"
d2=$(umask 077 && build -t "oci:$KMI_TMP/l2:other" "$KMI_TMP/ex2/kmodimg_b.ko" "$KMI_TMP/ex2/kmodimg_a.ko")
d3=$(build -t "mymod:1.0" "$ex/kmodimg_a.ko" "$ex/kmodimg_b.ko")
[[ $d2 == "$d1" ]] || fail_later "digest changed with mtimes/umask/order: $d1 vs $d2"
[[ $d3 == "$d1" ]] || fail_later "digest differs in the store: $d1 vs $d3"
d4=$(SOURCE_DATE_EPOCH=1700000000 build -t "oci:$KMI_TMP/l3" "$ex/kmodimg_a.ko" "$ex/kmodimg_b.ko")
d5=$(SOURCE_DATE_EPOCH=1700000000 build -t "oci:$KMI_TMP/l4" "$ex/kmodimg_a.ko" "$ex/kmodimg_b.ko")
[[ $d4 != "$d1" && $d4 == "$d5" ]] || fail_later "SOURCE_DATE_EPOCH: $d4 $d5 (base $d1)"
ok "same inputs, same digest ($d1)"

step "the store: images, inspect, rmi"
"$KMODIMG" images >"$KMI_TMP/images"
grep -q "^mymod:1.0 .*$KVER" "$KMI_TMP/images" || fail_later "images: $(cat "$KMI_TMP/images")"
"$KMODIMG" inspect mymod:1.0 >"$KMI_TMP/inspect.json" || fail "inspect failed"
[[ $(jq -r .digest "$KMI_TMP/inspect.json") == "$d1" ]] || fail_later "inspect digest"
jq -e --arg k "$KVER" '.kernels[$k] | index("kmodimg_a.ko")' "$KMI_TMP/inspect.json" >/dev/null ||
	fail_later "inspect does not list kmodimg_a.ko under $KVER"
skopeo inspect "oci:$KMODIMG_STORE:mymod:1.0" >/dev/null || fail_later "skopeo cannot read the store"
"$KMODIMG" rmi mymod:1.0
grep -q mymod < <("$KMODIMG" images) && fail_later "rmi left the image listed"
left=$(find "$KMODIMG_STORE/blobs/sha256" -type f | wc -l)
((left == 0)) || fail_later "rmi left $left blobs"
ok "images/inspect/rmi"

step "subdir, in-tree link, firmware, labels, zstd"
kmi_extract_modules "$KMI_TMP/tree" vfat fat
vfat=$(find "$KMI_TMP/tree" -name vfat.ko)
mkdir -p "$KMI_TMP/fw/acme"
echo firmware >"$KMI_TMP/fw/acme/blob.bin"
build -t "oci:$KMI_TMP/l5:v1" --subdir extra --in-tree-link host \
	--kernel-tree "$KMI_TMP/tree/lib/modules/$KVER" --firmware "$KMI_TMP/fw" --label team=drivers \
	"$vfat" "$ex/kmodimg_a.ko" >/dev/null 2>"$KMI_TMP/build.err" || fail "build with link: $(cat "$KMI_TMP/build.err")"
(cd "$KMI_TMP" && umoci unpack --image l5:v1 b5 >/dev/null) || fail "umoci unpack l5"
m=$KMI_TMP/b5/rootfs/opt/lib/modules/$KVER
[[ $(readlink "$m/host") == "/lib/modules/$KVER" ]] || fail_later "host link: $(readlink "$m/host")"
grep -qx 'extra/vfat.ko: host/kernel/fs/fat/fat.ko' "$m/modules.dep" ||
	fail_later "vfat's in-tree dependency: $(grep vfat "$m/modules.dep")"
[[ -f $KMI_TMP/b5/rootfs/lib/firmware/acme/blob.bin ]] || fail_later "firmware not under /lib/firmware"
[[ -s $m/modules.builtin.bin && -f $m/modules.builtin ]] ||
	fail_later "the kernel tree's modules.builtin did not make modules.builtin.bin"
skopeo inspect "oci:$KMI_TMP/l5:v1" | jq -e '.Labels.team == "drivers"' >/dev/null || fail_later "label"
dz=$(build -t "oci:$KMI_TMP/l6:v1" --compression zstd "$ex/kmodimg_a.ko")
skopeo inspect --raw "oci:$KMI_TMP/l6:v1" | jq -e '.layers[0].mediaType | endswith("+zstd")' >/dev/null ||
	fail_later "zstd media type"
[[ $dz == sha256:* ]] || fail_later "zstd build"
kmi_run nolink "$KMODIMG" build --kernel "$KVER" -t "oci:$KMI_TMP/l9:v1" "$vfat"
((KMI_RC == 0)) || fail_later "vfat alone should build (the target provides fat): rc $KMI_RC"
grep -q "vfat needs module fat, which the image does not contain" "$KMI_TMP/nolink.err" ||
	fail_later "no warning for the unresolvable dependency: $(cat "$KMI_TMP/nolink.err")"
ok "link, firmware, label, zstd, unresolved-dependency warning"

step "--base: the modules layer on top of a busybox image (KMM >= 2.2)"
kmi_need_cmds busybox
(cd "$KMI_TMP" && umoci init --layout base >/dev/null && umoci new --image base:latest >/dev/null &&
	umoci insert --image base:latest "$(command -v busybox)" /bin/busybox >/dev/null) ||
	fail "umoci could not make a base image"
db=$(build -t "oci:$KMI_TMP/l7:v1" --base "oci:$KMI_TMP/base:latest" "$ex/kmodimg_a.ko")
db2=$(build -t "oci:$KMI_TMP/l8:v1" --base "oci:$KMI_TMP/base:latest" "$ex/kmodimg_a.ko")
[[ $db == "$db2" ]] || fail_later "a rebuild on the same base gave another digest"
skopeo inspect --raw "oci:$KMI_TMP/l7:v1" | jq -e '.layers | length == 2' >/dev/null ||
	fail_later "the image does not have the base layer and ours"
(cd "$KMI_TMP" && umoci unpack --image l7:v1 b7 >/dev/null) || fail "umoci unpack l7"
[[ -x $KMI_TMP/b7/rootfs/bin/busybox && -f $KMI_TMP/b7/rootfs/opt/lib/modules/$KVER/kmodimg_a.ko ]] ||
	fail_later "unpacked image lacks the base's busybox or our module"
ok "base image"

step "--base with merged /usr: firmware lands where lib -> usr/lib points"
mkdir -p "$KMI_TMP/mu/usr/lib" && ln -s usr/lib "$KMI_TMP/mu/lib" && echo keep >"$KMI_TMP/mu/usr/lib/libkeep"
(cd "$KMI_TMP" && umoci insert --image base:latest --tag merged mu / >/dev/null) || fail "umoci merged-/usr base"
build -t "oci:$KMI_TMP/l12:v1" --base "oci:$KMI_TMP/base:merged" --firmware "$KMI_TMP/fw" "$ex/kmodimg_a.ko" >/dev/null ||
	fail_later "build on a merged-/usr base failed"
(cd "$KMI_TMP" && umoci unpack --image l12:v1 b12 >/dev/null) || fail "umoci unpack l12"
[[ -L $KMI_TMP/b12/rootfs/lib && $(readlink "$KMI_TMP/b12/rootfs/lib") == usr/lib ]] ||
	fail_later "our layer replaced the base's lib -> usr/lib symlink"
[[ -f $KMI_TMP/b12/rootfs/usr/lib/firmware/acme/blob.bin && -f $KMI_TMP/b12/rootfs/usr/lib/libkeep ]] ||
	fail_later "firmware not under usr/lib/firmware, or the base's usr/lib lost"
ok "merged-/usr base kept, firmware placed through its symlink"

step "--base index: the platform of the modules, not of the build host"
(cd "$KMI_TMP" && umoci config --image base:latest --architecture arm64 --tag arm >/dev/null) ||
	fail "umoci could not make an arm64 base"
mdesc() { jq -c --arg t "$1" --arg a "$2" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t)
	| del(.annotations) + {platform: {os: "linux", architecture: $a}}' "$KMI_TMP/base/index.json"; }
jq -nc --argjson a "$(mdesc arm arm64)" --argjson b "$(mdesc latest amd64)" \
	'{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [$a, $b]}' >"$KMI_TMP/idx.json"
idig=$(sha256sum "$KMI_TMP/idx.json" | cut -d' ' -f1)
cp "$KMI_TMP/idx.json" "$KMI_TMP/base/blobs/sha256/$idig"
jq --arg d "sha256:$idig" --argjson n "$(stat -c %s "$KMI_TMP/idx.json")" '.manifests += [{mediaType:
	"application/vnd.oci.image.index.v1+json", digest: $d, size: $n,
	annotations: {"org.opencontainers.image.ref.name": "multi"}}]' "$KMI_TMP/base/index.json" >"$KMI_TMP/i2.json" &&
	mv "$KMI_TMP/i2.json" "$KMI_TMP/base/index.json"
# an arm64 module (e_machine 183 patched in; nothing loads it here)
cp "$ex/kmodimg_a.ko" "$KMI_TMP/arm.ko"
printf '\xb7\x00' | dd of="$KMI_TMP/arm.ko" bs=1 seek=18 conv=notrunc status=none
build -t "oci:$KMI_TMP/l10:v1" --base "oci:$KMI_TMP/base:multi" "$ex/kmodimg_a.ko" >/dev/null ||
	fail_later "amd64 modules on a multi-arch base failed"
[[ $(skopeo inspect --config "oci:$KMI_TMP/l10:v1" | jq -r .architecture) == amd64 ]] ||
	fail_later "amd64 modules did not get the amd64 base"
build -t "oci:$KMI_TMP/l11:v1" --base "oci:$KMI_TMP/base:multi" "$KMI_TMP/arm.ko" >/dev/null ||
	fail_later "arm64 modules on a multi-arch base failed"
[[ $(skopeo inspect --config "oci:$KMI_TMP/l11:v1" | jq -r .architecture) == arm64 ]] ||
	fail_later "arm64 modules did not get the arm64 base"
ok "base index resolved for the modules' architecture"

step "exists and --if-missing on layouts"
kmi_run e1 "$KMODIMG" exists "oci:$KMI_TMP/l1:v1"
((KMI_RC == 0)) || fail_later "exists on a present image: rc $KMI_RC"
kmi_run e2 "$KMODIMG" exists "oci:$KMI_TMP/l1:nope"
((KMI_RC == 1)) || fail_later "exists on a missing tag: rc $KMI_RC"
kmi_run e3 "$KMODIMG" exists "oci:$KMI_TMP/no-such-dir:v1"
((KMI_RC == 1)) || fail_later "exists on a missing layout: rc $KMI_RC"
kmi_run im "$KMODIMG" build --if-missing --kernel "$KVER" -t "oci:$KMI_TMP/l1:v1" "$ex/kmodimg_b.ko"
((KMI_RC == 0)) && grep -q "exists" "$KMI_TMP/im.err" || fail_later "--if-missing did not skip"
[[ $(cat "$KMI_TMP/im.out") == "$d1" ]] || fail_later "--if-missing printed '$(cat "$KMI_TMP/im.out")', not the digest"
step "copy within one layout (one lock per process and layout)"
timeout 20 "$KMODIMG" copy "oci:$KMI_TMP/l1:v1" "oci:$KMI_TMP/l1:copy" >/dev/null || fail_later "copy within a layout failed or hung"
[[ $(skopeo inspect "oci:$KMI_TMP/l1:copy" | jq -r .Digest) == "$d1" ]] || fail_later "copy changed the digest"
[[ $(skopeo inspect "oci:$KMI_TMP/l1:v1" | jq -r .Digest) == "$d1" ]] || fail_later "--if-missing rebuilt"
ok "exists / --if-missing"

step "refusals"
kmi_run wrongk "$KMODIMG" build --kernel 6.1.0-0-notthis -t "oci:$KMI_TMP/bad" "$ex/kmodimg_a.ko"
((KMI_RC == 1)) && grep -q "built for kernel $KVER, not 6.1.0-0-notthis" "$KMI_TMP/wrongk.err" ||
	fail_later "vermagic mismatch not refused (rc $KMI_RC): $(cat "$KMI_TMP/wrongk.err")"
[[ ! -e $KMI_TMP/bad/index.json ]] || ! grep -q sha256 "$KMI_TMP/bad/index.json" || fail_later "refused build left an image"
kmi_run forced "$KMODIMG" build --force --quiet --kernel 6.1.0-0-notthis -t "oci:$KMI_TMP/forced" "$ex/kmodimg_a.ko"
((KMI_RC == 0)) || fail_later "--force did not build: $(cat "$KMI_TMP/forced.err")"
kmi_run nok "$KMODIMG" build --kernel "$KVER" -t "oci:$KMI_TMP/x" "$KMI_TMP/fw/acme/blob.bin"
((KMI_RC == 2)) || fail_later "a non-module path: rc $KMI_RC"
kmi_run nolink "$KMODIMG" build --kernel "$KVER" --in-tree-link host --kernel-tree /nonexistent \
	-t "oci:$KMI_TMP/x" "$ex/kmodimg_a.ko"
((KMI_RC == 2)) && grep -q -- "--kernel-tree" "$KMI_TMP/nolink.err" || fail_later "missing kernel tree: rc $KMI_RC"
kmi_run dup "$KMODIMG" build --kernel "$KVER" -t "oci:$KMI_TMP/x" "$ex/kmodimg_a.ko" "$ex/./kmodimg_a.ko"
((KMI_RC == 2)) && grep -q "both go to" "$KMI_TMP/dup.err" || fail_later "two inputs on one path: rc $KMI_RC"
kmi_run usage "$KMODIMG" build -t "oci:$KMI_TMP/x" "$ex/kmodimg_a.ko"
((KMI_RC == 2)) || fail_later "no --kernel: rc $KMI_RC"
ok "refusals"
pass
