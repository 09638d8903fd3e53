#!/bin/bash
# The kmodimg executable must not export functions to the shared libraries
# it loads: a global of ours named like a libc function one of them calls
# takes its place (a tools/ function called delete_module() once replaced
# the syscall wrapper libkmod unloads modules with, and unload crashed in
# the qemu test).  Only glibc's copy-relocated data may be exported.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

kmi_need_cmds nm
kmi_require_kmodimg
exported=$(nm -D --defined-only "$KMODIMG" | awk '$2 ~ /^[TtWwiI]$/ { print $3 }')
[[ -z $exported ]] || fail "functions exported by $KMODIMG (they would interpose on libraries): $exported"
ok "no function exported by the executable"
pass
