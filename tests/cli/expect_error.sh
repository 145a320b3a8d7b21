#!/usr/bin/env bash
# expect_error.sh PATTERN CMD...: CMD must exit non-zero and print exactly one line on stderr,
# containing PATTERN, and nothing on stdout.
set -u
pattern=$1; shift
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
"$@" >"$out" 2>"$err"
status=$?
fail() { echo "FAIL: $*"; echo "--- stdout"; cat "$out"; echo "--- stderr"; cat "$err"; exit 1; }
[ "$status" -ne 0 ] || fail "exit status 0"
[ "$(wc -l <"$err")" -eq 1 ] || fail "stderr is not one line"
grep -qF -- "$pattern" "$err" || fail "stderr lacks: $pattern"
[ ! -s "$out" ] || fail "stdout not empty"
echo "ok: exit $status: $(cat "$err")"
