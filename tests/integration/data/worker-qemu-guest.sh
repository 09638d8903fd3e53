# shellcheck shell=sh disable=SC2154,SC2086,SC2016
# Runs inside the qemu guest for tests/integration/worker-qemu.sh (busybox
# sh, helpers from tests/lib/guest.sh, KVER set by the host). Keep every
# check independent enough that one failure does not hide the others.

REF=oci:/images/kmod:v1
FW=kmodimg/hello.txt

# Everything this script may load, for the "nothing left" checks (split
# on purpose, like the awk programs in single quotes).
ALL="kmodimg_a kmodimg_b kmodimg_c crc8 crc7"

# The module tools' view, for the log.
show_modules() {
	echo "  /proc/modules: $(awk '{printf "%s ", $1}' /proc/modules)"
}

# check_ours WHAT CMD..., check_msg: checks of what kmodimg promises
# beyond KMM's worker (error messages instead of kmod's riddles, rollback,
# its state dir), which the KMM worker shim (SHIM=1) does not do.
check_ours() {
	[ "${SHIM:-0}" = 1 ] || check "$@"
}
check_msg() {
	[ "${SHIM:-0}" = 1 ] || check_out "$@"
}

# How many images load has extracted into its state dir.
n_extracted() {
	set -- /var/lib/kmodimg/images/sha256-*
	[ -e "$1" ] && echo $# || echo 0
}

# unload_all: a clean slate between sections, whatever a failure left.
unload_all() {
	for _m in kmodimg_c kmodimg_b kmodimg_a crc8 crc7; do
		loaded "$_m" && /sbin/rmmod "$_m" 2>/dev/null
	done
	return 0
}

# ------------------------------------------------------------- load

step "load --dry-run prints the insmod sequence, loads nothing"
run dry kmodimg load --dry-run "$REF" kmodimg_b
check_rc "load --dry-run kmodimg_b" 0
check_out "dry run" dry "kmodimg_a.ko"
check_out "dry run" dry "kmodimg_b.ko"
check "dry run: kmodimg_a comes before kmodimg_b" \
	awk '/kmodimg_a\.ko/ && !a { a = NR } /kmodimg_b\.ko/ && !b { b = NR } END { exit !(a && b && a < b) }' /tmp/dry.out
check_not_loaded kmodimg_a kmodimg_b
# kmod's modprobe --show-depends on the tree load extracted is the oracle
# for the sequence, in-tree dependency through host included.
img=$(sed -n 's|^insmod \(/.*\)/opt/lib/modules/.*|\1|p' /tmp/dry.out | head -n 1)
run dryc kmodimg load --dry-run "$REF" kmodimg_c
check_rc "load --dry-run kmodimg_c" 0
run dryk /sbin/modprobe -d "$img/opt" --show-depends kmodimg_c
check_rc "modprobe --show-depends kmodimg_c on the extracted image" 0
check "load --dry-run kmodimg_c prints what modprobe --show-depends does" cmp /tmp/dryc.out /tmp/dryk.out
check_not_loaded crc8 kmodimg_c

step "a module with a parameter, --kernel"
run a kmodimg load --kernel "$KVER" "$REF" kmodimg_a base=5
check_rc "load kmodimg_a base=5" 0
check_file "parameter" /sys/module/kmodimg_a/parameters/base 5

step "the example pair: b needs a's symbol"
run b kmodimg load "$REF" kmodimg_b
check_rc "load kmodimg_b" 0
check_loaded kmodimg_a kmodimg_b
check_used_by kmodimg_a kmodimg_b
check_dmesg "kmodimg_b called kmodimg_a (base 5)" "kmodimg_a_add(2,3)=10"
run b2 kmodimg load "$REF" kmodimg_b
check_rc "load kmodimg_b again: nothing to do, as modprobe" 0

