#!/usr/bin/env bash
# Runs the libFuzzer harnesses that `make fuzz` built into build-fuzz/, one after another, each
# for SECONDS, seeded from tests/fixtures and tests/fuzz/seeds. What each finds to be new stays in
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
status=0
for name in "${harnesses[@]}"; do
  exe="$build/tests/fuzz/${name}_fuzz"
  [ -x "$exe" ] || { echo "fuzz: no $exe; run 'make fuzz' first" >&2; exit 1; }
  corpus="$build/corpus/$name"
  mkdir -p "$corpus"
  for seed in $(seeds "$name"); do cp "$seed" "$corpus/seed-$(tr / _ <<<"$seed")"; done
  echo "fuzz: $name for ${seconds}s"
  # 2 GB is far above what any parser may take for the inputs; more is a finding.
  "$exe" -seed="${FUZZ_SEED:-0}" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 \
    -max_len=1048576 -print_final_stats=1 -artifact_prefix="$build/findings/$name-" \
    "$corpus" >"$build/$name.log" 2>&1 && ok=1 || ok=0
  if [ $ok = 1 ]; then
    grep -E "^(Done|stat::peak_rss_mb)" "$build/$name.log"
  else
    status=1
    grep -v -e "NEW " -e "REDUCE " -e "pulse " "$build/$name.log" | tail -n 40
  fi
done
exit $status
