# shellcheck shell=bash disable=SC2034 # KMI_REG_*/KMI_PROXY_* are for the sourcing test
# tests/lib/registry.sh: real registries (Debian's docker-registry, i.e.
# distribution 2.8) on 127.0.0.1 for integration tests, plus a token server
# and a fault-injecting proxy.  Safe under `set -euo pipefail`.
#
#     . "$KMI_LIB_DIR/registry.sh"     # after common.sh and kmi_mktemp
#     kmi_reg_start tls                # plain | tls | mtls | htpasswd | bearer
#     ... "$KMI_REG_HOST" "${KMI_REG_SKOPEO[@]}" "${KMI_REG_CLIENT[@]}" ...
#     kmi_reg_stop
#
# kmi_reg_start MODE sets, for the registry it started:
#   KMI_REG_HOST      127.0.0.1:PORT
#   KMI_REG_URL       http(s)://127.0.0.1:PORT
#   KMI_REG_DIR       its directory (config.yml, data/, log, certs)
#   KMI_REG_PID       its PID (and KMI_REG_TOKEN_PID for bearer, else empty)
#   KMI_REG_CERTS_D   tls/mtls: a cert dir holding ca.crt (skopeo --cert-dir)
#   KMI_REG_CA        tls/mtls: the CA file (curl --cacert)
#   KMI_REG_CLIENT_D  mtls: a cert dir holding ca.crt, client.cert, client.key
#   KMI_REG_USER, KMI_REG_PASS   htpasswd/bearer: the valid credentials
#   KMI_REG_TOKEN_LOG bearer: the token server's request log
#   KMI_REG_SKOPEO    array: skopeo inspect flags for this registry
#   KMI_REG_CLIENT    array: registry-driver/kmodimg flags for this registry
# Modes:
#   plain     HTTP, no auth
#   tls       HTTPS with a fresh self-signed cert (SAN IP:127.0.0.1, DNS:localhost)
#   mtls      tls, and client certificates signed by a second CA are required
#   htpasswd  HTTP with Basic auth (bcrypt, `htpasswd -Bbn`)
#   bearer    HTTP with token auth, tokens from tests/lib/token-server.py
#
# kmi_proxy_start UPSTREAM_HOST RULE_ARGS...: tests/lib/fault-proxy.py in
#   front of a plain registry (see its rules); sets
#   KMI_PROXY_HOST, KMI_PROXY_LOG, KMI_PROXY_PID.  kmi_proxy_stop stops it.
#
# kmi_reg_remove_at_exit PATH...: paths to `rm -rf` at cleanup (last added
#   first); "rmdir:DIR" removes DIR only if it is empty.
#
# Every process is recorded by PID and stopped (by PID, never by name) by
# kmi_reg_stop/kmi_proxy_stop or, at the latest, by the EXIT trap this file
# installs (it runs common.sh's kmi_cleanup afterwards when that exists).
# All files live in $KMI_TMP (or a private temp dir when there is none).

KMI_REG_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KMI_REG_PIDS=()
KMI_REG_REMOVE=()
KMI_REG_BASE=
KMI_REG_OWN_BASE=0
KMI_REG_SEQ=0
KMI_REG_TIMEOUT=${KMI_REG_TIMEOUT:-15}

# Never route test traffic to 127.0.0.1 through a proxy from the environment.
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy

# The EXIT trap: our servers first, then common.sh's temp dir.  The script's
# exit status is the one it exited with: an EXIT trap does not change it.
_kmi_reg_exit() {
	kmi_reg_cleanup
	if declare -F kmi_cleanup >/dev/null; then
		kmi_cleanup || true
	fi
}