step "in-tree removal, an in-tree dependency through host, firmware"
run crc7 /sbin/modprobe crc7
check_rc "modprobe crc7 from the node's tree" 0
check_loaded crc7
check_file "firmware class path before" /sys/module/firmware_class/parameters/path ""
run c kmodimg load "$REF" kmodimg_c --firmware-path /var/lib/firmware --remove-in-tree crc7
check_rc "load kmodimg_c --firmware-path /var/lib/firmware --remove-in-tree crc7" 0
check_not_loaded crc7
check_loaded crc8 kmodimg_c
check_used_by crc8 kmodimg_c
check_file "firmware copied" /var/lib/firmware/$FW "kmodimg example firmware v1"
check_file "firmware class path" /sys/module/firmware_class/parameters/path /var/lib/firmware
check_dmesg "kmodimg_c read its firmware" 'says "kmodimg example firmware v1"'
show_modules

# ------------------------------------------------------------- unload

step "unload: the module, its unused dependencies, the copied firmware"
run uc kmodimg unload "$REF" kmodimg_c
check_rc "unload kmodimg_c" 0
check_not_loaded kmodimg_c crc8
check_loaded kmodimg_a kmodimg_b
check_absent "firmware removed" /var/lib/firmware/$FW
run ub kmodimg unload "$REF" kmodimg_b
check_rc "unload kmodimg_b" 0
check_not_loaded $ALL
show_modules

step "the whole image: load and unload without MODULE"
run all kmodimg load "$REF" --firmware-path /var/lib/firmware
check_rc "load (every module)" 0
check_loaded kmodimg_a kmodimg_b kmodimg_c crc8
run unall kmodimg unload "$REF"
check_rc "unload (every module)" 0
check_not_loaded $ALL
check_absent "firmware removed" /var/lib/firmware/$FW
show_modules

step "--order: KMM's modulesLoadingOrder on load and unload"
run ol kmodimg load "$REF" kmodimg_c --order kmodimg_c,kmodimg_a --firmware-path /var/lib/firmware
check_rc "load kmodimg_c --order kmodimg_c,kmodimg_a" 0
check_loaded kmodimg_c crc8 kmodimg_a
check_not_loaded kmodimg_b
run ou kmodimg unload "$REF" --order kmodimg_c,kmodimg_a
check_rc "unload --order kmodimg_c,kmodimg_a" 0
check_not_loaded $ALL
run ou2 kmodimg unload "$REF" kmodimg_b
check_rc "unload of a module that is not loaded: nothing to do" 0
show_modules

step "modules in use are not removed"
run iu1 kmodimg load "$REF" kmodimg_c --firmware-path /var/lib/firmware --remove-in-tree crc7 --remove-in-tree kmodimg_nosuch_intree
check_rc "load kmodimg_c, removing in-tree modules that are not loaded or do not exist" 0
check_loaded kmodimg_c crc8
run iu2 kmodimg load "$REF" kmodimg_a --remove-in-tree crc8
check "load --remove-in-tree crc8 fails while kmodimg_c uses crc8" [ "$RC" != 0 ]
check_loaded crc8 kmodimg_c
check_not_loaded kmodimg_a
run iu3 kmodimg unload "$REF" kmodimg_c
check_rc "unload kmodimg_c" 0
run iu4 kmodimg load "$REF" kmodimg_a
check_rc "load kmodimg_a" 0
img=$(sed -n 's|^insmod \(/.*\)/opt/lib/modules/.*|\1|p' /tmp/dry.out | head -n 1)
run iu5 /sbin/modprobe -d "$img/opt" kmodimg_b
check_rc "modprobe kmodimg_b, by someone else" 0
run iu6 kmodimg unload "$REF" kmodimg_a
check "unload kmodimg_a fails while kmodimg_b uses it" [ "$RC" != 0 ]
check_loaded kmodimg_a kmodimg_b
unload_all
check_not_loaded $ALL

step "a module the image does not have"
run nosuch kmodimg load "$REF" kmodimg_nosuch
check "load kmodimg_nosuch fails" [ "$RC" != 0 ]
check_out "the error lists the image's modules" nosuch "kmodimg_a"
unload_all
run ap kmodimg load "$REF" kmodimg_a kmodimg_nosuch_param=1
check_rc "load kmodimg_a with a parameter it lacks: the kernel ignores it" 0
check_msg "a warning names the parameter" ap kmodimg_nosuch_param
check_dmesg "the kernel ignored it" "unknown parameter 'kmodimg_nosuch_param' ignored"
unload_all

