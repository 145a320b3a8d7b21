# Sourced by the scripts that drive `vktrain train` in the background.
here=$(dirname "$0")

fail() { echo "FAIL: $*"; exit 1; }

# wait_for_step DIR STEP PID: waits until DIR/metrics.jsonl has STEP lines (the run holds DIR
# and is training), failing if PID ends first or 600 s pass.
wait_for_step() {
  local i
  for i in $(seq 6000); do
    [ "$(cat "$1/metrics.jsonl" 2>/dev/null | wc -l)" -ge "$2" ] && return 0
    kill -0 "$3" 2>/dev/null || fail "the run ended before step $2"
    sleep 0.1
  done
  fail "no step $2 after 600 s"
}

# start_long_run OUT TRAIN...: starts `TRAIN --out OUT --iters 100000` (OUT made new, its output in
# OUT.log) in the background as $run, killed when the script exits, and waits for its first step.
start_long_run() {
  local out=$1; shift
  rm -rf "$out" "$out.log"
  mkdir -p "$(dirname "$out")"
  "$@" --out "$out" --iters 100000 >"$out.log" 2>&1 &
  run=$!
  trap 'kill -KILL $run 2>/dev/null' EXIT
  wait_for_step "$out" 1 $run
}
