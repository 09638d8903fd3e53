# shellcheck shell=bash
# tests/lib/qemu.sh: boot Debian's kernel under QEMU (TCG) with an
# initramfs built here, run a test script inside, and read its results
# back from the serial console. Modules are only ever loaded inside the
# guest, never into the host kernel. Sourced after tests/lib/common.sh
# (needs KVER and KMI_TMP, i.e. after kmi_setup).
#
# A test does:
#     kmi_qemu_setup                       # skip unless qemu & co. exist
#     kmi_qemu_kernel crc8 crc7            # vmlinuz + these in-tree modules
#     root=$KMI_TMP/initrd
#     kmi_qemu_root "$root"                # busybox, kmod, guest helpers
#     kmi_qemu_add_tree "$root" crc8 crc7  # /lib/modules/$KVER subset + depmod
#     kmi_qemu_add_kmodimg "$root"         # /usr/bin/kmodimg + its libraries
#     cp -r ... "$root/images/"            # anything else the script needs
#     kmi_qemu_script "$root" guest-script.sh
#     kmi_qemu_run "$root"                 # pack, boot, parse; fails if no marker
#     kmi_qemu_probe_rc KEY                # results of the guest's `probe KEY FILE...`
#     kmi_qemu_probe_log KEY               #   (insmod status, the kernel's messages)
#
# Inside the guest the script runs under busybox sh with PATH
# /usr/bin:/usr/sbin:/bin:/sbin, after `. /lib/kmi-guest.sh` (check,
# check_loaded, ... print "GUEST ok: ..." / "GUEST FAIL: ..." lines, which
# kmi_qemu_run turns into ok / fail_later on the host; `probe KEY FILE...`
# insmods files and reports what the kernel said, for verdict tests, then
# removes them again). Then /init prints
# the marker line "KMI-QEMU-DONE rc=N" (N: the number of failed checks, or
# the status the script exited with) and powers the guest off.
#
# Pitfalls handled here (../shared/reference/test-rig.md §4): KVM does
# not work on these machines (-accel tcg); qemu's exit status means
# nothing (a kernel that resets early exits 0 with no output), so only
# the marker counts; qemu always runs under timeout; -nic none keeps the
# iPXE ROM out; the serial log is stripped of \r and ANSI escapes;
# busybox's own modprobe/insmod/... are not linked (kmod's are), since
# busybox sh would run its applets before anything in PATH.
#
# Environment:
#   KMODIMG_RELEASE       binary to put in the guest (scripts/test.sh sets it
#                         to the release build); else <repo>/build-release/
#                         kmodimg if built and not older than $KMODIMG, else
#                         $KMODIMG (KMODIMG_RELEASE=$PWD/build-asan/kmodimg runs the
#                         guest's commands under ASan+UBSan: it works, with
#                         LeakSanitizer off and 512 MiB)
#   KMODIMG_QEMU_TIMEOUT  seconds before the boot is killed (default 120)
#   KMODIMG_QEMU_MEM      guest memory in MiB (default 256; 512 for ASan)

KMI_QEMU_MARKER=KMI-QEMU-DONE
KMI_QEMU_CACHE=$KMI_CACHE/qemu
KMI_QEMU_VMLINUZ=
KMI_QEMU_TREE=
KMI_QEMU_ASAN=0
KMI_QEMU_LOG=
# The module tools kmod provides (and busybox must not shadow).
KMI_QEMU_KMOD_TOOLS=(modprobe insmod rmmod lsmod depmod modinfo)

kmi_qemu_setup() {
	kmi_need_cmds qemu-system-x86_64 busybox cpio timeout ldd ldconfig kmod flock
	busybox --list-full >/dev/null 2>&1 || skip "busybox cannot list its applets (install busybox-static)"
	ldd "$(command -v busybox)" >/dev/null 2>&1 &&
		skip "$(command -v busybox) is dynamically linked (install busybox-static)"
	return 0
}

# ---------------------------------------------------------------- kernel

# kmi_qemu_cached REL: is REL (relative to the cache dir) complete?
kmi_qemu_cached() {
	[[ -e $KMI_QEMU_CACHE/$KVER/$1 ]]
}

