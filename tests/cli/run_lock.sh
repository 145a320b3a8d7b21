#!/usr/bin/env bash
# run_lock.sh OUT TRAIN...: while `TRAIN --out OUT` runs, a second run into OUT fails at once
# with one error line naming OUT and the first run's pid, and touches nothing there. Once the
# first is killed (SIGKILL: it cannot clean up) the lock is gone and a new run may take OUT.
set -u
. "$(dirname "$0")/train_helpers.sh"
out=$1; shift
start_long_run "$out" "$@"
kill -STOP $run  # nothing changes in OUT while the second run tries
before=$(cd "$out" && ls -AlR --time-style=full-iso)
"$here/expect_error.sh" "--out $out is in use by another vktrain run (pid $run)" \
  "$@" --out "$out" --iters 1 || exit 1
after=$(cd "$out" && ls -AlR --time-style=full-iso)
[ "$before" = "$after" ] || fail "the refused run changed $out: $(diff <(echo "$before") <(echo "$after"))"
kill -KILL $run
wait $run 2>/dev/null
"$@" --out "$out" --iters 1 --overwrite || fail "no new run after the first was killed"