_kmi_reg_init() {
	[[ -n $KMI_REG_BASE ]] && return 0
	if [[ -n ${KMI_TMP:-} && -d $KMI_TMP ]]; then
		KMI_REG_BASE=$KMI_TMP/registries
	else
		KMI_REG_BASE=$(mktemp -d "${TMPDIR:-/tmp}/kmodimg-registry.XXXXXX")
		KMI_REG_OWN_BASE=1
	fi
	mkdir -p "$KMI_REG_BASE"
	trap _kmi_reg_exit EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# _kmi_reg_kill PID: TERM, wait up to 2 s, then KILL; reap if it is our child.
_kmi_reg_kill() {
	local pid=$1 i
	[[ -n $pid ]] || return 0
	kill "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.02
	done
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	local keep=() p
	for p in "${KMI_REG_PIDS[@]}"; do
		[[ $p == "$pid" ]] || keep+=("$p")
	done
	KMI_REG_PIDS=("${keep[@]}")
}

kmi_reg_cleanup() {
	local pid
	for pid in "${KMI_REG_PIDS[@]}"; do
		_kmi_reg_kill "$pid"
	done
	KMI_REG_PIDS=()
	local i p
	for ((i = ${#KMI_REG_REMOVE[@]} - 1; i >= 0; i--)); do
		p=${KMI_REG_REMOVE[i]}
		case $p in
		rmdir:*) rmdir "${p#rmdir:}" 2>/dev/null || true ;;
		?*) rm -rf --one-file-system "$p" ;;
		esac
	done
	KMI_REG_REMOVE=()
	if ((KMI_REG_OWN_BASE)) && [[ -n $KMI_REG_BASE && -d $KMI_REG_BASE ]]; then
		rm -rf --one-file-system "$KMI_REG_BASE"
	fi
	return 0
}

kmi_reg_remove_at_exit() {
	_kmi_reg_init
	KMI_REG_REMOVE+=("$@")
}

_kmi_reg_free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# _kmi_reg_wait_file FILE PID WHAT: until FILE is non-empty (a python server's port).
_kmi_reg_wait_file() {
	local f=$1 pid=$2 what=$3 t0=$SECONDS
	until [[ -s $f ]]; do
		kill -0 "$pid" 2>/dev/null || { echo "$what exited during startup" >&2; return 1; }
		((SECONDS - t0 < KMI_REG_TIMEOUT)) || { echo "$what: no port after ${KMI_REG_TIMEOUT}s" >&2; return 1; }
		sleep 0.02
	done
}

# _kmi_reg_cert DIR NAME CN [SAN [KEYTYPE]]: a self-signed cert DIR/NAME.pem + key
# DIR/NAME.key; P-256 keys unless KEYTYPE says otherwise (RSA takes seconds).
_kmi_reg_cert() {
	local dir=$1 name=$2 cn=$3 san=${4:-} newkey=${5:-ec -pkeyopt ec_paramgen_curve:prime256v1}
	# shellcheck disable=SC2206 # newkey is meant to split
	local args=(req -x509 -newkey $newkey -nodes -sha256 -days 2 -subj "/CN=$cn"
		-keyout "$dir/$name.key" -out "$dir/$name.pem")
	[[ -n $san ]] && args+=(-addext "subjectAltName=$san")
	openssl "${args[@]}" >"$dir/openssl.log" 2>&1 || { cat "$dir/openssl.log" >&2; return 1; }
}

# _kmi_reg_client_cert DIR: a client CA and a client cert signed by it.
_kmi_reg_client_cert() {
	local dir=$1
	_kmi_reg_cert "$dir" client-ca "kmodimg test client CA" || return 1
	if ! openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 \
		-subj "/CN=kmodimg-test-client" -keyout "$dir/client.key" -out "$dir/client.csr" \
		>>"$dir/openssl.log" 2>&1 ||
		! openssl x509 -req -in "$dir/client.csr" -CA "$dir/client-ca.pem" -CAkey "$dir/client-ca.key" \
			-CAcreateserial -days 2 -sha256 -out "$dir/client.pem" >>"$dir/openssl.log" 2>&1; then
		cat "$dir/openssl.log" >&2
		return 1
	fi
}

# kmi_reg_start MODE
kmi_reg_start() {
	local mode=$1 dir port tport scheme=http tls_yaml='' auth_yaml='' _try
	_kmi_reg_init
	KMI_REG_SEQ=$((KMI_REG_SEQ + 1))
	dir=$KMI_REG_BASE/$mode.$KMI_REG_SEQ
	mkdir -p "$dir/data"
	KMI_REG_DIR=$dir KMI_REG_PID='' KMI_REG_TOKEN_PID='' KMI_REG_CERTS_D='' KMI_REG_CA=''
	KMI_REG_CLIENT_D='' KMI_REG_USER='' KMI_REG_PASS='' KMI_REG_TOKEN_LOG=''
	KMI_REG_SKOPEO=() KMI_REG_CLIENT=()

	case $mode in
	plain)
		KMI_REG_SKOPEO=(--tls-verify=false)
		KMI_REG_CLIENT=(--insecure)
		;;
	tls | mtls)
		scheme=https
		_kmi_reg_cert "$dir" server localhost "DNS:localhost,IP:127.0.0.1" || return 1
		KMI_REG_CA=$dir/server.pem
		KMI_REG_CERTS_D=$dir/certs.d
		mkdir -p "$KMI_REG_CERTS_D"
		cp "$dir/server.pem" "$KMI_REG_CERTS_D/ca.crt"
		tls_yaml="  tls:
    certificate: $dir/server.pem
    key: $dir/server.key"
		if [[ $mode == mtls ]]; then
			_kmi_reg_client_cert "$dir" || return 1
			tls_yaml+="
    clientcas: [$dir/client-ca.pem]"
			KMI_REG_CLIENT_D=$dir/client.d
			mkdir -p "$KMI_REG_CLIENT_D"
			cp "$dir/server.pem" "$KMI_REG_CLIENT_D/ca.crt"
			cp "$dir/client.pem" "$KMI_REG_CLIENT_D/client.cert"
			cp "$dir/client.key" "$KMI_REG_CLIENT_D/client.key"
			KMI_REG_SKOPEO=(--cert-dir="$KMI_REG_CLIENT_D")
			KMI_REG_CLIENT=(--cert-dir "$KMI_REG_CLIENT_D")
		else
			KMI_REG_SKOPEO=(--cert-dir="$KMI_REG_CERTS_D")
			KMI_REG_CLIENT=(--cert-dir "$KMI_REG_CERTS_D")
		fi
		;;
	htpasswd)
		KMI_REG_USER=testuser KMI_REG_PASS=testpass
		htpasswd -Bbn "$KMI_REG_USER" "$KMI_REG_PASS" >"$dir/htpasswd"
		auth_yaml="auth:
  htpasswd:
    realm: kmod-test-realm
    path: $dir/htpasswd"
		KMI_REG_SKOPEO=(--tls-verify=false --creds "$KMI_REG_USER:$KMI_REG_PASS")
		KMI_REG_CLIENT=(--insecure --creds "$KMI_REG_USER:$KMI_REG_PASS")
		;;
	bearer)
		KMI_REG_USER=testuser KMI_REG_PASS=testpass
		# the token server signs RS256
		_kmi_reg_cert "$dir" token kmod-test-issuer "" rsa:2048 || return 1
		KMI_REG_TOKEN_LOG=$dir/token.log
		python3 "$KMI_REG_LIB_DIR/token-server.py" --port-file "$dir/token.port" \
			--key "$dir/token.key" --cert "$dir/token.pem" --user "$KMI_REG_USER" \
			--password "$KMI_REG_PASS" --log "$KMI_REG_TOKEN_LOG" \
			>"$dir/token.out" 2>&1 &
		KMI_REG_TOKEN_PID=$!
		KMI_REG_PIDS+=("$KMI_REG_TOKEN_PID")
		_kmi_reg_wait_file "$dir/token.port" "$KMI_REG_TOKEN_PID" "token server" ||
			{ cat "$dir/token.out" >&2; return 1; }
		tport=$(<"$dir/token.port")
		auth_yaml="auth:
  token:
    realm: http://127.0.0.1:$tport/token
    service: kmod-test-registry
    issuer: kmod-test-issuer
    rootcertbundle: $dir/token.pem"
		KMI_REG_SKOPEO=(--tls-verify=false --creds "$KMI_REG_USER:$KMI_REG_PASS")
		KMI_REG_CLIENT=(--insecure --creds "$KMI_REG_USER:$KMI_REG_PASS")
		;;
	*)
		echo "kmi_reg_start: unknown mode '$mode'" >&2
		return 1
		;;
	esac

	# A free port can be taken between the probe and the bind: try a few.
	for _try in 1 2 3; do
		port=$(_kmi_reg_free_port)
		cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  secret: kmodimg-test-secret
  headers:
    X-Content-Type-Options: [nosniff]
