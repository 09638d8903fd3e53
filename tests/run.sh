#!/bin/bash
# tests/run.sh: run the unit test binaries and the integration scripts.
#
#   tests/run.sh [FILTER...]
#
# Unit tests: every executable named test-* under $KMODIMG_BUILD/tests
# (default build/). Integration tests: every tests/integration/*.sh, run
# with bash, one after another (2 cores, heavy I/O: no parallelism), with
# KMODIMG=$KMODIMG_BUILD/kmodimg and KMODIMG_SRC=<repo root>.
# A FILTER keeps the tests whose name contains it (any of them).
# Exit status of a test: 0 pass, 77 skip, anything else fail.
# Last line: "N passed, N failed[, N skipped]"; exit 1 if any failed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build=${KMODIMG_BUILD:-build}
case $build in /*) ;; *) build=$root/$build ;; esac
export KMODIMG_SRC=$root
# An explicit KMODIMG wins (e.g. tests/lib/kmod-shim.sh to check the
# harness against kmod itself).
export KMODIMG=${KMODIMG:-$build/kmodimg}

npass=0 nfail=0 nskip=0
filters=("$@")

selected() {
	local f
	((${#filters[@]} == 0)) && return 0
	for f in "${filters[@]}"; do
		[[ $1 == *"$f"* ]] && return 0
	done
	return 1
}

# run_one NAME CMD...: run a test, capture its output, print one result line.
run_one() {
	local name=$1 log rc=0 t0 secs reason
	shift
	log=$(mktemp "${TMPDIR:-/tmp}/kmodimg-run.XXXXXX")
	t0=$SECONDS
	"$@" </dev/null >"$log" 2>&1 || rc=$?
	secs=$((SECONDS - t0))
	case $rc in
	0)
		echo "PASS $name (${secs}s)"
		npass=$((npass + 1))
		;;
	77)
		reason=$(sed -n 's/^SKIP: //p' "$log" | tail -1)
		echo "SKIP $name: ${reason:-no reason given}"
		nskip=$((nskip + 1))
		;;
	*)
		echo "FAIL $name (exit $rc, ${secs}s)"
		tail -60 "$log" | sed 's/^/    /'
		nfail=$((nfail + 1))
		;;
	esac
	rm -f "$log"
}

# Unit tests: any executable test-* the build produced.
if [[ -d $build/tests ]]; then
	while IFS= read -r t; do
		name=unit/$(basename "$t")
		selected "$name" || continue
		run_one "$name" "$t"
	done < <(find "$build/tests" -type f -name 'test-*' -perm -u+x | sort)
fi

for t in tests/integration/*.sh; do
	[[ -e $t ]] || continue
	name=integration/$(basename "$t" .sh)
	selected "$name" || continue
	run_one "$name" bash "$t"
done

summary="$npass passed, $nfail failed"
((nskip > 0)) && summary+=", $nskip skipped"
echo "$summary"
((nfail == 0))
