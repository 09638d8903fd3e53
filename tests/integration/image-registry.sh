#!/bin/bash
# The image commands against real registries (plain HTTP, TLS with a private
# CA, htpasswd Basic, Bearer tokens), checked with skopeo: build straight to
# a registry, exists exit codes, push, pull, copy, inspect, --if-missing,
# --base from a Docker-format image, and a faulty network through a proxy.
# The digest is the same whatever the destination.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

kmi_setup
kmi_need_cmds skopeo umoci jq docker-registry openssl htpasswd busybox
. "$KMI_LIB_DIR/registry.sh"
ex=$KMI_TMP/ex
kmi_build_examples "$ex"
export KMODIMG_STORE=$KMI_TMP/store
mods=("$ex/kmodimg_a.ko" "$ex/kmodimg_b.ko")

ref_digest=$("$KMODIMG" build --quiet --kernel "$KVER" -t "oci:$KMI_TMP/ref:v1" "${mods[@]}")

for mode in plain tls htpasswd bearer; do
	step "$mode registry"
	kmi_reg_start "$mode" || fail "could not start a $mode registry"
	flags=("${KMI_REG_CLIENT[@]}")
	repo=$KMI_REG_HOST/kmod/examples
	tokens_before=$( [[ -n $KMI_REG_TOKEN_LOG ]] && wc -l <"$KMI_REG_TOKEN_LOG" || echo 0)
	log_before=$(wc -l <"$KMI_REG_DIR/registry.log")
	d=$("$KMODIMG" build --quiet "${flags[@]}" --kernel "$KVER" -t "docker://$repo:$KVER" "${mods[@]}") ||
		fail "$mode: build and push failed"
	[[ $d == "$ref_digest" ]] || fail_later "$mode: pushed digest $d, layout build $ref_digest"
	if [[ $mode == plain ]]; then
		# --insecure and a port: the two POSTs find plain http, no GET /v2/ first;
		# 5 requests in all (the registry logs each once answered: wait for them)
		for _ in $(seq 50); do
			tail -n +"$((log_before + 1))" "$KMI_REG_DIR/registry.log" |
				grep 'msg="response completed"' | grep 'useragent=kmodimg' >"$KMI_TMP/reqs" || true
			(($(wc -l <"$KMI_TMP/reqs") >= 5)) && break
			sleep 0.1
		done
		sed -E 's/.*http.request.method=([A-Z]+) .*http.request.uri="?([^" ]*).*/\1 \2/' "$KMI_TMP/reqs" |
			sed -E 's,uploads/[^ ]+,uploads/ID,' | sort >"$KMI_TMP/reqs.short"
		printf '%s\n' "POST /v2/kmod/examples/blobs/uploads/" "POST /v2/kmod/examples/blobs/uploads/" \
			"PUT /v2/kmod/examples/blobs/uploads/ID" "PUT /v2/kmod/examples/blobs/uploads/ID" \
			"PUT /v2/kmod/examples/manifests/$KVER" | sort >"$KMI_TMP/reqs.want"
		if cmp -s "$KMI_TMP/reqs.want" "$KMI_TMP/reqs.short"; then
			ok "plain: build and push in 5 requests, no ping"
		else
			fail_later "plain: build and push sent: $(tr '\n' ';' <"$KMI_TMP/reqs.short")"
		fi
	fi
	# the parallel uploads share the first connection's token: one token request
	if [[ -n $KMI_REG_TOKEN_LOG ]]; then
		tokens=$(($(wc -l <"$KMI_REG_TOKEN_LOG") - tokens_before))
		((tokens == 1)) || fail_later "$mode: build and push asked for $tokens tokens"
	fi
	# the same image again: the upload sessions opened ahead go unused and are ended
	"$KMODIMG" build --quiet "${flags[@]}" --kernel "$KVER" -t "docker://$repo:again" "${mods[@]}" >/dev/null ||
		fail "$mode: second build and push failed"
	left=$(find "$KMI_REG_DIR/data" -path '*/_uploads/*' -name startedat | wc -l)
	((left == 0)) || fail_later "$mode: $left upload sessions left open in the registry"
	got=$(skopeo inspect "${KMI_REG_SKOPEO[@]}" "docker://$repo:$KVER" | jq -r .Digest) ||
		fail "$mode: skopeo cannot read what we pushed"
	[[ $got == "$d" ]] || fail_later "$mode: skopeo sees $got"

	kmi_run ex0 "$KMODIMG" exists "${flags[@]}" "docker://$repo:$KVER"
	((KMI_RC == 0)) || fail_later "$mode: exists on a present image: rc $KMI_RC $(cat "$KMI_TMP/ex0.err")"
	kmi_run ex1 "$KMODIMG" exists "${flags[@]}" "docker://$repo:absent"
	((KMI_RC == 1)) || fail_later "$mode: exists on a missing tag: rc $KMI_RC $(cat "$KMI_TMP/ex1.err")"
	kmi_run ex1b "$KMODIMG" exists "${flags[@]}" "docker://$KMI_REG_HOST/no/such/repo:1"
	((KMI_RC == 1)) || fail_later "$mode: exists on a missing repo: rc $KMI_RC"

	kmi_run im "$KMODIMG" build "${flags[@]}" --if-missing --kernel "$KVER" -t "docker://$repo:$KVER" "$ex/kmodimg_a.ko"
	((KMI_RC == 0)) && grep -q exists "$KMI_TMP/im.err" || fail_later "$mode: --if-missing rebuilt"

	"$KMODIMG" pull --quiet "${flags[@]}" "docker://$repo:$KVER" >/dev/null || fail "$mode: pull failed"
	grep -q "^$repo:$KVER " < <("$KMODIMG" images) || fail_later "$mode: pulled image not listed"
	"$KMODIMG" push --quiet "${flags[@]}" "$repo:$KVER" "docker://$KMI_REG_HOST/kmod/copy:1" >/dev/null ||
		fail_later "$mode: push to another repository failed"
	"$KMODIMG" copy --quiet "${flags[@]}" "docker://$KMI_REG_HOST/kmod/copy:1" "oci:$KMI_TMP/$mode:v1" >/dev/null ||
		fail_later "$mode: copy from the registry failed"
	[[ $(skopeo inspect "oci:$KMI_TMP/$mode:v1" | jq -r .Digest) == "$d" ]] || fail_later "$mode: copy changed the digest"
	"$KMODIMG" inspect "${flags[@]}" "docker://$repo:$KVER" | jq -e --arg k "$KVER" '.kernels[$k] | length == 2' >/dev/null ||
		fail_later "$mode: inspect does not see both modules"
	"$KMODIMG" rmi "$repo:$KVER"

	case $mode in
	tls)
		kmi_run notls "$KMODIMG" exists "docker://$repo:$KVER"
		((KMI_RC == 2)) || fail_later "tls without the CA: rc $KMI_RC (a TLS failure must not read as absent)"
		;;
	htpasswd | bearer)
		kmi_run bad "$KMODIMG" exists --insecure --creds "$KMI_REG_USER:wrong" "docker://$repo:$KVER"
		((KMI_RC == 2)) || fail_later "$mode: wrong password: rc $KMI_RC"
		! grep -q wrong "$KMI_TMP/bad.err" || fail_later "$mode: the password appears in a message"
		kmi_run anon "$KMODIMG" exists --insecure "docker://$repo:$KVER"
		((KMI_RC == 2)) || fail_later "$mode: no credentials: rc $KMI_RC"
		;;
	esac
	kmi_reg_stop
	ok "$mode"