$tls_yaml
$auth_yaml
EOF
		docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
		KMI_REG_PID=$!
		KMI_REG_PIDS+=("$KMI_REG_PID")
		KMI_REG_HOST=127.0.0.1:$port
		KMI_REG_URL=$scheme://$KMI_REG_HOST
		if _kmi_reg_wait_ready "$mode"; then
			return 0
		fi
		_kmi_reg_kill "$KMI_REG_PID"
		grep -q "address already in use" "$dir/registry.log" || break
	done
	echo "kmi_reg_start $mode: registry did not become ready; its log:" >&2
	tail -20 "$dir/registry.log" >&2
	return 1
}

# Ready when /v2/ answers at all (401 for the auth modes).
_kmi_reg_wait_ready() {
	local mode=$1 t0=$SECONDS
	local curl_args=(-s -o /dev/null --max-time 2)
	case $mode in
	tls) curl_args+=(--cacert "$KMI_REG_CA") ;;
	mtls) curl_args+=(--cacert "$KMI_REG_CA" --cert "$KMI_REG_DIR/client.pem" --key "$KMI_REG_DIR/client.key") ;;
	esac
	until curl "${curl_args[@]}" "$KMI_REG_URL/v2/"; do
		kill -0 "$KMI_REG_PID" 2>/dev/null || return 1
		((SECONDS - t0 < KMI_REG_TIMEOUT)) || return 1
		sleep 0.02
	done
}

