#!/bin/bash
# Command-line errors. Usage errors exit 2 (kmod exits 1 for all of
# these; 2 is our documented code), print something on stderr and write
# nothing on stdout:
#   unknown option, option missing its argument, -P with several chars,
#   a bad --index-order value, a bad version string (named), an unknown
#   subcommand, no subcommand.
# Runtime failures exit 1 with a message naming what is wrong:
#   a basedir that does not exist or is a file (the module dir is named),
#   a missing -E / -F file.
# -h / --help print usage and exit 0, as kmod's.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
kmi_setup

nonexist=$KMI_TMP/does-not-exist
mkdir -p "$KMI_TMP/base/lib/modules/$KVER"

# usage NAME ARGS...: exit 2, stderr non-empty, stdout empty.
usage() {
	local name=$1
	shift
	kmi_run "$name" "$KMODIMG" "$@"
	if ((KMI_RC != 2)); then
		fail_later "$name: 'kmodimg $*' exited $KMI_RC, want 2: $(head -2 "$KMI_TMP/$name.err")"
	elif [[ ! -s $KMI_TMP/$name.err ]]; then
		fail_later "$name: 'kmodimg $*' exited 2 but printed nothing on stderr"
	elif [[ -s $KMI_TMP/$name.out ]]; then
		fail_later "$name: 'kmodimg $*' printed on stdout: $(head -2 "$KMI_TMP/$name.out")"
	else
		ok "$name: exit 2 ($(head -1 "$KMI_TMP/$name.err" | cut -c1-100))"
	fi
	[[ -z $(find "$KMI_TMP/base" -type f) ]] || fail "$name: files written under -b"
}

# failure NAME NEEDLE ARGS...: exit 1 (failure; a crash or a sanitizer
# report exits otherwise), NEEDLE on stderr.
failure() {
	local name=$1 needle=$2
	shift 2
	kmi_run "$name" "$KMODIMG" "$@"
	if ((KMI_RC != 1)); then
		fail_later "$name: 'kmodimg $*' exited $KMI_RC, want 1: $(head -2 "$KMI_TMP/$name.err")"
	elif ! grep -qF -- "$needle" "$KMI_TMP/$name.err"; then
		fail_later "$name: stderr does not name '$needle': $(head -2 "$KMI_TMP/$name.err")"
	else
		ok "$name: exit $KMI_RC, names '$needle'"
	fi
	[[ -z $(find "$KMI_TMP/base" -type f) ]] || fail "$name: files written under -b"
}

step "oracle: kmod rejects the same command lines"
for args in "--no-such-option" "-P ab $KVER" "-b $nonexist $KVER" "notaversion"; do
	# shellcheck disable=SC2086
	kmi_run oracle depmod $args
	((KMI_RC == 1)) || fail "oracle: 'depmod $args' exited $KMI_RC"
done

step "usage errors"
usage unknown-option depmod --no-such-option "$KVER"
usage unknown-short depmod -Z "$KVER"
usage missing-arg-b depmod -b
usage missing-arg-C depmod "$KVER" -C
usage prefix-too-long depmod -P ab -b "$KMI_TMP/base" "$KVER"
usage index-order-bad depmod --index-order=sideways -b "$KMI_TMP/base" "$KVER"
usage index-order-empty depmod --index-order= -b "$KMI_TMP/base" "$KVER"
usage bad-version depmod -b "$KMI_TMP/base" notaversion
grep -q notaversion "$KMI_TMP/bad-version.err" || fail_later "bad-version: stderr does not name 'notaversion'"
usage unknown-subcommand frobnicate
usage no-subcommand

step "runtime failures"
failure basedir-missing "$nonexist/lib/modules/$KVER" depmod -b "$nonexist" "$KVER"
: >"$KMI_TMP/afile"
failure basedir-file "$KMI_TMP/afile/lib/modules/$KVER" depmod -b "$KMI_TMP/afile" "$KVER"
failure symvers-missing "$nonexist/Module.symvers" depmod -E "$nonexist/Module.symvers" -b "$KMI_TMP/base" "$KVER"
failure sysmap-missing "$nonexist/System.map" depmod -F "$nonexist/System.map" -b "$KMI_TMP/base" "$KVER"

step "help"
for h in -h --help; do
	kmi_run help "$KMODIMG" depmod "$h"
	if ((KMI_RC == 0)) && grep -q -- '-b' "$KMI_TMP/help.out"; then
		ok "depmod $h: exit 0, usage on stdout"
	else
		fail_later "depmod $h: exit $KMI_RC, stdout: $(head -2 "$KMI_TMP/help.out")"
	fi
done

pass
