#!/bin/bash
# libcurl, libarchive, libdeflate, zlib, libyaml, libpcre2 and jansson are
# opened on first use (lib/util/dl-*.c), not by the dynamic linker: the binary does not
# list them (ldd), commands that need none of them work without them (build
# needs no libarchive unless a name needs a pax header), and the ones that
# need one say which package is missing and exit 2, leaving nothing behind.
# "Without": a user+mount namespace with /dev/null bound over the libraries'
# files.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

kmi_setup
kmi_need_cmds ldd ldconfig unshare mount
# The files the loader finds for the sonames kmodimg dlopen()s.
lib_file() {
	local f
	f=$(ldconfig -p | awk -v so="$1" '$1 == so && /x86-64/ && !found {print $NF; found = 1}')
	[[ -n $f ]] || fail "ldconfig does not know $1"
	readlink -f "$f"
}
curl_so=$(lib_file libcurl.so.4)
archive_so=$(lib_file libarchive.so.13)
small_sos=()
# libpcre2 last: mount(8) itself needs it (through libselinux) to hide the rest.
for so in libdeflate.so.0 libz.so.1 libyaml-0.so.2 libjansson.so.4 libpcre2-8.so.0; do
	small_sos+=("$(lib_file "$so")")
done
unshare -rm true 2>/dev/null || skip "cannot create a user+mount namespace here"
# hide FILE... -- CMD...: run CMD with the library files unloadable.
hide() {
	# shellcheck disable=SC2016 # expanded by the inner sh
	unshare -rm sh -c 'while [ "$1" != -- ]; do mount --bind /dev/null "$1" || exit 99; shift; done
		shift; exec "$@"' sh "$@"
}
without() { hide "$curl_so" "$archive_so" -- "$@"; }
without_any() { hide "$curl_so" "$archive_so" "${small_sos[@]}" -- "$@"; }

step "not linked"
if ldd "$KMODIMG" | grep -E 'libcurl|libarchive|libxml2|libicu|libkrb5|libldap|libssh|libdeflate|libz\.|libyaml|libpcre2|libjansson'; then
	fail_later "ldd lists a library opened on first use, or one of its dependencies"
else
	ok "ldd lists none of libcurl, libarchive, libdeflate, zlib, libyaml, libpcre2, jansson"
fi

ex=$KMI_TMP/ex
kmi_build_examples "$ex"
img=oci:$KMI_TMP/img:v1
"$KMODIMG" build --quiet --kernel "$KVER" -t "$img" "$ex/kmodimg_a.ko" "$ex/kmodimg_b.ko" >/dev/null ||
	fail "kmodimg build failed"
st=$KMI_TMP/state
load() { "$KMODIMG" load --state-dir "$st" --kernel "$KVER" "$img" kmodimg_b --dry-run; }
# index.json must be a few seconds old for the state dir's record of the
# reference to hold its stamp, which lets a dry run skip JSON (and jansson).
sleep 3
kmi_run first load
((KMI_RC == 0)) || fail "load --dry-run: rc $KMI_RC: $(cat "$KMI_TMP/first.err")"

step "commands that need neither library"
kmi_run version without_any "$KMODIMG" --version
if ((KMI_RC == 0)); then ok "--version without the libraries"; else fail_later "--version: rc $KMI_RC"; fi
kmi_run again without_any "$KMODIMG" load --state-dir "$st" --kernel "$KVER" "$img" kmodimg_b --dry-run
if ((KMI_RC == 0)) && cmp -s "$KMI_TMP/first.out" "$KMI_TMP/again.out"; then
	ok "load --dry-run from the state dir without the libraries"
else
	fail_later "load --dry-run without the libraries: rc $KMI_RC: $(cat "$KMI_TMP/again.err")"
fi
mkdir -p "$KMI_TMP/tree/lib/modules/$KVER"
cp "$ex/kmodimg_a.ko" "$ex/kmodimg_b.ko" "$KMI_TMP/tree/lib/modules/$KVER/"
kmi_run depmod without_any "$KMODIMG" depmod -b "$KMI_TMP/tree" "$KVER"
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

# hide_one SONAME -- CMD...: run CMD with that one library unloadable.
hide_one() {
	local so=$1
	shift 2
	hide "$(lib_file "$so")" -- "$@"
}
kmi_run gz-extract hide_one libdeflate.so.0 -- "$KMODIMG" extract "$img" "$KMI_TMP/x2"
must_name gz-extract libdeflate.so.0 libdeflate0
[[ ! -e $KMI_TMP/x2 ]] || fail_later "extract left $KMI_TMP/x2 behind"
kmi_run gz-build hide_one libdeflate.so.0 -- "$KMODIMG" build --quiet --kernel "$KVER" \
	-t "oci:$KMI_TMP/img3:v1" "$ex/kmodimg_a.ko"
must_name gz-build libdeflate.so.0 libdeflate0
kmi_run json hide_one libjansson.so.4 -- "$KMODIMG" images --store "$KMI_TMP/img"
must_name json libjansson.so.4 libjansson4
# a build says so before it writes anything: no blob, no scratch tree
shm_before=$(ls -d /dev/shm/kmodimg-build.* "${TMPDIR:-/tmp}"/kmodimg-build.* 2>/dev/null | sort || true)
kmi_run json-build hide_one libjansson.so.4 -- "$KMODIMG" build --quiet --kernel "$KVER" \
	-t "oci:$KMI_TMP/img4:v1" "$ex/kmodimg_a.ko"
must_name json-build libjansson.so.4 libjansson4
shm_after=$(ls -d /dev/shm/kmodimg-build.* "${TMPDIR:-/tmp}"/kmodimg-build.* 2>/dev/null | sort || true)
if [[ ! -e $KMI_TMP/img4 && $shm_after == "$shm_before" ]]; then
	ok "json-build left nothing behind"
else
	fail_later "json-build left $(find "$KMI_TMP/img4" -type f 2>/dev/null | tr '\n' ' ') $shm_after"
fi
plan_in=$KMODIMG_SRC/tests/integration/data/kmm/plan/lint.yaml
kmi_run yaml-plan hide_one libyaml-0.so.2 -- "$KMODIMG" plan "$plan_in" -k "$KVER"
must_name yaml-plan libyaml-0.so.2 libyaml-0-2
kmi_run pcre2-plan hide_one libpcre2-8.so.0 -- "$KMODIMG" plan "$plan_in" -k "$KVER"
must_name pcre2-plan libpcre2-8.so.0 libpcre2-8-0
printf 'kernelVersion: %s\n' "$KVER" >"$KMI_TMP/modconfig.yaml"
kmi_run yaml-worker hide_one libyaml-0.so.2 -- "$KMODIMG" worker kmod load "$KMI_TMP/modconfig.yaml"
must_name yaml-worker libyaml-0.so.2 libyaml-0-2
pass