done

step "--base from a Docker-format image in a registry"
kmi_reg_start plain
(cd "$KMI_TMP" && umoci init --layout bb >/dev/null && umoci new --image bb:1 >/dev/null &&
	umoci insert --image bb:1 "$(command -v busybox)" /bin/busybox >/dev/null) || fail "umoci base"
skopeo copy -q --format v2s2 --dest-tls-verify=false "oci:$KMI_TMP/bb:1" "docker://$KMI_REG_HOST/base/busybox:1" ||
	fail "could not push a Docker-format base"
d=$("$KMODIMG" build --quiet --insecure --base "docker://$KMI_REG_HOST/base/busybox:1" --kernel "$KVER" \
	-t "docker://$KMI_REG_HOST/kmod/based:1" "${mods[@]}") || fail "build --base from a registry failed"
raw=$(skopeo inspect --raw --tls-verify=false "docker://$KMI_REG_HOST/kmod/based:1")
jq -e '.mediaType == "application/vnd.oci.image.manifest.v1+json" and (.layers | length == 2) and
	all(.layers[]; .mediaType | startswith("application/vnd.oci.image.layer"))' <<<"$raw" >/dev/null ||
	fail_later "based image is not an OCI manifest with both layers: $raw"
"$KMODIMG" copy --quiet --insecure "docker://$KMI_REG_HOST/kmod/based:1" "oci:$KMI_TMP/based:1" >/dev/null
(cd "$KMI_TMP" && umoci unpack --image based:1 ub >/dev/null) || fail "umoci unpack of the based image"
[[ -x $KMI_TMP/ub/rootfs/bin/busybox && -f $KMI_TMP/ub/rootfs/opt/lib/modules/$KVER/kmodimg_b.ko ]] ||
	fail_later "based image lacks busybox or the modules"
