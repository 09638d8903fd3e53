# shellcheck shell=bash
# tests/lib/common.sh: helpers sourced by every integration test.
#
# A test script does:
#     set -euo pipefail
#     . "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
#     kmi_setup            # KVER, oracle check, binary check, temp dir
#     ...checks...
#     pass                 # exit 0, or 1 if any fail_later was recorded
#
# Exit codes follow automake: 0 pass, 1 fail, 77 skip.
#
# Environment:
#   KMODIMG             binary under test (default <repo>/build/kmodimg)
#   KMODIMG_SRC         repository root (default: derived from this file)
#   KMODIMG_TEST_CACHE  where the linux-image .deb is kept (default /var/cache/kmodimg-test)
#   KMODIMG_TEST_KVER   kernel ABI to use instead of Debian's current one
#   KMODIMG_EXAMPLES    example module sources (default <repo>/examples)
#   KMODIMG_KEEP_TMP=1  keep the per-test temp dir for debugging

# depmod and modprobe live in /usr/sbin, which a non-login shell may lack.
PATH=$PATH:/usr/sbin:/sbin
export LC_ALL=C

KMI_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KMODIMG_SRC=${KMODIMG_SRC:-$(cd "$KMI_LIB_DIR/../.." && pwd)}
KMODIMG=${KMODIMG:-$KMODIMG_SRC/build/kmodimg}
# Tests change directory; a relative path must keep pointing at the binary.
case $KMODIMG in /*) ;; */*) KMODIMG=$PWD/$KMODIMG ;; esac
KMODIMG_EXAMPLES=${KMODIMG_EXAMPLES:-$KMODIMG_SRC/examples}
# shared/ sits beside the repository, on developer machines and in CI alike.
KMI_SHARED=$(dirname "$KMODIMG_SRC")/shared
KMI_DUMPIDX=$KMI_SHARED/tools/dumpidx.py
KMI_CACHE=${KMODIMG_TEST_CACHE:-/var/cache/kmodimg-test}
# shellcheck disable=SC2034 # used by the test scripts
KMI_DATA=$KMODIMG_SRC/tests/integration/data

# Every file kmod 30 writes, in its write order (depmod-format.md 1.1).
KMI_OUTPUTS=(modules.dep modules.dep.bin modules.alias modules.alias.bin
	modules.softdep modules.symbols modules.symbols.bin
	modules.builtin.bin modules.builtin.alias.bin modules.devname)

KMI_NFAIL=0
KMI_OURS_SECS=
# Extra arguments for our run only in kmi_depmod_pair (e.g. --keep-going,
# which kmod does not know).
# shellcheck disable=SC2034 # read by kmi_depmod_pair
KMI_OURS_ARGS=()
KMI_TMP=
KVER=

# ---------------------------------------------------------------- results

pass() {
	if ((KMI_NFAIL > 0)); then
		echo "FAIL: $KMI_NFAIL check(s) failed"
		exit 1
	fi
	echo "PASS"
	exit 0
}

# Fatal failure: stop the test now.
fail() {
	echo "FAIL: $*"
	exit 1
}

# Non-fatal failure: record it and keep checking, so one run shows every
# mismatch; pass() turns it into exit 1.
fail_later() {
	echo "FAIL: $*"
	KMI_NFAIL=$((KMI_NFAIL + 1))
}

skip() {
	echo "SKIP: $*"
	exit 77
}

ok() {
	echo "ok: $*"
}

# Print a step with the seconds since the test started (timing is part of
# the budget: the whole suite must stay small on 2 cores).
step() {
	echo "--- [${SECONDS}s] $*"
}

# ---------------------------------------------------------------- setup

kmi_cleanup() {
	local rc=$?
	if [[ -n $KMI_TMP && -d $KMI_TMP ]]; then
		if [[ ${KMODIMG_KEEP_TMP:-0} == 1 ]]; then
			echo "kept temp dir $KMI_TMP" >&2
		else
			# Trees are ~400 MB; never leave one behind. chmod first in
			# case a test removed write permission somewhere.
			chmod -R u+rwX "$KMI_TMP" 2>/dev/null || true
			rm -rf --one-file-system "$KMI_TMP"
		fi
	fi
	return "$rc"
}

