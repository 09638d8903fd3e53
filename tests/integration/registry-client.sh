#!/bin/bash
# The registry client (lib/registry) against real docker-registry servers,
# through tests/registry-driver: plain HTTP, TLS, client-certificate TLS,
# htpasswd Basic and Bearer token auth; then retries through a
# fault-injecting proxy.  skopeo is the oracle for what was pushed.
#
#   KMODIMG_BUILD=build bash tests/integration/registry-client.sh
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
. "$KMI_LIB_DIR/registry.sh"

build=${KMODIMG_BUILD:-build}
case $build in /*) ;; *) build=$KMODIMG_SRC/$build ;; esac
DRIVER=${KMODIMG_REGISTRY_DRIVER:-$build/tests/registry-driver}

kmi_need_cmds docker-registry htpasswd skopeo openssl python3 curl sha256sum cmp tar base64
[[ -x $DRIVER ]] || fail "registry driver not built: $DRIVER (ninja -C $build)"
kmi_mktemp
echo "driver=$DRIVER tmp=$KMI_TMP"

# No credentials from the machine running the test.
export HOME=$KMI_TMP/home
mkdir -p "$HOME"
unset DOCKER_CONFIG REGISTRY_AUTH_FILE XDG_RUNTIME_DIR

W=$KMI_TMP/work
mkdir -p "$W"
REPO=test/kmod
OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json

digest_of() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }
size_of() { stat -c %s "$1"; }

# ---------------------------------------------------------------- the image

# A small OCI image made by hand: an uncompressed tar layer, its config and
# the manifest (compact JSON: its bytes are what gets compared).
mkdir -p "$W/rootfs/opt/lib/modules/6.1.0-test/extra"
head -c 3000 /dev/urandom >"$W/rootfs/opt/lib/modules/6.1.0-test/extra/kmodimg_a.ko"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$W/rootfs" -cf "$W/layer.tar" opt
LAYER=$W/layer.tar LAYER_D=$(digest_of "$LAYER") LAYER_S=$(size_of "$LAYER")
printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["%s"]}}' \
	"$LAYER_D" >"$W/config.json"
CONFIG=$W/config.json CONFIG_D=$(digest_of "$CONFIG") CONFIG_S=$(size_of "$CONFIG")
printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%s}]}' \
	"$OCI_MANIFEST" "$CONFIG_D" "$CONFIG_S" "$LAYER_D" "$LAYER_S" >"$W/manifest.json"
MANIFEST=$W/manifest.json MANIFEST_D=$(digest_of "$MANIFEST")
MISSING_D=sha256:$(printf 'not there' | sha256sum | cut -d' ' -f1)
# Above 32 MiB: the chunked PATCH path.
head -c $((40 << 20)) /dev/urandom >"$W/big.bin"
BIG=$W/big.bin BIG_D=$(digest_of "$BIG") BIG_S=$(size_of "$BIG")

# ---------------------------------------------------------------- helpers

# drv NAME WANT_RC [NEEDLE...] -- DRIVER-ARGS...: run the driver; its exit
# code must be WANT_RC and its stderr must hold every NEEDLE.
drv() {
	local name=$1 want=$2 needles=() n
	shift 2
	while (($#)) && [[ $1 != -- ]]; do
		needles+=("$1")
		shift
	done
	shift
	kmi_run "$name" timeout 60 "$DRIVER" "$@"
	if ((KMI_RC != want)); then
		fail_later "$name: exit $KMI_RC, want $want"
		sed 's/^/    stderr: /' "$KMI_TMP/$name.err" | head -8
		return 1
	fi
	for n in "${needles[@]}"; do
		if ! grep -qF -- "$n" "$KMI_TMP/$name.err"; then
			fail_later "$name: stderr lacks '$n'"
			sed 's/^/    stderr: /' "$KMI_TMP/$name.err" | head -8
			return 1
		fi
	done
	ok "$name: exit $want${needles[*]:+ (stderr names: ${needles[*]})}"
}

same_file() {
	if cmp -s "$1" "$2"; then
		ok "$3"
	else
		fail_later "$3: $1 and $2 differ"
	fi
}

same_text() {
	if [[ $1 == "$2" ]]; then
		ok "$3"
	else
		fail_later "$3: got '$1', want '$2'"
	fi
}

# Secrets never reach the client's output.
no_secret() {
	if grep -qF -- "$2" "$KMI_TMP/$1.err" "$KMI_TMP/$1.out"; then
		fail_later "$1: the password appears in the output"
	fi
}

# push_image MODE CLIENT-ARGS...: blobs, manifest, then read everything back.
push_and_check() {
	local m=$1 h=$KMI_REG_HOST
	shift
	local c=("$@")
	drv "$m.push-config" 0 -- "${c[@]}" push-blob "$h" "$REPO" "$CONFIG_D" "$CONFIG"
	drv "$m.push-layer" 0 -- "${c[@]}" push-blob "$h" "$REPO" "$LAYER_D" "$LAYER"
	drv "$m.exists" 0 -- "${c[@]}" blob-exists "$h" "$REPO" "$LAYER_D"
	drv "$m.exists-missing" 1 -- "${c[@]}" blob-exists "$h" "$REPO" "$MISSING_D"
	drv "$m.put-manifest" 0 -- "${c[@]}" put-manifest "$h" "$REPO" v1 "$OCI_MANIFEST" "$MANIFEST"

	if skopeo inspect --raw "${KMI_REG_SKOPEO[@]}" "docker://$h/$REPO:v1" \
		>"$W/$m.skopeo.json" 2>"$W/$m.skopeo.err"; then
		same_file "$W/$m.skopeo.json" "$MANIFEST" "$m: skopeo reads back the pushed manifest bytes"
	else
		fail_later "$m: skopeo inspect failed: $(head -3 "$W/$m.skopeo.err")"
	fi

	drv "$m.head" 0 -- "${c[@]}" head-manifest "$h" "$REPO" v1 &&
		same_text "$(<"$KMI_TMP/$m.head.out")" "$MANIFEST_D" "$m: HEAD gives the manifest digest"
	drv "$m.get-manifest" 0 -- "${c[@]}" get-manifest "$h" "$REPO" v1 "$W/$m.manifest" &&
		same_file "$W/$m.manifest" "$MANIFEST" "$m: GET manifest by tag" &&
		same_text "$(<"$KMI_TMP/$m.get-manifest.out")" "$OCI_MANIFEST $MANIFEST_D" \
			"$m: media type and digest reported"
	drv "$m.get-by-digest" 0 -- "${c[@]}" get-manifest "$h" "$REPO" "$MANIFEST_D" "$W/$m.manifest2" &&
		same_file "$W/$m.manifest2" "$MANIFEST" "$m: GET manifest by digest"
	drv "$m.get-layer" 0 -- "${c[@]}" get-blob "$h" "$REPO" "$LAYER_D" "$LAYER_S" "$W/$m.layer" &&
		same_file "$W/$m.layer" "$LAYER" "$m: layer pulled intact"
	drv "$m.get-config" 0 -- "${c[@]}" get-blob "$h" "$REPO" "$CONFIG_D" "$CONFIG_S" "$W/$m.config" &&
		same_file "$W/$m.config" "$CONFIG" "$m: config pulled intact"

	drv "$m.missing-tag-head" 1 "HTTP 404" -- "${c[@]}" head-manifest "$h" "$REPO" nosuchtag
	drv "$m.missing-tag-get" 1 "MANIFEST_UNKNOWN" -- "${c[@]}" get-manifest "$h" "$REPO" nosuchtag "$W/x"
	drv "$m.missing-repo" 1 -- "${c[@]}" get-manifest "$h" nosuch/repo v1 "$W/x"
	drv "$m.missing-blob" 1 "BLOB_UNKNOWN" -- "${c[@]}" get-blob "$h" "$REPO" "$MISSING_D" 9 "$W/x"
	drv "$m.wrong-size" 2 "digest error" "got $LAYER_S bytes" -- \
		"${c[@]}" get-blob "$h" "$REPO" "$LAYER_D" $((LAYER_S + 1)) "$W/x"
	drv "$m.short-size" 2 "digest error" "larger than" -- \
		"${c[@]}" get-blob "$h" "$REPO" "$LAYER_D" $((LAYER_S - 1)) "$W/x"
	drv "$m.mount" 0 -- "${c[@]}" mount "$h" test/other "$LAYER_D" "$REPO" &&
		same_text "$(<"$KMI_TMP/$m.mount.out")" mounted "$m: cross-repository mount"
	drv "$m.mounted-exists" 0 -- "${c[@]}" blob-exists "$h" test/other "$LAYER_D"
	drv "$m.mount-missing" 0 -- "${c[@]}" mount "$h" test/other "$MISSING_D" "$REPO" &&
		same_text "$(<"$KMI_TMP/$m.mount-missing.out")" upload-required "$m: mount of an absent blob asks for an upload"
}

push_big() {
	local m=$1 h=$KMI_REG_HOST t0=$SECONDS
	shift
	drv "$m.push-big" 0 -- "$@" push-blob "$h" "$REPO" "$BIG_D" "$BIG"
	drv "$m.get-big" 0 -- "$@" get-blob "$h" "$REPO" "$BIG_D" "$BIG_S" "$W/$m.big" &&
		same_file "$W/$m.big" "$BIG" "$m: 40 MiB blob through PATCH chunks and back ($((SECONDS - t0)) s)"
	rm -f "$W/$m.big"
}

# ---------------------------------------------------------------- plain HTTP

step "plain HTTP"
kmi_reg_start plain
push_and_check plain "${KMI_REG_CLIENT[@]}"
push_big plain "${KMI_REG_CLIENT[@]}"
if grep -q "PATCH /v2/$REPO/blobs/uploads/" "$KMI_REG_DIR/registry.log"; then
	ok "plain: the big blob went up in PATCH requests"
else
	fail_later "plain: no PATCH in the registry log"
fi
drv plain.no-insecure 2 "tls error" "https://$KMI_REG_HOST/v2/" -- \
	head-manifest "$KMI_REG_HOST" "$REPO" v1
drv plain.bad-repo 2 "usage error" -- --insecure head-manifest "$KMI_REG_HOST" "Bad/Repo" v1
drv plain.bad-tag 2 "usage error" -- --insecure head-manifest "$KMI_REG_HOST" "$REPO" "bad tag"
PLAIN_HOST=$KMI_REG_HOST
kmi_reg_stop
drv plain.refused 2 "network error" "retrying" -- --insecure --retries 1 head-manifest "$PLAIN_HOST" "$REPO" v1

# ---------------------------------------------------------------- TLS

step "TLS"
kmi_reg_start tls
push_and_check tls "${KMI_REG_CLIENT[@]}"
push_big tls "${KMI_REG_CLIENT[@]}"
drv tls.no-ca 2 "tls error" "certificate" -- head-manifest "$KMI_REG_HOST" "$REPO" v1
drv tls.no-ca-insecure 2 "tls error" "plain http" -- --insecure head-manifest "$KMI_REG_HOST" "$REPO" v1
drv tls.skip-verify 0 -- --skip-verify head-manifest "$KMI_REG_HOST" "$REPO" v1
# --insecure asks plain http first on an explicit port: a TLS port's error
# answer must lead to verified https, not to a failure
drv tls.insecure-with-ca 0 -- "${KMI_REG_CLIENT[@]}" --insecure head-manifest "$KMI_REG_HOST" "$REPO" v1
# The host's certs.d is read too.  Only a HOST:PORT dir of our own is added
# there, and removed again (with certs.d itself if we had to create it).
SYS_CERTS_D=/etc/containers/certs.d
if [[ -d /etc/containers && -w /etc/containers && ! -e $SYS_CERTS_D/$KMI_REG_HOST ]]; then
	if [[ ! -d $SYS_CERTS_D ]]; then
		mkdir "$SYS_CERTS_D"
		kmi_reg_remove_at_exit "rmdir:$SYS_CERTS_D"
	fi
	mkdir "$SYS_CERTS_D/$KMI_REG_HOST"
	kmi_reg_remove_at_exit "$SYS_CERTS_D/$KMI_REG_HOST"
	cp "$KMI_REG_CA" "$SYS_CERTS_D/$KMI_REG_HOST/ca.crt"
	drv tls.system-certs-d 0 -- head-manifest "$KMI_REG_HOST" "$REPO" v1
	rm -rf "${SYS_CERTS_D:?}/$KMI_REG_HOST"
	rmdir "$SYS_CERTS_D" 2>/dev/null || true
else
	echo "note: $SYS_CERTS_D not writable: the system cert dir is not checked"
fi
kmi_reg_stop

step "TLS with client certificates"
kmi_reg_start mtls
drv mtls.no-client-cert 2 "tls error" -- --cert-dir "$KMI_REG_CERTS_D" --retries 1 \
	head-manifest "$KMI_REG_HOST" "$REPO" v1
push_and_check mtls "${KMI_REG_CLIENT[@]}"
kmi_reg_stop

# ---------------------------------------------------------------- htpasswd

step "htpasswd (Basic)"
kmi_reg_start htpasswd
push_and_check htpasswd "${KMI_REG_CLIENT[@]}"
drv htpasswd.no-creds 2 "auth error" "no credentials found for $KMI_REG_HOST" -- \
	--insecure head-manifest "$KMI_REG_HOST" "$REPO" v1
drv htpasswd.wrong-pass 2 "auth error" "credentials from the given USER:PASSWORD were rejected" -- \
	--insecure --creds "$KMI_REG_USER:wrong-$KMI_REG_PASS" head-manifest "$KMI_REG_HOST" "$REPO" v1
no_secret htpasswd.wrong-pass "wrong-$KMI_REG_PASS"
AUTH_B64=$(printf '%s:%s' "$KMI_REG_USER" "$KMI_REG_PASS" | base64 -w0)
printf '{"auths":{"http://%s/v2/":{"auth":"%s"}}}' "$KMI_REG_HOST" "$AUTH_B64" >"$W/auth.json"
drv htpasswd.authfile 0 -- --insecure --authfile "$W/auth.json" head-manifest "$KMI_REG_HOST" "$REPO" v1
mkdir -p "$W/dockercfg"
printf '{"auths":{"%s":{"username":"%s","password":"%s"}}}' "$KMI_REG_HOST" "$KMI_REG_USER" \
	"$KMI_REG_PASS" >"$W/dockercfg/config.json"
DOCKER_CONFIG=$W/dockercfg drv htpasswd.docker-config 0 -- --insecure head-manifest "$KMI_REG_HOST" "$REPO" v1
CFG_B64=$(printf '{"auths":{"%s":{"auth":"%s"}}}' "$KMI_REG_HOST" "$AUTH_B64" | base64 -w0)
cat >"$W/secret.yaml" <<EOF
apiVersion: v1
kind: Secret
metadata:
  name: regcred
type: kubernetes.io/dockerconfigjson
data:
  .dockerconfigjson: $CFG_B64
EOF
drv htpasswd.pull-secret-yaml 0 -- --insecure --pull-secret "$W/secret.yaml" \
	get-blob "$KMI_REG_HOST" "$REPO" "$LAYER_D" "$LAYER_S" "$W/x"
OLDCFG_B64=$(printf '{"%s":{"auth":"%s"}}' "$KMI_REG_HOST" "$AUTH_B64" | base64 -w0)
printf '{"apiVersion":"v1","kind":"Secret","type":"kubernetes.io/dockercfg","data":{".dockercfg":"%s"}}' \
	"$OLDCFG_B64" >"$W/secret.json"
drv htpasswd.pull-secret-dockercfg 0 -- --insecure --pull-secret "$W/secret.json" \
	head-manifest "$KMI_REG_HOST" "$REPO" v1
kmi_reg_stop

# ---------------------------------------------------------------- bearer

step "Bearer tokens"
kmi_reg_start bearer
push_and_check bearer "${KMI_REG_CLIENT[@]}"
if grep -q "scope=\['repository:$REPO:pull,push'\] user='testuser' -> 200" "$KMI_REG_TOKEN_LOG"; then
	ok "bearer: push asked for a pull,push token"
else
	fail_later "bearer: no pull,push token request in the token log"
fi
if grep -q "repository:$REPO:pull'" < <(grep "repository:test/other:pull,push" "$KMI_REG_TOKEN_LOG"); then
	ok "bearer: mount asked for pull on the source and push on the target"
else
	fail_later "bearer: mount token scopes wrong"
fi
drv bearer.no-creds 2 "auth error" "anonymous access denied" -- --insecure head-manifest "$KMI_REG_HOST" "$REPO" v1
drv bearer.wrong-pass 2 "auth error" "token server rejected the credentials" -- \
	--insecure --creds "$KMI_REG_USER:wrong-$KMI_REG_PASS" head-manifest "$KMI_REG_HOST" "$REPO" v1
no_secret bearer.wrong-pass "wrong-$KMI_REG_PASS"
AUTH_B64=$(printf '%s:%s' "$KMI_REG_USER" "$KMI_REG_PASS" | base64 -w0)
CFG_B64=$(printf '{"auths":{"https://%s":{"auth":"%s"}}}' "$KMI_REG_HOST" "$AUTH_B64" | base64 -w0)
printf 'kind: Secret\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: %s\n' \
	"$CFG_B64" >"$W/bsecret.yaml"
drv bearer.pull-secret 0 -- --insecure --pull-secret "$W/bsecret.yaml" \
	get-manifest "$KMI_REG_HOST" "$REPO" v1 "$W/x"
mkdir -p "$W/xdg/containers"
printf '{"auths":{"%s":{"auth":"%s"}}}' "$KMI_REG_HOST" "$AUTH_B64" >"$W/xdg/containers/auth.json"
XDG_RUNTIME_DIR=$W/xdg drv bearer.xdg-authfile 0 -- --insecure head-manifest "$KMI_REG_HOST" "$REPO" v1
kmi_reg_stop

# ---------------------------------------------------------------- faults

step "retries through the fault proxy"
kmi_reg_start plain
UP=$KMI_REG_HOST
drv fault.seed-config 0 -- --insecure push-blob "$UP" "$REPO" "$CONFIG_D" "$CONFIG"
drv fault.seed-layer 0 -- --insecure push-blob "$UP" "$REPO" "$LAYER_D" "$LAYER"
drv fault.seed-manifest 0 -- --insecure put-manifest "$UP" "$REPO" v1 "$OCI_MANIFEST" "$MANIFEST"
head -c $((3 << 20)) /dev/urandom >"$W/mid.bin"
MID_D=$(digest_of "$W/mid.bin")
drv fault.seed-mid 0 -- --insecure push-blob "$UP" "$REPO" "$MID_D" "$W/mid.bin"
head -c 5000 /dev/urandom >"$W/new.bin"
NEW_D=$(digest_of "$W/new.bin")

kmi_proxy_start "$UP" \
	--fail "^GET /v2/$REPO/manifests/v1\$:2:503" \
	--fail "^POST /v2/$REPO/blobs/uploads/:2:503" \
	--fail "^PUT /v2/$REPO/blobs/uploads/:1:500" \
	--fail "^HEAD /v2/$REPO/manifests/v1\$:1:429:1" \
	--fail "^GET /v2/test/forever/manifests/:100:503" \
	--drop "^GET /v2/$REPO/blobs/$MID_D"
P=$KMI_PROXY_HOST
count() { grep -c -- "$1" "$KMI_PROXY_LOG" || true; }

drv fault.get-manifest 0 "HTTP 503, retrying" -- --insecure get-manifest "$P" "$REPO" v1 "$W/f.manifest" &&
	same_file "$W/f.manifest" "$MANIFEST" "fault: manifest correct after two 503s"
same_text "$(count "GET /v2/$REPO/manifests/v1 -> 503 injected")/$(count "GET /v2/$REPO/manifests/v1 -> 200")" \
	2/1 "fault: two injected 503s, then one forwarded GET"

t0=$EPOCHREALTIME
drv fault.head-429 0 "HTTP 429" -- --insecure head-manifest "$P" "$REPO" v1
secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}')
if awk -v s="$secs" 'BEGIN{exit !(s >= 1.0)}'; then
	ok "fault: Retry-After: 1 honoured (${secs} s)"
else
	fail_later "fault: Retry-After ignored (${secs} s)"
fi

drv fault.push 0 "restarting the upload" -- --insecure push-blob "$P" "$REPO" "$NEW_D" "$W/new.bin"
same_text "$(count "POST /v2/$REPO/blobs/uploads/ -> 503 injected")/$(count "POST /v2/$REPO/blobs/uploads/ -> 202")" \
	2/2 "fault: POST retried after 503s, upload restarted after the PUT failed"
drv fault.push-check 0 -- --insecure get-blob "$UP" "$REPO" "$NEW_D" 5000 "$W/f.new" &&
	same_file "$W/f.new" "$W/new.bin" "fault: retried upload stored the right bytes"

drv fault.drop 0 "retrying" -- --insecure get-blob "$P" "$REPO" "$MID_D" $((3 << 20)) "$W/f.mid" &&
	same_file "$W/f.mid" "$W/mid.bin" "fault: blob correct after a connection dropped mid-body"
same_text "$(count "GET /v2/$REPO/blobs/$MID_D -> 200 dropped")/$(count "GET /v2/$REPO/blobs/$MID_D -> 200\$")" \
	1/1 "fault: one dropped download, one complete"

t0=$SECONDS
drv fault.forever 2 "HTTP 503" "injected 503" -- --insecure --retries 2 get-manifest "$P" test/forever v1 "$W/x"
same_text "$(count "GET /v2/test/forever/manifests/v1 -> 503 injected")" 3 "fault: 503 forever gives up after 2 retries"
if ((SECONDS - t0 <= 5)); then
	ok "fault: gave up quickly"
else
	fail_later "fault: giving up took $((SECONDS - t0)) s"
fi

drv fault.404-once 1 -- --insecure get-manifest "$P" "$REPO" nosuchtag "$W/x"
same_text "$(count "GET /v2/$REPO/manifests/nosuchtag")" 1 "fault: a 404 is not retried"
kmi_proxy_stop

step "content checks through the proxy: corruption, redirects, relative Locations"
kmi_proxy_start "$UP" --relative-location \
	--corrupt "^GET /v2/$REPO/manifests/v1\$" \
	--corrupt "^GET /v2/$REPO/blobs/$LAYER_D\$" \
	--redirect "^GET /v2/$REPO/blobs/$CONFIG_D\$" \
	--oversize "^GET /v2/$REPO/manifests/$MANIFEST_D\$"
P=$KMI_PROXY_HOST
# A manifest over KMI_MANIFEST_MAX (4 MiB) is refused as it arrives.
drv content.oversize 2 "proto error" "larger than 4194304 bytes" -- \
	--insecure get-manifest "$P" "$REPO" "$MANIFEST_D" "$W/x"
drv content.manifest 2 "digest error" "Docker-Content-Digest is $MANIFEST_D" -- \
	--insecure get-manifest "$P" "$REPO" v1 "$W/x"
drv content.manifest-by-digest 0 -- --insecure get-manifest "$P" "$REPO" "$MANIFEST_D" "$W/c.manifest" &&
	same_file "$W/c.manifest" "$MANIFEST" "content: manifest by digest intact once the corruption is spent"
drv content.blob 2 "digest error" "content has digest" -- \
	--insecure get-blob "$P" "$REPO" "$LAYER_D" "$LAYER_S" "$W/x"
drv content.redirect 0 -- --insecure get-blob "$P" "$REPO" "$CONFIG_D" "$CONFIG_S" "$W/c.config" &&
	same_file "$W/c.config" "$CONFIG" "content: blob fetched through a 307 redirect"
same_text "$(count "kmi_redirected=1 -> 200")" 1 "content: the redirect was followed"
head -c 7000 /dev/urandom >"$W/rel.bin"
drv content.relative-push 0 -- --insecure push-blob "$P" "$REPO" "$(digest_of "$W/rel.bin")" "$W/rel.bin"
drv content.relative-push-big 0 -- --insecure push-blob "$P" test/rel "$BIG_D" "$BIG"
drv content.relative-check 0 -- --insecure get-blob "$UP" test/rel "$BIG_D" "$BIG_S" "$W/c.big" &&
	same_file "$W/c.big" "$BIG" "content: chunked upload following relative Locations"
rm -f "$W/c.big"
kmi_proxy_stop

kmi_reg_stop

pass
