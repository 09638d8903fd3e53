#!/bin/bash
# tests/lib/kmod-shim.sh: a stand-in for build/kmodimg that forwards
# `kmodimg depmod ARGS` to kmod's depmod. It validates the test harness
# against the oracle itself:
#     KMODIMG=tests/lib/kmod-shim.sh tests/run.sh
# Every kmod-comparison test must then pass; the tests of behaviour that is
# ours only (strict errors, .ko.gz, --index-order=pre, exit code 2) must
# fail, which proves they can fail.
set -euo pipefail
PATH=$PATH:/usr/sbin:/sbin
[[ ${1:-} == depmod ]] || { echo "kmod-shim: only 'depmod' is supported" >&2; exit 2; }
shift
args=()
for a in "$@"; do
	case $a in
	--keep-going | --index-order=post) ;; # kmod's behaviour already
	--index-order=*) echo "kmod-shim: $a not supported by kmod 30" >&2; exit 2 ;;
	*) args+=("$a") ;;
	esac
done
exec depmod "${args[@]}"
