#!/usr/bin/env bash
# expect_no_out.sh OUT PATTERN CMD...: a start that fails (expect_error.sh PATTERN CMD...) must
# leave no OUT behind: OUT is removed first and must not exist afterwards.
set -u
out=$1; shift
rm -rf "$out"
"$(dirname "$0")/expect_error.sh" "$@"
status=$?
[ ! -e "$out" ] || { echo "FAIL: the failed start left $out:"; ls -lAR "$out"; exit 1; }
exit $status