step "a load that fails midway is rolled back"
check_absent "no firmware for kmodimg_c" /var/lib/firmware/$FW
run half kmodimg load "$REF" kmodimg_c
check "load kmodimg_c without its firmware fails" [ "$RC" != 0 ]
check_msg "the error points at the firmware, not at a symbol" half "firmware"
dmesg | tail -n 3 | sed 's/^/  dmesg: /'
check_not_loaded kmodimg_c
check_ours "the rollback removed crc8, which this run loaded" not_loaded crc8
check_ours "the image was extracted once, for its one digest" [ "$(n_extracted)" = 1 ]
ls -a /var/lib/kmodimg/images
unload_all

step "--dir-name: modules under another root than /opt"
run dn0 kmodimg load oci:/images/prefix:v1 kmodimg_a
check "load without --dir-name fails for an image without /opt" [ "$RC" != 0 ]
check_msg "the error points at the module root" dn0 "dir-name"
run dn kmodimg load --dir-name /kmods oci:/images/prefix:v1 kmodimg_a
check_rc "load --dir-name /kmods" 0
check_loaded kmodimg_a
run dnu kmodimg unload --dir-name /kmods oci:/images/prefix:v1 kmodimg_a
check_rc "unload --dir-name /kmods" 0
check_not_loaded kmodimg_a
unload_all

step "errors that say what the kernel meant"
run kv kmodimg load --kernel 6.1.0-0-none "$REF" kmodimg_a
check "load for a kernel the image lacks fails" [ "$RC" != 0 ]
check_msg "the error lists the image's kernels" kv "$KVER"
run em kmodimg load oci:/images/bad-magic:v1 kmodimg_a
check "load with a foreign vermagic fails" [ "$RC" != 0 ]
check_msg "the error names the vermagic" em vermagic
check_dmesg "the kernel refused the vermagic" "version magic"
run ec kmodimg load oci:/images/bad-crc:v1 kmodimg_a
check "load with a wrong symbol CRC fails" [ "$RC" != 0 ]
check_msg "the error explains a CRC mismatch" ec CRC
check_dmesg "the kernel refused the CRC" "disagrees about version of symbol _printk"
run ed kmodimg load oci:/images/bad-dep:v1 kmodimg_b
check "load with a dependency missing from the image fails" [ "$RC" != 0 ]
check_msg "the error explains the unknown symbol" ed "symbol"
check_msg "the error names the symbol, read from the kernel's log" ed "Unknown symbol kmodimg_a_add"
check_dmesg "the kernel missed the symbol" "Unknown symbol kmodimg_a_add"
check_not_loaded $ALL
unload_all

# ------------------------------------------------------------- KMM's link

# KMM's recipe links `host` to /host/lib/modules/KVER, where its worker Pod
# mounts the node's tree; this guest has no /host (kmodimg's own promise).
if [ "${SHIM:-0}" != 1 ]; then
	step "an image linked to /host/lib/modules/KVER, on a node without /host"
	unload_all
	run km kmodimg load -v oci:/images/kmmlink:v1 kmodimg_c --firmware-path /var/lib/firmware
	check_rc "load kmodimg_c through host -> /host/lib/modules/$KVER" 0
	check_loaded crc8 kmodimg_c
	check_out "the link" km "this node has them at \`/lib/modules/$KVER\`"
	run kmu kmodimg unload oci:/images/kmmlink:v1 kmodimg_c
	check_rc "unload it" 0
	check_not_loaded kmodimg_c crc8
	unload_all
fi

# ------------------------------------------------------------- SIGTERM

