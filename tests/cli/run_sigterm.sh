#!/usr/bin/env bash
# run_sigterm.sh OUT TRAIN...: SIGTERM (what schedulers and `timeout` send) stops a run as
# Ctrl-C does: it saves a checkpoint of the step it reached and exits 143 (128 + 15); --resume
# then continues from that step.
set -u
. "$(dirname "$0")/train_helpers.sh"
out=$1; shift
start_long_run "$out" "$@"
kill -TERM $run
wait $run
status=$?
cat "$out.log"
[ $status -eq 143 ] || fail "exit status $status, not 143"
step=$(sed -n 's/^stopped at step \([0-9]*\): checkpoint saved.*/\1/p' "$out.log")
[ -n "$step" ] || fail "no 'stopped at step N: checkpoint saved' line"
[ -f "$out/checkpoint-$step/trainer_state.json" ] || fail "no checkpoint-$step"
"$@" --out "$out" --iters $((step + 1)) --resume || fail "--resume after SIGTERM failed"
[ "$(wc -l <"$out/metrics.jsonl")" -eq $((step + 1)) ] || fail "metrics.jsonl lacks step $((step + 1))"
