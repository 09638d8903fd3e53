# shellcheck shell=sh
# tests/lib/guest.sh: helpers for test scripts that run inside the qemu
# guest (busybox sh, see tests/lib/qemu.sh). Installed as /lib/kmi-guest.sh
# and sourced before the test script.
#
# Result lines go to the serial console and are parsed on the host:
#   GUEST ok: <what>
#   GUEST FAIL: <what>
# Always call the module tools by path (/sbin/modprobe): busybox sh runs
# its own applets before anything in PATH.

GUEST_NFAIL=0
RC=0

gok() {
	echo "GUEST ok: $*"
}

gfail() {
	echo "GUEST FAIL: $*"
	GUEST_NFAIL=$((GUEST_NFAIL + 1))
}

# step TEXT: a heading in the console log, with the guest's uptime.
step() {
	echo "--- [$(cut -d ' ' -f 1 /proc/uptime)s] $*"
}

# run NAME CMD...: run CMD with its stdout in /tmp/NAME.out and stderr in
# /tmp/NAME.err, both also shown in the log; exit status in RC.
run() {
	_name=$1
	shift
	echo "+ $*"
	"$@" >"/tmp/$_name.out" 2>"/tmp/$_name.err"
	RC=$?
	sed 's/^/  | /' "/tmp/$_name.out"
	sed 's/^/  ! /' "/tmp/$_name.err"
	[ "$RC" = 0 ] || echo "  (exit $RC)"
	return 0
}

# check WHAT CMD...: ok if CMD succeeds.
check() {
	_what=$1
	shift
	if "$@"; then gok "$_what"; else gfail "$_what"; fi
}

# check_rc WHAT WANT: the last run's exit status must be WANT.
check_rc() {
	if [ "$RC" = "$2" ]; then gok "$1 (exit $RC)"; else gfail "$1: exit $RC, want $2"; fi
}

loaded() {
	grep -q "^$1 " /proc/modules
}

not_loaded() {
	! loaded "$1"
}

check_loaded() {
	for _m in "$@"; do
		if loaded "$_m"; then gok "$_m is loaded"; else gfail "$_m is not loaded"; fi
	done
}

check_not_loaded() {
	for _m in "$@"; do
		if loaded "$_m"; then gfail "$_m is still loaded"; else gok "$_m is not loaded"; fi
	done
}

# check_used_by MOD USER: /proc/modules lists USER among MOD's users, i.e.
# the kernel resolved USER's symbols from MOD.
check_used_by() {
	if awk -v m="$1" -v u="$2" '$1 == m { n = split($4, a, ","); for (i = 1; i <= n; i++) if (a[i] == u) f = 1 } END { exit !f }' /proc/modules; then
		gok "$1 is used by $2"
	else
		gfail "$1 is not used by $2: $(grep "^$1 " /proc/modules)"
	fi
}

# check_file WHAT FILE CONTENT: FILE holds exactly CONTENT (one line).
check_file() {
	if [ -f "$2" ] && [ "$(cat "$2")" = "$3" ]; then
		gok "$1: $2 is '$3'"
	elif [ -f "$2" ]; then
		gfail "$1: $2 is '$(cat "$2")', want '$3'"
	else
		gfail "$1: $2 does not exist"
	fi
}

check_absent() {
	if [ -e "$2" ]; then gfail "$1: $2 still exists"; else gok "$1: $2 is gone"; fi
}

# check_dmesg WHAT TEXT: the kernel log has a line containing TEXT.
check_dmesg() {
	if dmesg | grep -qF -- "$2"; then gok "$1: dmesg has '$2'"; else gfail "$1: dmesg lacks '$2'"; fi
}

# check_out WHAT NAME TEXT: the output (stdout or stderr) of run NAME
# contains TEXT.
check_out() {
	if grep -qF -- "$3" "/tmp/$2.out" "/tmp/$2.err"; then
		gok "$1: output has '$3'"
	else
		gfail "$1: output lacks '$3'"
	fi
}

# Modules whose names start with PREFIX that are loaded, space-separated.
loaded_like() {
	awk -v p="$1" 'index($1, p) == 1 { printf "%s ", $1 }' /proc/modules
}

# probe KEY FILE...: does the kernel take these modules? insmod the files
# in order (dependencies first) until one is refused, print
#   GUEST probe KEY rc=N         (0: all loaded; else insmod's status)
#   GUEST probe-log KEY <line>   (each kernel message the attempt caused,
#                                 and insmod's stderr)
# then remove what it loaded, last first, so probes do not interfere.
# On the host, kmi_qemu_probe_rc and kmi_qemu_probe_log read them back.
probe() {
	_key=$1
	shift
	_n0=$(dmesg | wc -l)
	_done=
	_rc=0
	for _f in "$@"; do
		/sbin/insmod "$_f" 2>/tmp/probe.err
		_rc=$?
		sed "s/^/GUEST probe-log $_key insmod: /" /tmp/probe.err
		[ "$_rc" = 0 ] || break
		_done="$(/sbin/modinfo -F name "$_f") $_done"
	done
	dmesg | tail -n +"$((_n0 + 1))" | sed "s/^/GUEST probe-log $_key /"
	echo "GUEST probe $_key rc=$_rc"
	for _m in $_done; do
		/sbin/rmmod "$_m" || echo "GUEST probe-log $_key could not remove $_m"
	done
}
