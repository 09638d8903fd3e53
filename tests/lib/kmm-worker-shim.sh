#!/bin/sh
# tests/lib/kmm-worker-shim.sh: a stand-in for kmodimg's node commands
# inside the qemu guest, built from kmod's modprobe the way KMM's worker
# drives it (kmm-contract.md 5.2-5.5). It validates the guest checks of
# tests/integration/worker-qemu.sh against KMM's own behaviour:
#     KMODIMG_QEMU_SHIM=1 tests/run.sh worker-qemu
# The real binary is /usr/bin/kmodimg.real; `extract` and anything else
# but load, unload and worker are forwarded to it. Only what the test
# uses is supported: flow-style YAML lists, no quoting.
# Lists are space-joined strings split on purpose; c_* come from eval.
# shellcheck disable=SC2086,SC2046,SC2154
REAL=/usr/bin/kmodimg.real
STATE=/var/lib/kmm-shim
MODPROBE=/sbin/modprobe

die() {
	echo "kmm-worker-shim: $*" >&2
	exit 1
}

# image_root REF: the image extracted once under $STATE/img/<REF>.
image_root() {
	d=$STATE/img/$(echo "$1" | tr '/:' '__')
	[ -d "$d" ] || { mkdir -p $STATE/img && $REAL extract "$1" "$d" >/dev/null; } || exit 1
	echo "$d"
}

# image_modules MODDIR: the modules the image carries (not under host/).
image_modules() {
	awk -F: '$1 !~ /^host\// { n = $1; sub(/.*\//, "", n); sub(/\.ko.*/, "", n); printf "%s ", n }' "$1/modules.dep"
}

# copy_firmware SRC DST, remove_firmware SRC DST: KMM's copy (merge) and
# RemoveSrcFilesFromDst (regular files only, directories stay).
copy_firmware() {
	mkdir -p "$2" && cp -R "$1/." "$2/"
}
remove_firmware() {
	[ -d "$1" ] || return 0
	(cd "$1" && find . -type f) | while read -r f; do rm -f "$2/$f"; done
}

set_class_path() {
	p=/sys/module/firmware_class/parameters/path
	[ "$(cat $p)" = "$1" ] || printf %s "$1" >$p
}

# in_tree_remove NAME...: modprobe -rv those found in the node's tree.
in_tree_remove() {
	found=
	for m in "$@"; do
		[ -n "$(find /lib/modules -name "$m.ko*" | head -1)" ] && found="$found $m"
	done
	[ -z "$found" ] || $MODPROBE -rv $found
}

cmd_load() {
	dry='' kver=$(uname -r) fw='' rmlist='' dir=/opt pos='' order=''
	while [ $# -gt 0 ]; do
		case $1 in
		--help) return 0 ;;
		--dry-run) dry=--show-depends ;;
		--kernel) kver=$2 && shift ;;
		--firmware-path) fw=$2 && shift ;;
		--remove-in-tree) rmlist="$rmlist $2" && shift ;;
		--dir-name) dir=$2 && shift ;;
		--order) order=$2 && shift ;;
		*) pos="$pos $1" ;;
		esac
		shift
	done
	# shellcheck disable=SC2086
	set -- $pos
	root=$(image_root "$1") || exit 1
	shift
	mods=$(image_modules "$root$dir/lib/modules/$kver")
	if [ $# -gt 0 ]; then
		case " $mods " in *" $1 "*) ;; *) die "module $1 is not in the image, which has: $mods" ;; esac
	fi
	[ -n "$dry" ] || in_tree_remove $rmlist || exit 1
	if [ -n "$fw" ] && [ -z "$dry" ]; then
		copy_firmware "$root/lib/firmware" "$fw" && set_class_path "$fw" && echo "$fw" >$STATE/fw || exit 1
	fi
	write_softdeps $(echo "$order" | tr , ' ')
	if [ $# -gt 0 ]; then
		$MODPROBE -v $dry -d "$root$dir" -S "$kver" "$@"
	else
		$MODPROBE -v $dry -d "$root$dir" -S "$kver" -a $mods
	fi
	rc=$?
	rm -f /etc/modprobe.d/kmm-softdep.conf
	return $rc
}

