#!/usr/bin/env bash
# Runs the libFuzzer harnesses that `make fuzz` built into build-fuzz/, as many at once as there
# are cores (FUZZ_JOBS), each for SECONDS, seeded from tests/fixtures and tests/fuzz/seeds. What each finds to be new stays in
# build-fuzz/corpus/<harness>/, so a later run resumes from it; a crash leaves its input in
# build-fuzz/findings/ and makes the run fail.
#   tests/fuzz/run.sh SECONDS [HARNESS...]     e.g. tests/fuzz/run.sh 25     tests/fuzz/run.sh 3600 gguf
# FUZZ_SEED fixes libFuzzer's random seed (CI sets it, so that its short run explores the same
# inputs each time); unset, every run draws a new one.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
seconds="${1:?usage: tests/fuzz/run.sh SECONDS [HARNESS...]}"
shift
build=build-fuzz
fixtures=tests/fixtures

# The seed files of each harness.
seeds() {
  case "$1" in
    config) ls "$fixtures"/configs/*.json "$fixtures"/configs/v5/*.json "$fixtures"/models/*/config.json ;;
    safetensors) ls "$fixtures"/models/*/model.safetensors ;;
    gguf) ls "$fixtures"/gguf/*.gguf tests/fuzz/seeds/gguf/*.gguf ;;
    tokenizer) ls tests/fuzz/seeds/tokenizer/*.json ;;
    examples) ls "$fixtures"/data/*.jsonl ;;
    jinja) ls "$fixtures"/chat_templates/* ;;
    *) ;;  # a harness without seeds starts from nothing
  esac
}

harnesses=("$@")
if [ ${#harnesses[@]} -eq 0 ]; then
  for exe in "$build"/tests/fuzz/*_fuzz; do harnesses+=("$(basename "$exe" _fuzz)"); done
fi
mkdir -p "$build/findings"
for name in "${harnesses[@]}"; do
  [ -x "$build/tests/fuzz/${name}_fuzz" ] || { echo "fuzz: no $build/tests/fuzz/${name}_fuzz; run 'make fuzz' first" >&2; exit 1; }
done

# One harness for SECONDS; its output goes to build-fuzz/<name>.log, its verdict to <name>.ok.
fuzz_one() {
  local name="$1" corpus="$build/corpus/$1" seed
  mkdir -p "$corpus"
  for seed in $(seeds "$name"); do cp "$seed" "$corpus/seed-$(tr / _ <<<"$seed")"; done
  rm -f "$build/$name.ok"
  # 2 GB is far above what any parser may take for the inputs; more is a finding.
  "$build/tests/fuzz/${name}_fuzz" -seed="${FUZZ_SEED:-0}" -max_total_time="$seconds" \
    -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 -max_len=1048576 -print_final_stats=1 \
    -artifact_prefix="$build/findings/$name-" "$corpus" >"$build/$name.log" 2>&1 \
    && touch "$build/$name.ok" || true
}

# Each harness is one single-threaded process: on CI's 2 cores two at a time halve the wall time
# and give each the same SECONDS of a core as one after another did.
jobs="${FUZZ_JOBS:-$(nproc)}"
status=0
for ((first = 0; first < ${#harnesses[@]}; first += jobs)); do
  batch=("${harnesses[@]:first:jobs}")
  for name in "${batch[@]}"; do fuzz_one "$name" & done
  wait
  for name in "${batch[@]}"; do
    echo "fuzz: $name for ${seconds}s"
    if [ -f "$build/$name.ok" ]; then
      grep -E "^(Done|stat::peak_rss_mb)" "$build/$name.log"
    else
      status=1
      grep -v -e "NEW " -e "REDUCE " -e "pulse " "$build/$name.log" | tail -n 40
    fi
  done
done
exit $status