ok "Docker-format base converted, both layers there"

step "a build that fails does not wait for the registry"
# The registry connection is opened during the build: a failed build must
# stop it, not sit through its retries (and not print them).
kmi_run deadreg "$KMODIMG" build --insecure --kernel 0.0.0-wrong -t "docker://127.0.0.1:1/kmod/x:1" "${mods[@]}"
((KMI_RC == 1)) || fail_later "build error with an unreachable registry: rc $KMI_RC"
grep -q "not 0.0.0-wrong" "$KMI_TMP/deadreg.err" || fail_later "the build's error is missing: $(cat "$KMI_TMP/deadreg.err")"
! grep -q "retrying" "$KMI_TMP/deadreg.err" || fail_later "registry retries after the build failed: $(cat "$KMI_TMP/deadreg.err")"
kmi_run deadreg2 "$KMODIMG" build --insecure --kernel "$KVER" -t "docker://127.0.0.1:1/kmod/x:1" "${mods[@]}"
((KMI_RC == 1)) && grep -q "127.0.0.1:1" "$KMI_TMP/deadreg2.err" ||
	fail_later "good build, unreachable registry: rc $KMI_RC $(cat "$KMI_TMP/deadreg2.err")"
ok "build errors first, registry errors named"

step "faults: 503s on upload and manifest, a dropped blob download"
up=$KMI_REG_HOST
kmi_proxy_start "$up" \
	--fail "^POST /v2/kmod/faulty/blobs/uploads/:2:503" \
	--fail "^PUT /v2/kmod/faulty/manifests/1:1:503" \
	--fail "^GET /v2/kmod/faulty/manifests/1:2:503" \
	--drop "^GET /v2/kmod/faulty/blobs/sha256:"
d=$("$KMODIMG" push --quiet --insecure "oci:$KMI_TMP/ref:v1" "docker://$KMI_PROXY_HOST/kmod/faulty:1") ||
	fail "push through 503s failed"
[[ $d == "$ref_digest" ]] || fail_later "push through faults: $d"
"$KMODIMG" copy --quiet --insecure "docker://$KMI_PROXY_HOST/kmod/faulty:1" "oci:$KMI_TMP/faulty:1" >/dev/null ||
	fail_later "pull through a dropped connection failed"
[[ $(skopeo inspect "oci:$KMI_TMP/faulty:1" | jq -r .Digest) == "$ref_digest" ]] || fail_later "pulled image differs"
(cd "$KMI_TMP" && umoci unpack --image faulty:1 uf >/dev/null) || fail_later "what was pulled through faults does not unpack"
grep -q "injected" "$KMI_PROXY_LOG" && grep -q "dropped" "$KMI_PROXY_LOG" || fail_later "the proxy injected nothing"
left=$(find "$KMI_TMP/faulty/blobs" -name '.tmp-*' | wc -l)
((left == 0)) || fail_later "$left temp blobs left in the layout"
kmi_proxy_stop
kmi_reg_stop
ok "retries"
pass