# kmi_qemu_intree_path NAME: the cached in-tree module NAME.ko, if any.
kmi_qemu_intree_path() {
	local dir=$KMI_QEMU_CACHE/$KVER/tree/lib/modules/$KVER/kernel
	[[ -d $dir ]] || return 0
	find "$dir" -name "$1.ko" -print -quit
}

# kmi_qemu_missing NAME...: sets pats[] to the tar patterns of what the
# cache lacks (vmlinuz, the tree's metadata, the named modules), names[]
# to the module names among them.
kmi_qemu_missing() {
	local mdir=lib/modules/$KVER name f
	pats=() names=()
	kmi_qemu_cached "boot/vmlinuz-$KVER" || pats+=("./boot/vmlinuz-$KVER")
	for f in modules.order modules.builtin modules.builtin.modinfo; do
		kmi_qemu_cached "tree/$mdir/$f" || pats+=("./$mdir/$f")
	done
	for name in "$@"; do
		[[ -n $(kmi_qemu_intree_path "$name") ]] && continue
		pats+=("./$mdir/kernel/*/$name.ko")
		names+=("$name")
	done
}

# kmi_qemu_kernel [NAME...]: make sure the cache holds Debian's vmlinuz for
# $KVER, the tree's modules.order/.builtin/.builtin.modinfo and the named
# in-tree modules (base names without .ko), taken from the linux-image
# .deb in one pass. Sets KMI_QEMU_VMLINUZ and KMI_QEMU_TREE (the directory
# holding lib/modules/$KVER). About 12 MB in all, not the 400 MB tree.
# Readers need no lock: every file is extracted to a temp dir and renamed
# into place, so a concurrent run sees either nothing or a whole file.
# Writers hold $base/.lock (flock), so the cache is extracted once, and a
# temp dir found while holding it was left by a killed run: removed.
kmi_qemu_kernel() {
	local base=$KMI_QEMU_CACHE/$KVER name deb tmp f lockfd
	local pats=() names=()
	KMI_QEMU_VMLINUZ=$base/boot/vmlinuz-$KVER
	KMI_QEMU_TREE=$base/tree
	kmi_qemu_missing "$@"
	((${#pats[@]})) || return 0

	deb=$(kmi_image_deb) || skip "cannot download linux-image-$KVER"
	mkdir -p "$base" || skip "cannot create the qemu cache $base"
	exec {lockfd}>"$base/.lock"
	flock "$lockfd"
	rm -rf "$base"/.extract.*
	kmi_qemu_missing "$@"   # another run may have done it meanwhile
	if ((${#pats[@]})); then
		tmp=$(mktemp -d "$base/.extract.XXXXXX")
		# tar exits 2 when a pattern matched nothing; missing names
		# are reported precisely below.
		dpkg-deb --fsys-tarfile "$deb" |
			tar -x -C "$tmp" --wildcards "${pats[@]}" 2>"$tmp/.tar.err" || true
		(cd "$tmp" && { find boot lib -type f 2>/dev/null || true; }) | while IFS= read -r f; do
			if [[ $f == boot/* ]]; then
				mkdir -p "$base/${f%/*}"
				mv -f "$tmp/$f" "$base/$f"
			else
				mkdir -p "$base/tree/${f%/*}"
				mv -f "$tmp/$f" "$base/tree/$f"
			fi
		done
		kmi_qemu_missing "$@"
		((${#names[@]} == 0)) || cat "$tmp/.tar.err"
		rm -rf "$tmp"
	fi
	exec {lockfd}>&-
	((${#names[@]} == 0)) || fail "in-tree modules not in linux-image-$KVER: ${names[*]}"
	[[ -f $KMI_QEMU_VMLINUZ ]] || fail "no boot/vmlinuz-$KVER in linux-image-$KVER"
}

# ---------------------------------------------------------------- initramfs

# kmi_qemu_copy_libs ROOT BINARY: copy the shared libraries BINARY needs
# (ldd's view, dynamic loader included) to the same paths under ROOT.
kmi_qemu_copy_libs() {
	local root=$1 bin=$2 lib
	ldd "$bin" >"$KMI_TMP/ldd.out" 2>&1 || return 0   # static: nothing to copy
	while read -r lib; do
		[[ -e $root$lib ]] && continue
		mkdir -p "$root${lib%/*}"
		cp -L "$lib" "$root$lib"
	done < <(awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' "$KMI_TMP/ldd.out")
}

# kmi_qemu_add_binary ROOT BINARY DEST: BINARY at DEST in the guest, with
# its libraries.
kmi_qemu_add_binary() {
	local root=$1 bin=$2 dest=$3
	mkdir -p "$root${dest%/*}"
	cp -L "$bin" "$root$dest"
	kmi_qemu_copy_libs "$root" "$bin"
}

# kmi_qemu_root ROOT: a fresh initramfs tree with busybox (all applets but
# the module tools), kmod with its tools in /sbin, the guest helpers
# (/lib/kmi-guest.sh) and the usual mount points.
kmi_qemu_root() {
	local root=$1 applet bb t
	rm -rf "$root"
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,etc,lib/firmware,var/lib}
	bb=$(command -v busybox)
	cp "$bb" "$root/bin/busybox"
	while read -r applet; do
		[[ " busybox ${KMI_QEMU_KMOD_TOOLS[*]} " == *" ${applet##*/} "* ]] && continue
		[[ -e $root/$applet || -L $root/$applet ]] || ln -s /bin/busybox "$root/$applet"
	done < <(busybox --list-full)
	kmi_qemu_add_binary "$root" "$(command -v kmod)" /sbin/kmod
	for t in "${KMI_QEMU_KMOD_TOOLS[@]}"; do
		ln -sf kmod "$root/sbin/$t"
	done
	cp "$KMI_LIB_DIR/guest.sh" "$root/lib/kmi-guest.sh"
	# modprobe reads these; an empty config keeps the host's out.
	mkdir -p "$root/etc/modprobe.d" "$root/etc/depmod.d"
}

# kmi_qemu_add_tree ROOT NAME...: the node's module tree in the guest:
# /lib/modules/$KVER with the cached metadata and the named in-tree
# modules at their real paths, indexed by kmod's depmod (run on the host
# against ROOT: it only writes files), so that in-tree dependencies and
# `modprobe NAME` resolve as on a real node. Needs kmi_qemu_kernel NAME...
kmi_qemu_add_tree() {
	local root=$1 name src rel mdir=lib/modules/$KVER
	shift
	mkdir -p "$root/$mdir"
	cp "$KMI_QEMU_TREE/$mdir"/modules.{order,builtin,builtin.modinfo} "$root/$mdir/"
	for name in "$@"; do
		src=$(kmi_qemu_intree_path "$name")
		[[ -n $src ]] || fail "kmi_qemu_add_tree: $name not cached (call kmi_qemu_kernel $name first)"
		rel=${src#"$KMI_QEMU_TREE/"}
		mkdir -p "$root/${rel%/*}"
		cp "$src" "$root/$rel"
	done
	mkdir -p "$KMI_TMP/empty-depmod.d"
	depmod -C "$KMI_TMP/empty-depmod.d" -b "$root" "$KVER" 2>"$KMI_TMP/qemu-depmod.err" || {
		cat "$KMI_TMP/qemu-depmod.err"
		fail "depmod of the guest's module tree failed"
	}
}

# The kmodimg binary for the guest: $KMODIMG_RELEASE if set (scripts/test.sh
# sets it to the release build it just built), else <repo>/build-release/
# kmodimg unless it is older than the binary under test (then it may be
# stale), else the binary under test itself. A release build carries no
# sanitizer runtime, and TCG is slow enough already.
kmi_qemu_kmodimg_bin() {
	local rel=$KMODIMG_SRC/build-release/kmodimg
	if [[ -n ${KMODIMG_RELEASE:-} ]]; then
		[[ -x $KMODIMG_RELEASE ]] || return 1
		echo "$KMODIMG_RELEASE"
	elif [[ -x $rel && ! $rel -ot $KMODIMG ]]; then
		echo "$rel"
	elif [[ -x $KMODIMG ]]; then
		echo "$KMODIMG"
	else
		return 1
	fi
}

# kmi_qemu_add_dlopened ROOT: the libraries kmodimg opens with dlopen() on
# first use (lib/util/dl-*.c), with theirs; ldd does not see them.
kmi_qemu_add_dlopened() {
	local root=$1 so lib
	for so in libcurl.so.4 libarchive.so.13 libdeflate.so.0 libz.so.1 libyaml-0.so.2 libpcre2-8.so.0 \
		libjansson.so.4; do
		lib=$(ldconfig -p | awk -v so="$so" '$1 == so && /x86-64/ && !found {print $NF; found = 1}')
		[[ -n $lib ]] || fail "ldconfig does not know $so"
		mkdir -p "$root${lib%/*}"
		cp -L "$lib" "$root$lib"
		kmi_qemu_copy_libs "$root" "$lib"
	done
}

# kmi_qemu_add_kmodimg ROOT: /usr/bin/kmodimg and its libraries. An ASan
# build works in the guest too (its runtime is one more library), but its
# shadow memory wants a bigger guest (KMI_QEMU_ASAN=1 raises -m to 512)
# and LeakSanitizer is turned off there (leaks are the host tests' job;
# the guest checks what only a real kernel can show). The guest's ASAN_OPTIONS/UBSAN_OPTIONS make any other
# report fail the command (exit 99/98), which the checks then catch.
kmi_qemu_add_kmodimg() {
	local root=$1 bin
	bin=$(kmi_qemu_kmodimg_bin) || fail "no kmodimg binary to put in the guest"
	kmi_qemu_add_dlopened "$root"
	# Last: the libasan check below reads this binary's ldd output.
	kmi_qemu_add_binary "$root" "$bin" /usr/bin/kmodimg
	if grep -q 'libasan' "$KMI_TMP/ldd.out"; then
		KMI_QEMU_ASAN=1
		cat >"$root/etc/kmi-env" <<-'EOF'
			export ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:exitcode=99
			export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:exitcode=98
		EOF
	fi
	echo "guest kmodimg: $bin$( ((KMI_QEMU_ASAN)) && echo ' (ASan build)')"
}

# kmi_qemu_example_image ROOT: examples/ built against the headers (a, b
# and c) and made into a kmod image by the binary under test, at
# oci:ROOT/images/kmod:v1 (so oci:/images/kmod:v1 in the guest): modules
# under /opt, the `host` link indexed against the guest's module tree
# (kmi_qemu_add_tree first, with crc8), examples/firmware under
# /lib/firmware.
kmi_qemu_example_image() {
	local root=$1 ex=$KMI_TMP/ex
	kmi_build_examples "$ex" kmodimg_a kmodimg_b kmodimg_c
	mkdir -p "$root/images"
	kmi_run build "$KMODIMG" build --quiet --kernel "$KVER" -t "oci:$root/images/kmod:v1" \
		--in-tree-link=host --kernel-tree="$root/lib/modules/$KVER" \
		--firmware="$KMODIMG_EXAMPLES/firmware" \
		"$ex/kmodimg_a.ko" "$ex/kmodimg_b.ko" "$ex/kmodimg_c.ko"
	((KMI_RC == 0)) || fail "kmodimg build: $(cat "$KMI_TMP/build.err")"
}

# kmi_qemu_script ROOT SCRIPT: run SCRIPT (a file) as the guest's test,
# from a generated /init that mounts proc, sysfs and devtmpfs first and
# powers off afterwards.
kmi_qemu_script() {
	local root=$1
	cp "$2" "$root/test.sh"
	cat >"$root/init" <<-EOF
		#!/bin/sh
		export PATH=/usr/bin:/usr/sbin:/bin:/sbin
		mount -t proc proc /proc
		mount -t sysfs sysfs /sys
		mount -t devtmpfs devtmpfs /dev
		[ -f /etc/kmi-env ] && . /etc/kmi-env
		echo "KMI-QEMU-START kernel \$(uname -r)"
		/bin/sh -c '. /lib/kmi-guest.sh && . /test.sh; exit \$GUEST_NFAIL'
		echo "$KMI_QEMU_MARKER rc=\$?"
		poweroff -f
	EOF
	chmod 755 "$root/init"
}

# kmi_qemu_pack ROOT OUT: the newc cpio archive of ROOT, uncompressed:
# kmodimg's libraries make it about 60 MB (libicudata alone, via libxml2
# from libarchive, is 31 MB), and gunzip under TCG costs more time than
# the guest's memory costs space (gzip -1: 27 MB, but 1 s slower in all).
kmi_qemu_pack() {
	(cd "$1" && find . -print0 | LC_ALL=C sort -z |
		cpio --null -o -H newc --quiet -R 0:0) >"$2"
}

# kmi_qemu_boot INITRD LOG: boot Debian's kernel with INITRD; the serial
# console, cleaned of \r and ANSI escapes, goes to LOG. Returns 0 when the
# marker line is in LOG, whatever qemu's exit status.
kmi_qemu_boot() {
	local initrd=$1 log=$2 mem=${KMODIMG_QEMU_MEM:-256} rc=0
	((KMI_QEMU_ASAN)) && [[ -z ${KMODIMG_QEMU_MEM:-} ]] && mem=512
	timeout --kill-after=5 "${KMODIMG_QEMU_TIMEOUT:-120}" \
		qemu-system-x86_64 -accel tcg -m "$mem" -smp 1 -nographic -no-reboot -nic none \
		-kernel "$KMI_QEMU_VMLINUZ" -initrd "$initrd" \
		-append 'console=ttyS0 panic=-1 quiet loglevel=3' \
		</dev/null >"$log.raw" 2>&1 || rc=$?
	tr -d '\r' <"$log.raw" | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/\x1b[()][A-Z0-9]//g; s/\x1bc//g' >"$log"
	rm -f "$log.raw"
	((rc != 124 && rc != 137)) || echo "qemu killed by timeout after ${KMODIMG_QEMU_TIMEOUT:-120}s"
	grep -q "^$KMI_QEMU_MARKER rc=" "$log"
}

# kmi_qemu_run ROOT: pack ROOT, boot it, turn the guest's result lines into
# ok / fail_later, and fail_later unless the guest script exited 0. The
# cleaned console log stays in $KMI_QEMU_LOG (printed in full on failure).
kmi_qemu_run() {
	local root=$1 initrd=$KMI_TMP/initrd.cpio line rc nres
	KMI_QEMU_LOG=$KMI_TMP/console.log
	kmi_qemu_pack "$root" "$initrd"
	echo "initramfs: $(du -k "$initrd" | cut -f1) KiB"
	if ! kmi_qemu_boot "$initrd" "$KMI_QEMU_LOG"; then
		sed 's/^/    console: /' "$KMI_QEMU_LOG" | tail -60
		fail "the guest did not print its marker (boot failed or timed out)"
	fi
	nres=0
	while IFS= read -r line; do
		case $line in
		"GUEST ok: "*) ok "${line#GUEST ok: }" ;;
		"GUEST FAIL: "*) fail_later "${line#GUEST FAIL: }" ;;
		*) continue ;;
		esac
		nres=$((nres + 1))
	done <"$KMI_QEMU_LOG"
	rc=$(sed -n "s/^$KMI_QEMU_MARKER rc=//p" "$KMI_QEMU_LOG" | tail -1)
	((nres > 0)) || fail_later "the guest reported no results"
	[[ $rc == 0 ]] || fail_later "the guest script exited $rc (its number of failed checks, unless it stopped early)"
	if ((KMI_NFAIL > 0)); then
		echo "--- console log:"
		sed 's/^/    /' "$KMI_QEMU_LOG"
	fi
}

# kmi_qemu_probe_rc KEY: the status of the guest's `probe KEY ...`
# (tests/lib/guest.sh) from the last kmi_qemu_run; empty if it never ran.
kmi_qemu_probe_rc() {
	sed -n "s/^GUEST probe $1 rc=//p" "$KMI_QEMU_LOG" | tail -n 1
}

# kmi_qemu_probe_log KEY: the kernel's messages (and insmod's stderr) for
# the guest's `probe KEY ...`, one per line, without the prefix.
kmi_qemu_probe_log() {
	sed -n "s/^GUEST probe-log $1 //p" "$KMI_QEMU_LOG"
}

# kmi_qemu_example_guest ROOT INTREE...: the usual guest, as steps: the
# kernel with the in-tree modules INTREE (cached), a fresh ROOT holding
# them indexed, the binary under test, and kmi_qemu_example_image.
kmi_qemu_example_guest() {
	local root=$1
	shift
	step "kernel and in-tree modules (cached in $KMI_QEMU_CACHE)"
	kmi_qemu_kernel "$@"
	step "the guest's module tree, the example image"
	kmi_qemu_root "$root"
	kmi_qemu_add_tree "$root" "$@"
	kmi_qemu_add_kmodimg "$root"
	kmi_qemu_example_image "$root"
}