# kmi_reg_stop [PID...]: the given servers, by default the last registry started
# (and its token server).
kmi_reg_stop() {
	local pid
	if (($# == 0)); then
		set -- "$KMI_REG_PID" "$KMI_REG_TOKEN_PID"
	fi
	for pid in "$@"; do
		_kmi_reg_kill "$pid"
	done
}

# kmi_proxy_start UPSTREAM_HOST [--fail REGEX:COUNT:STATUS[:RETRY_AFTER]]... [--drop REGEX[:COUNT]]...
#                 [--corrupt REGEX[:COUNT]]... [--redirect REGEX[:COUNT]]...
#                 [--oversize REGEX[:COUNT]]... [--relative-location]
kmi_proxy_start() {
	local upstream=$1 dir
	shift
	_kmi_reg_init
	KMI_REG_SEQ=$((KMI_REG_SEQ + 1))
	dir=$KMI_REG_BASE/proxy.$KMI_REG_SEQ
	mkdir -p "$dir"
	KMI_PROXY_LOG=$dir/requests.log
	: >"$KMI_PROXY_LOG"
	python3 "$KMI_REG_LIB_DIR/fault-proxy.py" --upstream "$upstream" --port-file "$dir/port" \
		--log "$KMI_PROXY_LOG" "$@" >"$dir/proxy.out" 2>&1 &
	KMI_PROXY_PID=$!
	KMI_REG_PIDS+=("$KMI_PROXY_PID")
	_kmi_reg_wait_file "$dir/port" "$KMI_PROXY_PID" "fault proxy" ||
		{ cat "$dir/proxy.out" >&2; return 1; }
	KMI_PROXY_HOST=127.0.0.1:$(<"$dir/port")
}

kmi_proxy_stop() {
	_kmi_reg_kill "${KMI_PROXY_PID:-}"
}
