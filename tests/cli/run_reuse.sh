#!/usr/bin/env bash
# run_reuse.sh OUT TRAIN...: a directory that holds a previous run is refused without --resume
# or --overwrite, nothing in it changed; --overwrite removes the previous run's outputs and keeps
# the files vktrain did not write; a non-empty directory that is not a run is refused, even with
# --overwrite, and left as it was.
set -u
. "$(dirname "$0")/train_helpers.sh"
out=$1; shift
rm -rf "$out" "$out-other"
mkdir -p "$(dirname "$out")"
mkdir -p "$out"  # an existing empty directory is a new run's
"$@" --out "$out" --iters 1 --save-every 1 >/dev/null || fail "the first run failed"
before=$(cd "$out" && ls -AlR --time-style=full-iso)
"$here/expect_error.sh" "holds a previous run" "$@" --out "$out" --iters 1 || exit 1
after=$(cd "$out" && ls -AlR --time-style=full-iso)
[ "$before" = "$after" ] || fail "the refused run changed $out"

echo "the user's" >"$out/notes.txt"
"$@" --out "$out" --iters 2 --overwrite >/dev/null || fail "--overwrite failed"
[ ! -e "$out/checkpoint-1" ] || fail "--overwrite kept the previous run's checkpoint-1"
[ -f "$out/checkpoint-2/trainer_state.json" ] || fail "no checkpoint-2"
[ "$(wc -l <"$out/metrics.jsonl")" -eq 2 ] || fail "metrics.jsonl is not the new run's 2 steps"
[ "$(cat "$out/notes.txt")" = "the user's" ] || fail "--overwrite removed notes.txt"

mkdir "$out-other"
echo "the user's" >"$out-other/notes.txt"
"$here/expect_error.sh" "is not empty and not a vktrain run" \
  "$@" --out "$out-other" --iters 1 --overwrite || exit 1
[ "$(ls -A "$out-other")" = notes.txt ] || fail "the refused run changed $out-other"