kmi_mktemp() {
	KMI_TMP=$(mktemp -d "${TMPDIR:-/tmp}/kmodimg-test.XXXXXX")
	trap kmi_cleanup EXIT
	# Turn signals into a normal exit so the EXIT trap removes the tree.
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

kmi_need_cmds() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip "required command '$c' not installed (run scripts/install-deps.sh)"
	done
}

# Debian's current kernel ABI, resolved from the metapackage so the image
# and the headers match (never hard-coded).
kmi_kver() {
	local out
	if [[ -n ${KMODIMG_TEST_KVER:-} ]]; then
		echo "$KMODIMG_TEST_KVER"
		return 0
	fi
	# No `| head -1` here: with pipefail a SIGPIPE'd sed would fail the pipe.
	out=$(apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/.*Depends: linux-image-\(.*\)/\1/p') || return 1
	out=${out%%$'\n'*}
	[[ -n $out ]] || return 1
	echo "$out"
}

kmi_require_kmodimg() {
	[[ -x $KMODIMG ]] || fail "binary under test not found or not executable: $KMODIMG (build it with meson first)"
}

# Common start of every integration test.
kmi_setup() {
	kmi_need_cmds depmod modprobe python3 dpkg-deb tar apt-cache apt-get cmp diff
	[[ -r $KMI_DUMPIDX ]] || skip "index decoder not found: $KMI_DUMPIDX (shared/ must sit beside the repo)"
	KVER=$(kmi_kver) || skip "cannot resolve the current kernel ABI from apt-cache (run apt-get update)"
	kmi_require_kmodimg
	kmi_mktemp
	echo "kver=$KVER kmodimg=$KMODIMG tmp=$KMI_TMP"
}

# ---------------------------------------------------------------- kernel tree

# Path of the cached linux-image-$KVER .deb, downloading it on first use.
kmi_image_deb() {
	local deb dl
	shopt -s nullglob
	local debs=("$KMI_CACHE"/linux-image-"$KVER"_*.deb)
	shopt -u nullglob
	if ((${#debs[@]} == 0)); then
		# Explicit checks: this runs in $(...), where set -e is off.
		if ! mkdir -p "$KMI_CACHE" 2>/dev/null || [[ ! -w $KMI_CACHE ]]; then
			echo "cache dir $KMI_CACHE is not writable (set KMODIMG_TEST_CACHE)" >&2
			return 1
		fi
		# Download into a private dir and rename, so an interrupted
		# download is never mistaken for a complete .deb.
		dl=$(mktemp -d "$KMI_CACHE/.download.XXXXXX") || return 1
		if ! (cd "$dl" && apt-get download "linux-image-$KVER") >"$dl/log" 2>&1; then
			cat "$dl/log" >&2
			rm -rf "$dl"
			return 1
		fi
		mv "$dl"/linux-image-"$KVER"_*.deb "$KMI_CACHE"/ || { rm -rf "$dl"; return 1; }
		rm -rf "$dl"
		shopt -s nullglob
		debs=("$KMI_CACHE"/linux-image-"$KVER"_*.deb)
		shopt -u nullglob
	fi
	deb=${debs[0]:-}
	[[ -n $deb ]] || return 1
	echo "$deb"
}

# kmi_extract_tree BASEDIR: the whole ./lib/modules/$KVER of the image
# package into BASEDIR (so BASEDIR/lib/modules/$KVER is the module dir).
kmi_extract_tree() {
	local dest=$1 deb
	deb=$(kmi_image_deb) || skip "cannot download linux-image-$KVER"
	mkdir -p "$dest"
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dest" "./lib/modules/$KVER"
}

# kmi_extract_modules BASEDIR NAME...: only the named modules (basename
# without .ko, found anywhere in the tree) plus modules.order,
# modules.builtin and modules.builtin.modinfo. Fails if a name is missing.
kmi_extract_modules() {
	local dest=$1 deb name missing=() m
	shift
	deb=$(kmi_image_deb) || skip "cannot download linux-image-$KVER"
	local pats=("./lib/modules/$KVER/modules.order"
		"./lib/modules/$KVER/modules.builtin"
		"./lib/modules/$KVER/modules.builtin.modinfo")
	for name in "$@"; do
		pats+=("./lib/modules/$KVER/kernel/*/$name.ko")
	done
	mkdir -p "$dest"
	# tar exits 2 when a pattern matched nothing; report that precisely below.
	dpkg-deb --fsys-tarfile "$deb" |
		tar -x -C "$dest" --wildcards "${pats[@]}" 2>"$KMI_TMP/tar.err" || true
	for name in "$@"; do
		m=$(find "$dest/lib/modules/$KVER/kernel" -name "$name.ko" -print -quit)
		[[ -n $m ]] || missing+=("$name")
	done
	if ((${#missing[@]})); then
		cat "$KMI_TMP/tar.err"
		fail "modules not in linux-image-$KVER: ${missing[*]}"
	fi
}

# kmi_build_modules SRCDIR OUTDIR: build the kbuild dir SRCDIR against the
# installed headers in a private copy, and copy the .ko files to OUTDIR.
kmi_build_modules() {
	local src=$1 out=$2 hdr=/usr/src/linux-headers-$KVER bdir
	[[ -d $hdr ]] || skip "kernel headers not installed: $hdr (run scripts/install-deps.sh)"
	kmi_need_cmds make gcc
	[[ -d $src ]] || fail "module sources not found: $src"
	bdir=$(mktemp -d "$KMI_TMP/build.XXXXXX")
	cp -r "$src/." "$bdir/"
	if ! make -C "$hdr" M="$bdir" modules >"$bdir/build.log" 2>&1; then
		tail -40 "$bdir/build.log"
		fail "module build failed in $src"
	fi
	mkdir -p "$out"
	cp "$bdir"/*.ko "$out/"
	[[ -f $bdir/Module.symvers ]] && cp "$bdir/Module.symvers" "$out/"
	rm -rf "$bdir"
}

# kmi_build_examples OUTDIR [NAME...]: build examples/ and copy the named
# modules (default kmodimg_a, which exports kmodimg_a_add, and kmodimg_b,
# which uses it) to OUTDIR. kmodimg_c (needs the in-tree crc8 module and
# firmware) is only copied when asked for, so that trees without the
# kernel's modules still resolve every dependency.
kmi_build_examples() {
	local out=$1 name
	shift
	local names=("$@")
	((${#names[@]})) || names=(kmodimg_a kmodimg_b)
	[[ -f $KMODIMG_EXAMPLES/Kbuild ]] || fail "examples not found: $KMODIMG_EXAMPLES/Kbuild"
	kmi_build_modules "$KMODIMG_EXAMPLES" "$KMI_TMP/examples.all"
	mkdir -p "$out"
	for name in "${names[@]}"; do
		[[ -f $KMI_TMP/examples.all/$name.ko ]] || fail "examples did not produce $name.ko"
		cp "$KMI_TMP/examples.all/$name.ko" "$out/"
	done
	if [[ -f $KMI_TMP/examples.all/Module.symvers ]]; then
		cp "$KMI_TMP/examples.all/Module.symvers" "$out/"
	fi
	rm -rf "$KMI_TMP/examples.all"
}

# ---------------------------------------------------------------- running

# kmi_run NAME CMD...: run CMD, stdout to $KMI_TMP/NAME.out, stderr to
# $KMI_TMP/NAME.err, exit code to KMI_RC (never trips set -e).
kmi_run() {
	local name=$1
	shift
	KMI_RC=0
	"$@" >"$KMI_TMP/$name.out" 2>"$KMI_TMP/$name.err" || KMI_RC=$?
}

kmod_depmod() { depmod "$@"; }
our_depmod() { "$KMODIMG" depmod "$@"; }

# All entries of a directory (hidden ones too), sorted, one per line.
kmi_ls() {
	(cd "$1" && find . -mindepth 1 -maxdepth 1 -printf '%f\n' | sort)
}

# kmi_move_outputs MODDIR DEST: move the 10 outputs out of the module dir
# so the tree is pristine again for the other tool.
kmi_move_outputs() {
	local f
	mkdir -p "$2"
	for f in "${KMI_OUTPUTS[@]}"; do
		[[ -e $1/$f ]] && mv "$1/$f" "$2/"
	done
	return 0
}

# kmi_copy_outputs SRC MODDIR: put a saved set of outputs back in place
# (for modprobe, which reads them from the module dir).
kmi_copy_outputs() {
	local f
	for f in "${KMI_OUTPUTS[@]}"; do
		[[ -e $1/$f ]] && cp "$1/$f" "$2/"
	done
	return 0
}

kmi_remove_outputs() {
	local f
	for f in "${KMI_OUTPUTS[@]}"; do
		rm -f "$1/$f"
	done
}

# kmi_check_created TOOL BEFORE MODDIR: the files a run added to MODDIR
# must be exactly the 10 outputs: no temp file left, no extra file (kmod 30
# writes no modules.weakdep), nothing removed.
kmi_check_created() {
	local tool=$1 before=$2 moddir=$3 after created removed expected
	after=$(kmi_ls "$moddir")
	created=$(comm -13 <(echo "$before") <(echo "$after"))
	removed=$(comm -23 <(echo "$before") <(echo "$after"))
	expected=$(printf '%s\n' "${KMI_OUTPUTS[@]}" | sort)
	if [[ $created != "$expected" ]]; then
		fail_later "$tool: files created in the module dir differ from the 10 outputs:"
		diff <(echo "$expected") <(echo "$created") | head -20 || true
	fi
	[[ -z $removed ]] || fail_later "$tool: removed files from the module dir: $removed"
}

# kmi_depmod_pair NAME MODDIR DEPMOD-ARGS...: run kmod's depmod, move its
# outputs to $KMI_TMP/NAME/kmod, then ours on the same (pristine again)
# tree, outputs to $KMI_TMP/NAME/ours. Both must exit 0. Running both
# tools on one tree keeps disk use at one tree and gives both the same
# readdir order, which decides between duplicate module names.
kmi_depmod_pair() {
	local name=$1 moddir=$2 before f
	shift 2
	for f in "${KMI_OUTPUTS[@]}"; do
		[[ ! -e $moddir/$f ]] || fail "kmi_depmod_pair: $moddir/$f exists before the run"
	done
	before=$(kmi_ls "$moddir")

	kmi_run "$name.kmod" kmod_depmod "$@"
	if ((KMI_RC != 0)); then
		tail -20 "$KMI_TMP/$name.kmod.err"
		fail "$name: kmod depmod $* exited $KMI_RC (oracle broken?)"
	fi
	kmi_check_created "kmod depmod" "$before" "$moddir"
	kmi_move_outputs "$moddir" "$KMI_TMP/$name/kmod"

	local t0=$EPOCHREALTIME
	kmi_run "$name.ours" our_depmod "${KMI_OURS_ARGS[@]}" "$@"
	KMI_OURS_SECS=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.2f", b-a}')
	if ((KMI_RC != 0)); then
		tail -20 "$KMI_TMP/$name.ours.err" || true
		fail_later "$name: kmodimg depmod ${KMI_OURS_ARGS[*]} $* exited $KMI_RC"
	fi
	kmi_check_created "kmodimg depmod" "$before" "$moddir"
	kmi_move_outputs "$moddir" "$KMI_TMP/$name/ours"
}

# ---------------------------------------------------------------- comparing

kmi_dump() {
	python3 "$KMI_DUMPIDX" "$@" 2>&1
}

# kmi_compare_outputs A B [FILE...]: byte-compare the outputs (default all
# 10) in dirs A (kmod) and B (ours). On mismatch show which files differ,
# with a short diff (decoded for .bin files). Returns 1 on any difference.
kmi_compare_outputs() {
	local a=$1 b=$2 f bad=0
	shift 2
	local files=("$@")
	((${#files[@]})) || files=("${KMI_OUTPUTS[@]}")
	for f in "${files[@]}"; do
		if [[ ! -f $a/$f ]]; then
			echo "  $f: missing from kmod's output ($a)"
			bad=1
			continue
		fi
		if [[ ! -f $b/$f ]]; then
			echo "  $f: missing from our output ($b)"
			bad=1
			continue
		fi
		cmp -s "$a/$f" "$b/$f" && continue
		bad=1
		echo "  $f differs: kmod $(stat -c %s "$a/$f") bytes, ours $(stat -c %s "$b/$f") bytes; $(cmp "$a/$f" "$b/$f" 2>&1 | head -1)"
		kmi_show_diff "$a/$f" "$b/$f"
	done
	return "$bad"
}

kmi_show_diff() {
	local a=$1 b=$2
	if [[ $a == *.bin ]]; then
		if ! [[ -s $a && -s $b ]]; then
			echo "    (one side is empty)"
			return 0
		fi
		if diff -q <(kmi_dump "$a") <(kmi_dump "$b") >/dev/null; then
			echo "    decoded content identical: node layout differs"
			echo "    kmod: $(kmi_dump "$a" --stats)"
			echo "    ours: $(kmi_dump "$b" --stats)"
		else
			diff -u --label "kmod/$(basename "$a")" --label "ours/$(basename "$b")" \
				<(kmi_dump "$a") <(kmi_dump "$b") | head -40 | sed 's/^/    /' || true
		fi
	else
		diff -u --label "kmod/$(basename "$a")" --label "ours/$(basename "$b")" \
			"$a" "$b" | head -40 | sed 's/^/    /' || true
	fi
	return 0
}

# kmi_expect_same NAME [FILE...]: compare the outputs of a kmi_depmod_pair run.
kmi_expect_same() {
	local name=$1
	shift
	if kmi_compare_outputs "$KMI_TMP/$name/kmod" "$KMI_TMP/$name/ours" "$@"; then
		ok "$name: outputs byte-identical to kmod's${KMI_OURS_SECS:+ (ours took ${KMI_OURS_SECS}s)}"
	else
		fail_later "$name: outputs differ from kmod's"
	fi
	# Set by kmi_depmod_pair only; never report a stale one.
	KMI_OURS_SECS=
}

# kmi_sums DIR: checksum + inode + mtime of the 10 outputs, to prove a
# failed run left them untouched (same bytes and not even rewritten).
kmi_sums() {
	local f
	for f in "${KMI_OUTPUTS[@]}"; do
		if [[ -e $1/$f ]]; then
			echo "$f $(md5sum <"$1/$f" | cut -d' ' -f1) $(stat -c '%i %Y' "$1/$f")"
		else
			echo "$f absent"
		fi
	done
}

# kmi_modprobe_deps NAME PREFIX MODULE: modprobe --show-depends against
# PREFIX/lib/modules/$KVER with no host modprobe.d config; output in
# $KMI_TMP/NAME.out.
kmi_modprobe_deps() {
	local name=$1 prefix=$2 mod=$3
	mkdir -p "$KMI_TMP/empty-modprobe.d"
	kmi_run "$name" modprobe -C "$KMI_TMP/empty-modprobe.d" -d "$prefix" -S "$KVER" --show-depends "$mod"
}

# kmi_modprobe_same NAME PREFIX MODULE: install kmod's then our outputs of
# pair NAME and compare what modprobe resolves from each.
kmi_modprobe_same() {
	local name=$1 prefix=$2 mod=$3 moddir=$2/lib/modules/$KVER
	kmi_copy_outputs "$KMI_TMP/$name/kmod" "$moddir"
	kmi_modprobe_deps "$name.mp.kmod" "$prefix" "$mod"
	local rc_kmod=$KMI_RC
	kmi_remove_outputs "$moddir"
	kmi_copy_outputs "$KMI_TMP/$name/ours" "$moddir"
	kmi_modprobe_deps "$name.mp.ours" "$prefix" "$mod"
	local rc_ours=$KMI_RC
	kmi_remove_outputs "$moddir"
	((rc_kmod == 0)) || { cat "$KMI_TMP/$name.mp.kmod.err"; fail "modprobe --show-depends $mod fails with kmod's index"; }
	if [[ $rc_ours != 0 ]] || ! cmp -s "$KMI_TMP/$name.mp.kmod.out" "$KMI_TMP/$name.mp.ours.out"; then
		fail_later "$name: modprobe --show-depends $mod differs (rc kmod $rc_kmod, ours $rc_ours)"
		diff -u --label kmod --label ours "$KMI_TMP/$name.mp.kmod.out" "$KMI_TMP/$name.mp.ours.out" | head -20 || true
		head -5 "$KMI_TMP/$name.mp.ours.err" || true
	else
		ok "$name: modprobe --show-depends $mod identical"
	fi
}

# kmi_expect_line FILE LINE WHO: FILE must contain exactly LINE.
kmi_expect_line() {
	if grep -qxF -- "$2" "$1"; then
		ok "$3 has '$2'"
	else
		fail_later "$3 lacks line '$2'"
		grep -F -- "${2%%:*}" "$1" | head -5 | sed 's/^/    found: /' || true
	fi
}

# kmi_ours_must_fail NAME MODDIR NEEDLE... -- DEPMOD-ARGS...: one of our
# deliberately strict failures. Our depmod must exit 1 within 20 s (kmod
# takes 30 s to exhaust a symlink loop; we must not follow it), name
# every NEEDLE on stderr, and leave MODDIR exactly as it was: the
# existing outputs keep their bytes, inode and mtime, and no temp file is
# left.
kmi_ours_must_fail() {
	local name=$1 moddir=$2 needles=() n sums_before ls_before
	shift 2
	while (($#)) && [[ $1 != -- ]]; do
		needles+=("$1")
		shift
	done
	shift
	sums_before=$(kmi_sums "$moddir")
	ls_before=$(kmi_ls "$moddir")
	kmi_run "$name.ours" timeout 20 "$KMODIMG" depmod "$@"
	if ((KMI_RC == 124)); then
		fail_later "$name: did not terminate within 20 s"
	elif ((KMI_RC != 1)); then
		fail_later "$name: exit $KMI_RC, want 1 (failure)"
	else
		ok "$name: exit 1"
	fi
	for n in "${needles[@]}"; do
		if grep -qF -- "$n" "$KMI_TMP/$name.ours.err"; then
			ok "$name: stderr names '$n'"
		else
			fail_later "$name: stderr does not name '$n'"
		fi
	done
	head -8 "$KMI_TMP/$name.ours.err" | cut -c1-300 | sed 's/^/    stderr: /' || true
	if [[ $(kmi_sums "$moddir") != "$sums_before" ]]; then
		fail_later "$name: existing outputs were changed (name md5 inode mtime):"
		diff --old-line-format='    before: %L' --new-line-format='    after:  %L' \
			--unchanged-line-format='' <(echo "$sums_before") <(kmi_sums "$moddir") | head -8 || true
	else
		ok "$name: existing outputs untouched"
	fi
	if [[ $(kmi_ls "$moddir") != "$ls_before" ]]; then
		fail_later "$name: files were added or removed in the module dir"
		diff <(echo "$ls_before") <(kmi_ls "$moddir") | head -12 || true
	fi
}