# A Pod deleted mid-load: the load stops between two modules and removes
# what it inserted.  Loading the whole image (kmodimg_a, kmodimg_b, crc8,
# kmodimg_c), an install command that sleeps holds it at kmodimg_b, with
# kmodimg_a in (kmodimg's own promise: KMM's worker dies half-way).
if [ "${SHIM:-0}" != 1 ]; then
	step "SIGTERM during a load: what this run loaded is removed again"
	unload_all
	mkdir -p /etc/modprobe.d
	echo "install kmodimg_b /bin/sleep 2" >/etc/modprobe.d/kmi-slow.conf
	kmodimg load "$REF" >/tmp/term.out 2>/tmp/term.err &
	_pid=$!
	sleep 1
	kill -TERM $_pid
	wait $_pid
	RC=$?
	rm -f /etc/modprobe.d/kmi-slow.conf
	cat /tmp/term.err
	check_rc "load stopped by SIGTERM" 1
	check_not_loaded kmodimg_a kmodimg_b crc8 kmodimg_c
	check_out "the stop" term "interrupted by signal 15"
	check_out "the stop" term "removing the 1 module(s) this run loaded"
	unload_all
fi

# term_mid_unload NAME HOW CMD...: runs CMD with a modprobe.d remove command
# for kmodimg_b that waits until we let it go, and signals it while that
# command runs.  HOW `pod`: SIGTERM to CMD alone (run in the background),
# as Kubernetes stops a container, so the signal lands between the removal
# of kmodimg_b and the next one, whatever the guest's speed; `ctrl-c`:
# SIGINT to CMD's process group, as a terminal sends it to its foreground
# job, so the remove command dies too.  That CMD runs in the foreground
# (setsid: its own group), the signalling from the background: a shell
# starts background jobs with SIGINT ignored, and kmodimg leaves a signal
# ignored at start ignored, as nohup wants.
wait_rm_b() {
	_n=0
	while [ ! -e /run/rm-b ] && [ $_n -lt 600 ]; do
		sleep 0.1
		_n=$((_n + 1))
	done
}
term_mid_unload() {
	_name=$1
	_how=$2
	shift 2
	rm -f /run/rm-b /run/rm-go
	mkdir -p /etc/modprobe.d
	echo 'remove kmodimg_b touch /run/rm-b; while [ ! -e /run/rm-go ]; do sleep 0.1; done; /sbin/rmmod $MODPROBE_MODULE' \
		>/etc/modprobe.d/kmi-slow-rm.conf
	if [ "$_how" = pod ]; then
		"$@" >"/tmp/$_name.out" 2>"/tmp/$_name.err" &
		_pid=$!
		wait_rm_b
		kill -TERM $_pid
		touch /run/rm-go
		wait $_pid
		RC=$?
	else
		(wait_rm_b; kill -INT -- -"$(pidof kmodimg)"; touch /run/rm-go) &
		_helper=$!
		setsid "$@" >"/tmp/$_name.out" 2>"/tmp/$_name.err"
		RC=$?
		wait $_helper
	fi
	rm -f /etc/modprobe.d/kmi-slow-rm.conf /run/rm-b /run/rm-go
	sed 's/^/  ! /' "/tmp/$_name.err"
}

# A Pod deleted mid-unload: the unload stops before the next removal, says
# what it removed and what is still loaded, and puts nothing back.  The
# whole image unloads as kmodimg_c (with crc8), kmodimg_b (by its remove
# command), kmodimg_a.
if [ "${SHIM:-0}" != 1 ]; then
	step "SIGTERM during an unload: it stops between two removals"
	unload_all
	run ul kmodimg load --firmware-path /var/lib/fw3 "$REF"
	check_rc "load the whole image" 0
	check_loaded kmodimg_a kmodimg_b crc8 kmodimg_c
	term_mid_unload uterm pod kmodimg unload "$REF"
	check_rc "unload stopped by SIGTERM" 1
	check_not_loaded kmodimg_c crc8 kmodimg_b
	check_loaded kmodimg_a
	check_out "the stop" uterm "interrupted by signal 15"
	check_out "the stop" uterm "before removing \`kmodimg_a\`; removed: kmodimg_c, crc8, kmodimg_b; still loaded: kmodimg_a"
	run ul2 kmodimg unload "$REF"
	check_rc "unload again finishes the job" 0
	check_not_loaded $ALL
	# Ctrl-C: the remove command dies of it as well, and that is the stop.
	run ul3 kmodimg load --firmware-path /var/lib/fw3 "$REF"
	term_mid_unload uint ctrl-c kmodimg unload "$REF"
	check_rc "unload stopped by Ctrl-C" 1
	check_not_loaded kmodimg_c crc8
	check_loaded kmodimg_b kmodimg_a
	check_out "the stop" uint "interrupted by signal 2"
	check_out "the stop" uint "while running the remove command of \`kmodimg_b\`; removed: kmodimg_c, crc8; still loaded: kmodimg_b, kmodimg_a"
	unload_all
	# As modprobe -r: the remove command of a dependency (crc8, in-tree) is
	# not run; the dependency is removed plainly once unused.
	echo 'remove crc8 touch /run/crc8-cmd' >/etc/modprobe.d/kmi-dep-rm.conf
	run ul4 kmodimg load --firmware-path /var/lib/fw3 "$REF"
	run ul5 kmodimg unload "$REF"
	check_rc "unload with a remove command for a dependency" 0
	check "the dependency's remove command did not run" [ ! -e /run/crc8-cmd ]
	check_not_loaded $ALL
	rm -f /etc/modprobe.d/kmi-dep-rm.conf /run/crc8-cmd
