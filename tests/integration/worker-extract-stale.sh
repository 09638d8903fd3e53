#!/bin/bash
# A `kmodimg extract` killed with SIGKILL mid-extraction leaves its temp dir
# (DEST.kmodimg-tmp-PID-XXXXXX, flock'ed while it ran).  The next extraction
# into the same parent removes it, as its pid is gone and its lock free; a
# temp dir whose owner is alive (lock held) is left alone.  The kill is made
# deterministic by a stand-in registry that serves the manifest and never
# answers for a blob, so the extraction is surely inside its temp dir.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

kmi_setup
kmi_need_cmds flock python3 jq
ex=$KMI_TMP/ex
kmi_build_examples "$ex"
"$KMODIMG" build --quiet --kernel "$KVER" -t "oci:$KMI_TMP/img:v1" "$ex/kmodimg_a.ko" >/dev/null 2>&1 ||
	fail "kmodimg build failed"

mdigest=$(jq -r '.manifests[0].digest' "$KMI_TMP/img/index.json")
manifest=$KMI_TMP/img/blobs/sha256/${mdigest#sha256:}
cat >"$KMI_TMP/stall.py" <<'EOF2'
import sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
manifest = open(sys.argv[1], "rb").read()
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        if "/blobs/" in self.path:
            time.sleep(120)  # never answers in time: the client is killed first
            return
        body = b"{}" if self.path == "/v2/" else manifest
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Docker-Content-Digest", sys.argv[2])
        self.end_headers()
        self.wfile.write(body)
    do_HEAD = do_GET
s = ThreadingHTTPServer(("127.0.0.1", 0), H)
s.daemon_threads = True
open(sys.argv[3], "w").write(str(s.server_address[1]))
s.serve_forever()
EOF2
pids=()
stop_all() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	kmi_cleanup
}
trap stop_all EXIT
python3 "$KMI_TMP/stall.py" "$manifest" "$mdigest" "$KMI_TMP/port" &
pids+=($!)
for _ in $(seq 50); do [[ -s $KMI_TMP/port ]] && break; sleep 0.1; done
[[ -s $KMI_TMP/port ]] || fail "stand-in registry did not start"
port=$(cat "$KMI_TMP/port")

step "kill -9 inside the extraction"
mkdir -p "$KMI_TMP/parent"
dest=$KMI_TMP/parent/tree
"$KMODIMG" extract --quiet --insecure "docker://127.0.0.1:$port/kmod/x:v1" "$dest" \
	>"$KMI_TMP/killed.out" 2>&1 &
victim=$!
pids+=("$victim")
tmp=
for _ in $(seq 100); do
	tmp=$(find "$KMI_TMP/parent" -mindepth 1 -maxdepth 1 -name 'tree.kmodimg-tmp-*' -print -quit)
	[[ -n $tmp ]] && break
	sleep 0.1
done
[[ -n $tmp ]] || fail "the extraction never made its temp dir: $(cat "$KMI_TMP/killed.out")"
kill -9 "$victim"
wait "$victim" 2>/dev/null || true
[[ -d $tmp ]] || fail "the temp dir vanished with its owner (nothing to test)"
[[ ${tmp##*/} == tree.kmodimg-tmp-$victim-?????? ]] ||
	fail_later "the leftover does not carry the owner's pid: ${tmp##*/} (pid $victim)"
ok "leftover ${tmp##*/}"

# A temp dir whose owner is alive: its lock is held (flock(1) on the dir).
live=$KMI_TMP/parent/other.kmodimg-tmp-$$-abcdef
mkdir "$live"
flock "$live" sleep 60 &
holder=$!
pids+=("$holder")
sleep 0.2
# One whose pid is gone but that does not look like ours is never touched.
foreign=$KMI_TMP/parent/foreign.kmodimg-tmp-XXXXXX
mkdir "$foreign"

step "the next extraction into the same parent cleans up"
kmi_run next "$KMODIMG" extract "oci:$KMI_TMP/img:v1" "$KMI_TMP/parent/tree2"
((KMI_RC == 0)) || fail "extract: rc $KMI_RC $(cat "$KMI_TMP/next.err")"
[[ ! -e $tmp ]] || fail_later "the stale temp dir is still there"
[[ -d $live ]] || fail_later "a temp dir whose owner lives was removed"
[[ -d $foreign ]] || fail_later "a dir not named as ours was removed"
[[ -f $KMI_TMP/parent/tree2/opt/lib/modules/$KVER/kmodimg_a.ko ||
	-n $(find "$KMI_TMP/parent/tree2" -name kmodimg_a.ko) ]] || fail_later "the new extraction is incomplete"
ok "stale temp dir removed; live and foreign ones kept"

# Into an existing empty DEST: the leftover inside it must not make it "not empty".
mkdir -p "$KMI_TMP/mnt/.kmodimg-tmp-$victim-zzzzzz/opt"
kmi_run intodir "$KMODIMG" extract "oci:$KMI_TMP/img:v1" "$KMI_TMP/mnt"
((KMI_RC == 0)) && [[ ! -e $KMI_TMP/mnt/.kmodimg-tmp-$victim-zzzzzz ]] ||
	fail_later "a stale temp dir inside an empty DEST: rc $KMI_RC $(cat "$KMI_TMP/intodir.err")"
kill "$holder" 2>/dev/null || true
pass
