# shellcheck shell=bash
# tests/lib/bases.sh: base images for Dockerfile builds, made here from
# Debian packages (no internet registry) and kept as OCI layouts in
# $KMI_CACHE/bases/ between runs, as test-rig.md section 6 describes.
#
#     . "$KMI_LIB_DIR/bases.sh"        # after common.sh and kmi_setup
#     kmi_base_busybox                  # sets KMI_BASE_BUSYBOX (layout dir, tag latest)
#     kmi_base_debian                   # sets KMI_BASE_DEBIAN (layout dir, tag bookworm)
#
# busybox: busybox-static with its applet links (/bin/sh, cp, mkdir: what
#   KMM's worker init container runs), 2 MB, made in under a second.
# debian: debootstrap --variant=minbase bookworm plus gcc, make, libc6-dev,
#   kmod and linux-headers-$KVER (from bookworm-security when that is where
#   the current ABI is), about 150 MB compressed; about 75 s to make.
# Both are made with buildah in a private vfs store that is removed
# afterwards.  A base is made in a temp dir beside its final name and
# renamed into place, so two tests making it at once never see half of one.
# The mirrors are the ones this machine's apt uses (/etc/apt/sources.list*).

KMI_BASES=$KMI_CACHE/bases

# _kmi_apt_uri SUITE: the first URI apt uses for SUITE (deb822 or one-line).
_kmi_apt_uri() {
	local suite=$1 f
	shopt -s nullglob
	for f in /etc/apt/sources.list.d/*.sources; do
		awk -v s="$suite" '
			function out() { if (ok && uri != "") print uri; ok = 0; uri = "" }
			/^[ \t]*$/ { out(); next }
			/^URIs:/ { uri = $2 }
			/^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s) ok = 1 }
			END { out() }' "$f"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -f $f ]] || continue
		sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\) \([^ ]*\) .*/\2 \3/p' "$f" |
			awk -v s="$suite" '$2 == s { print $1 }'
	done
	shopt -u nullglob
}

# _kmi_base_commit ROOTFS LAYOUT TAG WORK: ROOTFS as a one-layer OCI image.
_kmi_base_commit() {
	local rootfs=$1 layout=$2 tag=$3 work=$4 ctr
	local s=(--root "$work/storage" --runroot "$work/run" --storage-driver vfs)
	ctr=$(buildah "${s[@]}" from scratch) || return 1
	buildah "${s[@]}" copy "$ctr" "$rootfs" / >/dev/null || return 1
	buildah "${s[@]}" config --cmd /bin/sh "$ctr" || return 1
	buildah "${s[@]}" commit -q --format oci --rm "$ctr" "oci:$layout:$tag" >/dev/null || return 1
}

# _kmi_base_publish WORK NAME: rename WORK/layout to $KMI_BASES/NAME (unless
# another test was faster) and remove WORK.
_kmi_base_publish() {
	local work=$1 name=$2
	mv -T "$work/layout" "$KMI_BASES/$name" 2>/dev/null || [[ -f $KMI_BASES/$name/index.json ]] || {
		rm -rf --one-file-system "$work"
		return 1
	}
	rm -rf --one-file-system "$work"
}

_kmi_base_work() {
	mkdir -p "$KMI_BASES" 2>/dev/null && [[ -w $KMI_BASES ]] ||
		{ echo "cache dir $KMI_BASES is not writable (set KMODIMG_TEST_CACHE)" >&2; return 1; }
	mktemp -d "$KMI_BASES/.make.XXXXXX"
}

kmi_base_busybox() {
	local name work r
	kmi_need_cmds buildah busybox
	name=busybox-$(dpkg-query -W -f='${Version}' busybox-static | tr ':~+' '_')
	KMI_BASE_BUSYBOX=$KMI_BASES/$name
	[[ -f $KMI_BASE_BUSYBOX/index.json ]] && return 0
	step "making the busybox base ($KMI_BASE_BUSYBOX)"
	work=$(_kmi_base_work) || fail "cannot make the busybox base"
	r=$work/rootfs
	mkdir -p "$r/bin" "$r/sbin" "$r/usr/bin" "$r/usr/sbin" "$r/tmp"
	cp "$(command -v busybox)" "$r/bin/busybox"
	chroot "$r" /bin/busybox --install -s || { rm -rf "$work"; fail "busybox --install failed"; }
	_kmi_base_commit "$r" "$work/layout" latest "$work" >"$work/log" 2>&1 ||
		{ cat "$work/log"; rm -rf "$work"; fail "buildah could not make the busybox base"; }
	_kmi_base_publish "$work" "$name" || fail "cannot publish the busybox base"
}

kmi_base_debian() {
	local name work r main sec
	kmi_need_cmds buildah debootstrap chroot
	name=debian-build-bookworm-$KVER
	KMI_BASE_DEBIAN=$KMI_BASES/$name
	[[ -f $KMI_BASE_DEBIAN/index.json ]] && return 0
	main=$(_kmi_apt_uri bookworm | head -1)
	sec=$(_kmi_apt_uri bookworm-security | head -1)
	[[ -n $main ]] || skip "no apt source for bookworm in /etc/apt/sources.list*"
	step "making the Debian build base ($KMI_BASE_DEBIAN, from $main; about 75 s)"
	work=$(_kmi_base_work) || fail "cannot make the Debian base"
	r=$work/rootfs
	if ! debootstrap --variant=minbase bookworm "$r" "$main" >"$work/log" 2>&1; then
		tail -20 "$work/log"
		rm -rf --one-file-system "$work"
		fail "debootstrap failed"
	fi
	[[ -n $sec ]] && echo "deb $sec bookworm-security main" >>"$r/etc/apt/sources.list"
	if ! { chroot "$r" apt-get update -q &&
		chroot "$r" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
			gcc make libc6-dev kmod "linux-headers-$KVER" &&
		chroot "$r" apt-get clean; } >>"$work/log" 2>&1; then
		tail -20 "$work/log"
		rm -rf --one-file-system "$work"
		fail "installing the build packages into the Debian base failed"
	fi
	# device nodes are the runtime's to make: images from registries have none
	rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin "$r"/dev/*
	_kmi_base_commit "$r" "$work/layout" bookworm "$work" >>"$work/log" 2>&1 ||
		{ tail -20 "$work/log"; rm -rf --one-file-system "$work"; fail "buildah could not make the Debian base"; }
	_kmi_base_publish "$work" "$name" || fail "cannot publish the Debian base"
}