# write_softdeps A B C...: KMM's softdep text for modulesLoadingOrder,
# where the worker's modprobe reads it.
write_softdeps() {
	while [ $# -ge 2 ]; do
		echo "softdep $1 pre: $2"
		shift
	done >/etc/modprobe.d/kmm-softdep.conf
}

cmd_unload() {
	[ "$1" = --help ] && return 0
	order='' dir=/opt
	[ "$1" = --dir-name ] && dir=$2 && shift 2
	[ "$2" = --order ] && order=$(echo "$3" | tr , ' ') && set -- "$1"
	root=$(image_root "$1") || exit 1
	shift
	[ -z "$order" ] || set -- -a $order
	[ $# -gt 0 ] || set -- -a $(image_modules "$root$dir/lib/modules/$(uname -r)")
	$MODPROBE -rv -d "$root$dir" "$@" || exit 1
	[ ! -f $STATE/fw ] || remove_firmware "$root/lib/firmware" "$(cat $STATE/fw)"
}

# parse_config FILE: shell assignments c_<path>=value (lists space-joined,
# c_<path>_set=1 for mappings), an error for an unknown field.
parse_config() {
	awk '
	BEGIN {
		split("kernelVersion containerImage imagePullPolicy insecurePull inTreeModulesToRemove inTreeModuleToRemove modprobe " \
		      "modprobe.moduleName modprobe.parameters modprobe.dirName modprobe.args modprobe.rawArgs modprobe.firmwarePath " \
		      "modprobe.modulesLoadingOrder modprobe.args.load modprobe.args.unload modprobe.rawArgs.load modprobe.rawArgs.unload", k, " ")
		for (i in k) known[k[i]] = 1
	}
	/^[ ]*(#|$)/ { next }
	{
		match($0, /^ */); depth = RLENGTH / 2
		line = substr($0, RLENGTH + 1)
		key = line; sub(/:.*/, "", key)
		val = line; sub(/^[^:]*:[ ]*/, "", val)
		path[depth] = key
		p = path[0]; for (i = 1; i <= depth; i++) p = p "." path[i]
		if (!(p in known)) { printf "echo \"%s:%d: unknown field \\\"%s\\\"\" >&2; exit 1\n", FILENAME, NR, key; exit }
		gsub(/\[/, " ", val); gsub(/\]/, " ", val); gsub(/,/, " ", val); gsub(/  +/, " ", val); sub(/^ /, "", val); sub(/ $/, "", val)
		v = p; gsub(/\./, "_", v)
		printf "c_%s_set=1\nc_%s=\x27%s\x27\n", v, v, val
	}' "$1"
}

cmd_worker() {
	[ "$1" = kmod ] || die "worker: only kmod"
	action=$2 cfg=$3 fw='' wroot=/tmp pull=''
	[ "$cfg" = --help ] && return 0
	shift 3
	while [ $# -gt 0 ]; do
		case $1 in
		--firmware-path) fw=$2 && shift ;;
		--root) wroot=$2 && shift ;;
		--pull) pull=1 ;;
		*) die "worker: unknown argument $1" ;;
		esac
		shift
	done
	code=$(parse_config "$cfg") || exit 1
	eval "$code"
	# KMM's older worker pulled and extracted the image itself (5.9).
	[ -z "$pull" ] || wroot=$(image_root "$c_containerImage") || exit 1
	mdir=$wroot${c_modprobe_dirName:-}
	if [ "$action" = load ]; then
		[ -z "$fw" ] || set_class_path "$fw" || exit 1
		in_tree_remove ${c_inTreeModulesToRemove:-${c_inTreeModuleToRemove:-}} || exit 1
		[ -z "${c_modprobe_firmwarePath:-}" ] || copy_firmware "$wroot$c_modprobe_firmwarePath" "$fw" || exit 1
		# KMM mounts the softdep text at /etc/modprobe.d for the load pod.
		write_softdeps ${c_modprobe_modulesLoadingOrder:-}
		if [ -n "${c_modprobe_rawArgs_set:-}" ]; then
			$MODPROBE ${c_modprobe_rawArgs_load:-}
		else
			$MODPROBE -vd "$mdir" ${c_modprobe_args_load:-} "$c_modprobe_moduleName" ${c_modprobe_parameters:-}
		fi
		rc=$?
		rm -f /etc/modprobe.d/kmm-softdep.conf
		return $rc
	fi
	if [ -n "${c_modprobe_rawArgs_set:-}" ]; then
		$MODPROBE ${c_modprobe_rawArgs_unload:-} || exit 1
	else
		$MODPROBE -rvd "$mdir" ${c_modprobe_args_unload:-} \
			${c_modprobe_modulesLoadingOrder:-$c_modprobe_moduleName} || exit 1
	fi
	[ -z "${c_modprobe_firmwarePath:-}" ] || remove_firmware "$wroot$c_modprobe_firmwarePath" "$fw"
}

case $1 in
load | unload | worker)
	c=$1
	shift
	"cmd_$c" "$@"
	;;
*) exec $REAL "$@" ;;
esac
