#!/usr/bin/env bash
# mpi_train.sh MODE OUT TRAIN...: data-parallel training under mpirun (issue 17), two ranks on one
# machine (lavapipe in CI). $MPIRUN is mpirun with its flags but -np, $COMPARE the compare_runs
# tool.
#   same:   5 steps on 2 ranks train the same model as 5 steps on 1 rank with --grad-accum 2
#           (losses, evaluation losses, weights and optimizer state within 1e-6).
#   resume: 3 steps on 2 ranks, then --resume to 5, equal the uninterrupted 2-rank run in $REF,
#           and so does the checkpoint of step 3 resumed on 1 rank with --grad-accum 2 (the same
#           micro-batches a step); resuming on 1 rank with --grad-accum 1 is refused with one
#           error line.
#   kill:   a rank killed mid-run ends the job with mpirun's message naming it, and the last
#           checkpoint is whole: 2 ranks resume from it.
#   stop:   Ctrl-C to mpirun (which passes it to the ranks) stops every rank after one step with
#           a checkpoint, as on one rank.
#   fail:   a rank that fails (here: no such device) ends every rank with its one message,
#           before --out is touched.
#   buckets: 5 steps on 2 ranks with a bucket per layer (the sums overlapped with the backward)
#           train bit for bit the model of the 2-rank run in $REF (one bucket), and say where a
#           step's time went. $BUCKET_MB (0: a bucket per layer) sets --bucket-mb.
#   sharded: 5 steps on 2 ranks with --shard-optimizer train bit for bit the model and the
#           optimizer state of 5 steps on 2 ranks without it.
set -u
. "$(dirname "$0")/train_helpers.sh"
mode=$1 out=$2; shift 2
# Root in CI containers; the shared-memory transport without ptrace-based single copy (containers
# forbid it); ranks that wait yield the CPU to lavapipe's threads.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_mpi_yield_when_idle=1
rm -rf "$out" && mkdir -p "$out"
two="$MPIRUN -np 2"
case $mode in
  same)
    "$@" --out "$out/one" --iters 5 --grad-accum 2 >"$out/one.log" 2>&1 ||
      { cat "$out/one.log"; fail "1 rank"; }
    $two "$@" --out "$out/two" --iters 5 >"$out/two.log" 2>&1 ||
      { cat "$out/two.log"; fail "2 ranks"; }
    grep -q "5 steps of 2 ranks x 1 x" "$out/two.log" || { cat "$out/two.log"; fail "not 2 ranks"; }
    $COMPARE "$out/one" "$out/two" || fail "2 ranks trained another model than 1 rank"
    ;;
  resume)
    $two "$@" --out "$out/run" --iters 3 >"$out/run.log" 2>&1 ||
      { cat "$out/run.log"; fail "2 ranks, 3 steps"; }
    cp -r "$out/run" "$out/one"
    $two "$@" --out "$out/run" --iters 5 --resume >>"$out/run.log" 2>&1 ||
      { cat "$out/run.log"; fail "2 ranks, --resume"; }
    $COMPARE "$REF" "$out/run" || fail "the resumed run differs from the uninterrupted one"
    "$@" --out "$out/one" --iters 5 --grad-accum 2 --resume >"$out/one.log" 2>&1 ||
      { cat "$out/one.log"; fail "1 rank x --grad-accum 2 did not resume it"; }
    $COMPARE "$REF" "$out/one" || fail "resumed on 1 rank, it differs from the 2-rank run"
    "$@" --out "$out/run" --iters 6 --resume >"$out/refused.log" 2>&1 &&
      fail "1 rank x --grad-accum 1 resumed it"
    grep -q "ranks x --grad-accum" "$out/refused.log" ||
      { cat "$out/refused.log"; fail "no error naming the ranks"; }
    echo "resume ok"
    ;;
  kill)
    $two "$@" --out "$out/run" --iters 100000 --save-every 1 >"$out/run.log" 2>&1 &
    run=$!
    trap 'kill -KILL $run 2>/dev/null' EXIT
    wait_for_step "$out/run" 3 $run
    # mpirun's children by their PPid, read without a process per /proc entry: a grep each took
    # seconds, while the job ran on past step 40 writing a checkpoint a step.
    victim=
    for status in /proc/[0-9]*/status; do
      ppid=
      while read -r key value; do
        [ "$key" = PPid: ] && { ppid=$value; break; }
      done <"$status" 2>/dev/null
      [ "$ppid" = "$run" ] || continue
      pid=${status#/proc/}; pid=${pid%/status}
      tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=1 && victim=$pid
    done
    [ -n "$victim" ] || fail "no rank 1 among mpirun's children"
    kill -KILL "$victim"
    wait $run && fail "the job went on without rank 1"
    cat "$out/run.log"
    grep -q "exited on signal 9" "$out/run.log" || fail "no message naming the killed rank"
    last=$(ls "$out/run" | sed -n 's/^checkpoint-\([0-9]*\)$/\1/p' | sort -n | tail -1)
    [ -n "$last" ] || fail "no checkpoint"
    $two "$@" --out "$out/run" --iters $((last + 1)) --resume >"$out/resume.log" 2>&1 ||
      { cat "$out/resume.log"; fail "checkpoint-$last does not resume"; }
    echo "kill ok: checkpoint-$last resumed"
    ;;
  stop)
    $two "$@" --out "$out/run" --iters 100000 >"$out/run.log" 2>&1 &
    run=$!
    trap 'kill -KILL $run 2>/dev/null' EXIT
    wait_for_step "$out/run" 2 $run
    kill -INT $run
    wait $run && fail "a stopped job exited 0"
    cat "$out/run.log"
    step=$(tr '\r' '\n' <"$out/run.log" | sed -n 's/^stopped at step \([0-9]*\): checkpoint saved.*/\1/p')
    [ -n "$step" ] || fail "no 'stopped at step N: checkpoint saved' line"
    [ -f "$out/run/checkpoint-$step/trainer_state.json" ] || fail "no checkpoint-$step"
    echo "stop ok"
    ;;
  fail)
    $MPIRUN -np 1 "$@" --out "$out/run" --iters 5 : -np 1 env VKTRAIN_DEVICE=7 "$@" \
      --out "$out/run" --iters 5 >"$out/run.log" 2>&1 && fail "the job succeeded"
    cat "$out/run.log"
    grep -q "^vktrain: rank 1 of 2: \[device\] VKTRAIN_DEVICE=7 but there" "$out/run.log" ||
      fail "no message from rank 1"
    [ ! -e "$out/run" ] || fail "--out was touched"
    echo "fail ok"
    ;;
  buckets)
    $two "$@" --out "$out/run" --iters 5 --bucket-mb "${BUCKET_MB:-0}" >"$out/run.log" 2>&1 ||
      { cat "$out/run.log"; fail "2 ranks, --bucket-mb ${BUCKET_MB:-0}"; }
    grep -q "^data parallel, per step: .* s copying gradients .* s in MPI" "$out/run.log" ||
      { cat "$out/run.log"; fail "no line on where the time went"; }
    grep -q '"staging_seconds":' "$out/run/metrics.jsonl" || fail "no staging_seconds in metrics"
    $COMPARE "$REF" "$out/run" 0 || fail "buckets changed the sums"
    ;;
  sharded)
    for run in whole sharded; do
      flag=$([ $run = sharded ] && echo --shard-optimizer)
      $two "$@" --out "$out/$run" --iters 5 $flag >"$out/$run.log" 2>&1 ||
        { cat "$out/$run.log"; fail "2 ranks, $run optimizer state"; }
    done
    $COMPARE "$out/whole" "$out/sharded" 0 || fail "the sharded state trained another model"
    ;;
  *) fail "unknown mode $mode" ;;
esac
