#!/bin/bash
# libcurl and libarchive are opened on first use (lib/util/dl-*.c), not by
# the dynamic linker: the binary does not list them (ldd), commands that
# need neither work without them (build too, unless a name needs a pax
# header), and the ones that need them say which
# package is missing and exit 2, leaving nothing behind. "Without them": a
# user+mount namespace with /dev/null bound over both libraries' files.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

kmi_setup
kmi_need_cmds ldd ldconfig unshare mount
# The files the loader finds for the sonames kmodimg dlopen()s.
lib_file() {
	local f
	f=$(ldconfig -p | awk -v so="$1" '$1 == so && /x86-64/ {print $NF; exit}')
	[[ -n $f ]] || fail "ldconfig does not know $1"
	readlink -f "$f"
}
curl_so=$(lib_file libcurl.so.4)
archive_so=$(lib_file libarchive.so.13)
unshare -rm true 2>/dev/null || skip "cannot create a user+mount namespace here"
# without CMD...: run CMD with both libraries unloadable.
without() {
	# shellcheck disable=SC2016 # expanded by the inner sh
	unshare -rm sh -c 'mount --bind /dev/null "$1" && mount --bind /dev/null "$2" && shift 2 && exec "$@"' \
		sh "$curl_so" "$archive_so" "$@"
}

step "not linked"
if ldd "$KMODIMG" | grep -E 'libcurl|libarchive|libxml2|libicu|libkrb5|libldap|libssh'; then
	fail_later "ldd lists libcurl, libarchive or one of their dependencies"
else
	ok "ldd lists neither libcurl nor libarchive"
fi

ex=$KMI_TMP/ex
kmi_build_examples "$ex"
img=oci:$KMI_TMP/img:v1
"$KMODIMG" build --quiet --kernel "$KVER" -t "$img" "$ex/kmodimg_a.ko" "$ex/kmodimg_b.ko" >/dev/null ||
	fail "kmodimg build failed"
st=$KMI_TMP/state
load() { "$KMODIMG" load --state-dir "$st" --kernel "$KVER" "$img" kmodimg_b --dry-run; }
kmi_run first load
((KMI_RC == 0)) || fail "load --dry-run: rc $KMI_RC: $(cat "$KMI_TMP/first.err")"

step "commands that need neither library"
kmi_run version without "$KMODIMG" --version
if ((KMI_RC == 0)); then ok "--version without the libraries"; else fail_later "--version: rc $KMI_RC"; fi
kmi_run again without "$KMODIMG" load --state-dir "$st" --kernel "$KVER" "$img" kmodimg_b --dry-run
if ((KMI_RC == 0)) && cmp -s "$KMI_TMP/first.out" "$KMI_TMP/again.out"; then
	ok "load --dry-run from the state dir without the libraries"
else
	fail_later "load --dry-run without the libraries: rc $KMI_RC: $(cat "$KMI_TMP/again.err")"
fi
mkdir -p "$KMI_TMP/tree/lib/modules/$KVER"
cp "$ex/kmodimg_a.ko" "$ex/kmodimg_b.ko" "$KMI_TMP/tree/lib/modules/$KVER/"
kmi_run depmod without "$KMODIMG" depmod -b "$KMI_TMP/tree" "$KVER"
if ((KMI_RC == 0)); then
	ok "depmod without the libraries"
else
	fail_later "depmod: rc $KMI_RC: $(cat "$KMI_TMP/depmod.err")"
fi

# must_name NAME SONAME PACKAGE: exit 2 and stderr naming both, no crash.
must_name() {
	if ((KMI_RC != 2)); then
		fail_later "$1: exit $KMI_RC, want 2: $(cat "$KMI_TMP/$1.err")"
	elif grep -qF "cannot load $2" "$KMI_TMP/$1.err" && grep -qF "install $3" "$KMI_TMP/$1.err"; then
		ok "$1: exit 2, names $2 and $3"
	else
		fail_later "$1: stderr does not name $2 and $3: $(cat "$KMI_TMP/$1.err")"
	fi
}

step "commands that need one say which"
kmi_run extract without "$KMODIMG" extract "$img" "$KMI_TMP/x"
must_name extract libarchive.so.13 libarchive13
[[ ! -e $KMI_TMP/x ]] || fail_later "extract left $KMI_TMP/x behind"
# Plain ustar entries need no libarchive (lib/oci/ustar.c), and give the
# same image as with it; a name only a pax header holds needs it.
d_with=$("$KMODIMG" build --quiet --kernel "$KVER" -t "oci:$KMI_TMP/img1:v1" "$ex/kmodimg_a.ko")
kmi_run build0 without "$KMODIMG" build --quiet --kernel "$KVER" -t "oci:$KMI_TMP/img1b:v1" "$ex/kmodimg_a.ko"
if ((KMI_RC == 0)) && [[ $(cat "$KMI_TMP/build0.out") == "$d_with" ]]; then
	ok "build of a plain-ustar layer works without libarchive, same digest"
else
	fail_later "build without libarchive: rc $KMI_RC, $(cat "$KMI_TMP/build0.out") vs $d_with: $(cat "$KMI_TMP/build0.err")"
fi
long=$(printf 'x%.0s' {1..110})
kmi_run build without "$KMODIMG" build --quiet --kernel "$KVER" --subdir "$long" -t "oci:$KMI_TMP/img2:v1" "$ex/kmodimg_a.ko"
must_name build libarchive.so.13 libarchive13
# As after any failed build: at most the empty layout and its lock file.
left=$(find "$KMI_TMP/img2" -type f ! -name oci-layout ! -name index.json ! -name .kmodimg.lock 2>/dev/null || true)
if [[ -z $left ]]; then ok "build left no blob or temp file"; else fail_later "build left $left"; fi

kmi_run inspect without "$KMODIMG" inspect "$img"
must_name inspect libarchive.so.13 libarchive13
kmi_run exists without "$KMODIMG" exists docker://127.0.0.1:1/none:v1
must_name exists libcurl.so.4 libcurl4
pass
