#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The whole test suite, as CI runs it:
#   scripts/test.sh [FILTER...]
#
# 1. installs what is missing (scripts/install-deps.sh test),
# 2. checks that the tree builds warning-free (-Werror) at -O0 and release,
# 3. builds with ASan+UBSan (LeakSanitizer included) and the libFuzzer
#    targets with clang,
# 4. runs tests/run.sh against the sanitizer build: unit tests, then the
#    integration tests against kmod, skopeo, ... and a bounded fuzz run.
# The last line is "N passed, N failed[, N skipped]".
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

"$root/scripts/install-deps.sh" test

# build DIR [meson options...]: configure once, then build.
build() {
	local dir=$1
	shift
	if [[ ! -f $dir/build.ninja ]]; then
		meson setup "$dir" "$@" >"$dir.setup.log" 2>&1 || {
			cat "$dir.setup.log"
			exit 1
		}
	fi
	rm -f "$dir.setup.log"
	ninja -C "$dir" >/dev/null || ninja -C "$dir"
}

echo "== build: -O0 and release, -Werror"
build build-debug -Dbuildtype=debug -Dwerror=true
build build-release -Dbuildtype=release -Dwerror=true
echo "== build: ASan+UBSan"
build build-asan -Dbuildtype=debug -Dwerror=true -Db_sanitize=address,undefined \
	-Db_lundef=false
echo "== build: libFuzzer targets (clang, -Werror)"
CC=clang build build-fuzz -Dfuzz=true -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false

# Any sanitizer report fails the test that triggered it.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=99}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1:exitcode=98}
export KMODIMG_BUILD=build-asan
export KMODIMG_FUZZ_BUILD=$root/build-fuzz
# The release build, for tests that time or boot things and need no sanitizer.
export KMODIMG_RELEASE=$root/build-release/kmodimg

echo "== tests"
exec "$root/tests/run.sh" "$@"
