#!/bin/bash
# Credentials from docker credential helpers (credHelpers, credsStore), with
# Debian's real docker-credential-pass over a throwaway gpg key and password
# store, against an htpasswd registry; skopeo reads the same auth file as
# the oracle.  Also: a helper with nothing stored means anonymous (a 401 is
# an access error, exit 2), a missing helper program is named.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

kmi_setup
kmi_need_cmds docker-credential-pass gpg skopeo jq docker-registry htpasswd
type -P pass >/dev/null || skip "pass (the password store) not installed"
. "$KMI_LIB_DIR/registry.sh"

# Nothing of the user's own: keys, password store and docker config are ours.
export GNUPGHOME=$KMI_TMP/gnupg PASSWORD_STORE_DIR=$KMI_TMP/pass HOME=$KMI_TMP/home
export DOCKER_CONFIG=$KMI_TMP/docker
unset REGISTRY_AUTH_FILE XDG_RUNTIME_DIR
mkdir -m 700 "$GNUPGHOME" "$HOME" "$DOCKER_CONFIG"
export KMODIMG_STORE=$KMI_TMP/store

step "a gpg key and a password store"
gpg --batch --quiet --passphrase '' --quick-gen-key kmodimg-test@localhost default default never 2>/dev/null ||
	fail "gpg could not make a key"
# `command`: common.sh has a pass() of its own
command pass init kmodimg-test@localhost >/dev/null || fail "pass init failed"

kmi_reg_start htpasswd || fail "could not start an htpasswd registry"
# gpg started an agent for our GNUPGHOME: stop it before the registry's
# EXIT trap removes the temp dir, however the test ends.
trap 'gpgconf --kill gpg-agent 2>/dev/null || true; _kmi_reg_exit' EXIT
host=$KMI_REG_HOST
printf '{"ServerURL":"%s","Username":"%s","Secret":"%s"}' "$host" "$KMI_REG_USER" "$KMI_REG_PASS" |
	docker-credential-pass store || fail "docker-credential-pass store failed"

ex=$KMI_TMP/ex
kmi_build_examples "$ex"

step "credHelpers: push with the helper's credentials"
echo "{\"credHelpers\":{\"$host\":\"pass\"}}" >"$DOCKER_CONFIG/config.json"
d=$("$KMODIMG" build --quiet --insecure --kernel "$KVER" -t "docker://$host/kmod/ch:1" "$ex/kmodimg_a.ko") ||
	fail "build and push with credHelpers failed"
got=$(skopeo inspect --tls-verify=false --authfile "$DOCKER_CONFIG/config.json" "docker://$host/kmod/ch:1" | jq -r .Digest) ||
	fail "skopeo cannot read the image with the same auth file"
[[ $got == "$d" ]] || fail_later "skopeo sees $got, we pushed $d"
kmi_run ex "$KMODIMG" exists --insecure "docker://$host/kmod/ch:1"
((KMI_RC == 0)) || fail_later "exists with credHelpers: rc $KMI_RC $(cat "$KMI_TMP/ex.err")"

step "credsStore, and an auths placeholder as docker login leaves it"
echo "{\"auths\":{\"$host\":{}},\"credsStore\":\"pass\"}" >"$KMI_TMP/auth.json"
kmi_run cs "$KMODIMG" exists --insecure --authfile "$KMI_TMP/auth.json" "docker://$host/kmod/ch:1"
((KMI_RC == 0)) || fail_later "exists with credsStore: rc $KMI_RC $(cat "$KMI_TMP/cs.err")"
kmi_run csn "$KMODIMG" exists --insecure --authfile "$KMI_TMP/auth.json" "docker://$host/kmod/ch:absent"
((KMI_RC == 1)) || fail_later "credsStore, missing tag: rc $KMI_RC $(cat "$KMI_TMP/csn.err")"

step "an auths entry with credentials wins over credsStore"
auth=$(printf '%s:wrong' "$KMI_REG_USER" | base64)
echo "{\"auths\":{\"$host\":{\"auth\":\"$auth\"}},\"credsStore\":\"pass\"}" >"$KMI_TMP/auth2.json"
kmi_run aw "$KMODIMG" exists --insecure --authfile "$KMI_TMP/auth2.json" "docker://$host/kmod/ch:1"
((KMI_RC == 2)) || fail_later "auths entry not preferred over credsStore: rc $KMI_RC"

step "nothing stored for the host: anonymous, and the 401 is an access error"
docker-credential-pass erase <<<"$host" || fail "docker-credential-pass erase failed"
kmi_run none "$KMODIMG" exists --insecure "docker://$host/kmod/ch:1"
((KMI_RC == 2)) || fail_later "no stored credentials: rc $KMI_RC (must not read as absent)"

step "a helper program that is not installed"
echo "{\"credHelpers\":{\"$host\":\"kmodimg-no-such\"}}" >"$KMI_TMP/auth3.json"
kmi_run nh "$KMODIMG" exists --insecure --authfile "$KMI_TMP/auth3.json" "docker://$host/kmod/ch:1"
((KMI_RC == 2)) || fail_later "missing helper: rc $KMI_RC"
grep -q 'docker-credential-kmodimg-no-such' "$KMI_TMP/nh.err" ||
	fail_later "missing helper not named: $(cat "$KMI_TMP/nh.err")"
echo "{\"credHelpers\":{\"$host\":\"../../bin/sh\"}}" >"$KMI_TMP/auth4.json"
kmi_run bad "$KMODIMG" exists --insecure --authfile "$KMI_TMP/auth4.json" "docker://$host/kmod/ch:1"
((KMI_RC == 2)) && grep -q 'not a credential helper name' "$KMI_TMP/bad.err" ||
	fail_later "a helper name with a path was not refused: rc $KMI_RC $(cat "$KMI_TMP/bad.err")"

kmi_reg_stop
pass