fi

# ------------------------------------------------------------- worker kmod

# What KMM's init container does (kmm-contract.md 5.1), into --root
# /run/worker instead of the pod's /tmp.
step "worker kmod: the image copied as KMM's init container does"
run wx kmodimg extract "$REF" /run/wimg
check_rc "kmodimg extract" 0
mkdir -p /run/worker/opt/lib/modules
cp -R /run/wimg/opt/lib/modules/"$KVER" /run/worker/opt/lib/modules
mkdir -p /run/worker/lib/firmware
cp -R /run/wimg/lib/firmware/* /run/worker/lib/firmware
check "the host link survived cp -R" [ "$(readlink /run/worker/opt/lib/modules/"$KVER"/host)" = "/lib/modules/$KVER" ]

step "worker kmod through libkmod: in-tree removal, firmware, parameters, loading order"
cat >/run/w1.yaml <<EOF
kernelVersion: $KVER
containerImage: registry.example/kmodimg/examples:$KVER
imagePullPolicy: IfNotPresent
inTreeModulesToRemove: [crc7]
modprobe:
  moduleName: kmodimg_c
  dirName: /opt
  parameters: [fw_name=kmodimg/other.txt]
  firmwarePath: /lib/firmware
  modulesLoadingOrder: [kmodimg_c, kmodimg_a]
EOF
run w1crc7 /sbin/modprobe crc7
check_loaded crc7
run w1 kmodimg worker kmod load /run/w1.yaml --firmware-path /var/lib/fw2 --root /run/worker
check_rc "worker kmod load (libkmod)" 0
check_not_loaded crc7
check_loaded kmodimg_c crc8
check_loaded kmodimg_a
check "modulesLoadingOrder: kmodimg_a (softdep pre of kmodimg_c) is not used by it" \
	awk '$1 == "kmodimg_a" && $4 == "-" { f = 1 } END { exit !f }' /proc/modules
check_file "parameter" /sys/module/kmodimg_c/parameters/fw_name kmodimg/other.txt
check_dmesg "kmodimg_c read the file its parameter names" 'says "kmodimg example firmware, other file"'
check_file "firmware copied" /var/lib/fw2/kmodimg/other.txt "kmodimg example firmware, other file"
check_file "firmware class path" /sys/module/firmware_class/parameters/path /var/lib/fw2
show_modules
run w1u kmodimg worker kmod unload /run/w1.yaml --firmware-path /var/lib/fw2 --root /run/worker
check_rc "worker kmod unload (libkmod)" 0
check_not_loaded $ALL
check_absent "firmware removed" /var/lib/fw2/kmodimg/other.txt
check_absent "firmware removed" /var/lib/fw2/$FW
show_modules
unload_all

step "worker kmod with rawArgs: kmod's modprobe with exactly those arguments"
cat >/run/w2.yaml <<EOF
kernelVersion: $KVER
containerImage: registry.example/kmodimg/examples:$KVER
modprobe:
  moduleName: kmodimg_b
  dirName: /opt
  rawArgs:
    load: [-v, -d, /run/worker/opt, kmodimg_b]
    unload: [-r, -v, -d, /run/worker/opt, kmodimg_b]
EOF
run w2 kmodimg worker kmod load /run/w2.yaml --root /run/worker
check_rc "worker kmod load (rawArgs)" 0
check_out "modprobe -v ran" w2 "insmod /run/worker/opt/lib/modules/$KVER/kmodimg_a.ko"
check_loaded kmodimg_a kmodimg_b
run w2u kmodimg worker kmod unload /run/w2.yaml --root /run/worker
check_rc "worker kmod unload (rawArgs)" 0
check_out "modprobe -r -v ran" w2u "rmmod kmodimg_a"
check_not_loaded $ALL
unload_all

step "worker kmod with args: KMM's argv, the extra flags reach modprobe; inTreeModuleToRemove"
cat >/run/w3.yaml <<EOF
kernelVersion: $KVER
containerImage: registry.example/kmodimg/examples:$KVER
inTreeModuleToRemove: crc7
modprobe:
  moduleName: kmodimg_a
  dirName: /opt
  parameters: [base=3]
  args:
    load: [--first-time]
    unload: [--first-time]
EOF
run w3crc7 /sbin/modprobe crc7
check_loaded crc7
run w3 kmodimg worker kmod load /run/w3.yaml --root /run/worker
check_rc "worker kmod load (args)" 0
check_not_loaded crc7
check_out "modprobe -v ran" w3 "insmod /run/worker/opt/lib/modules/$KVER/kmodimg_a.ko base=3"
check_file "parameter" /sys/module/kmodimg_a/parameters/base 3
run w3again kmodimg worker kmod load /run/w3.yaml --root /run/worker
check "--first-time reached modprobe: a second load fails" [ "$RC" != 0 ]
run w3u kmodimg worker kmod unload /run/w3.yaml --root /run/worker
check_rc "worker kmod unload (args)" 0
check_not_loaded $ALL
unload_all

step "worker kmod --pull: the worker fetches containerImage itself"
cat >/run/w5.yaml <<EOF
kernelVersion: $KVER
containerImage: $REF
imagePullPolicy: Always
modprobe:
  moduleName: kmodimg_b
  dirName: /opt
EOF
run w5 kmodimg worker kmod load /run/w5.yaml --pull
check_rc "worker kmod load --pull" 0
check_loaded kmodimg_a kmodimg_b
check_used_by kmodimg_a kmodimg_b
run w5u kmodimg worker kmod unload /run/w5.yaml --pull
check_rc "worker kmod unload --pull" 0
check_not_loaded $ALL
unload_all

# The same stop in the worker's unload (modulesLoadingOrder: b, then a).
if [ "${SHIM:-0}" != 1 ]; then
	step "worker kmod unload: SIGTERM stops it between two removals"
	cat >/run/w6.yaml <<EOF
kernelVersion: $KVER
containerImage: $REF
modprobe:
  moduleName: kmodimg_b
  dirName: /opt
  modulesLoadingOrder: [kmodimg_b, kmodimg_a]
EOF
	run w6 kmodimg worker kmod load /run/w6.yaml --pull
	check_rc "worker kmod load (modulesLoadingOrder b, a)" 0
	check_loaded kmodimg_a kmodimg_b
	term_mid_unload w6term pod kmodimg worker kmod unload /run/w6.yaml --pull
	check_rc "worker kmod unload stopped by SIGTERM" 1
	check_not_loaded kmodimg_b
	check_loaded kmodimg_a
	check_out "the stop" w6term "removed: kmodimg_b; still loaded: kmodimg_a"
	unload_all
fi

step "worker kmod: an unknown field is rejected"
cat >/run/w4.yaml <<EOF
kernelVersion: $KVER
containerImage: registry.example/kmodimg/examples:$KVER
modprobe:
  moduleName: kmodimg_a
  dirName: /opt
  bogusField: 1
EOF
run w4 kmodimg worker kmod load /run/w4.yaml --root /run/worker
check "worker kmod load with an unknown field fails" [ "$RC" != 0 ]
check_out "the error names the field" w4 bogusField
check_not_loaded $ALL

step "end"
show_modules
