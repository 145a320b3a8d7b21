#!/usr/bin/env bash
# run_stale_temps.sh OUT TRAIN...: the temporaries a killed run leaves (a half-written
# checkpoint-N.tmp-<pid>/, a metrics.jsonl.tmp, a cache file's .tmp) are removed when the next
# run takes the directory; files vktrain did not write stay.
set -u
. "$(dirname "$0")/train_helpers.sh"
out=$1; shift
rm -rf "$out"
mkdir -p "$(dirname "$out")"
"$@" --out "$out" --iters 1 >/dev/null || fail "the first run failed"
mkdir "$out/checkpoint-3.tmp-4194000"
touch "$out/checkpoint-3.tmp-4194000/optimizer.safetensors" "$out/metrics.jsonl.tmp" \
  "$out/adapter_model.safetensors.tmp" "$out/data-cache/dataset-0123456789abcdef.bin.tmp"
echo "the user's" >"$out/notes.tmp"
"$@" --out "$out" --iters 2 --resume >/dev/null || fail "--resume failed"
left=$(cd "$out" && find . -name '*.tmp*' | sort | tr '\n' ' ')
[ "$left" = "./notes.tmp " ] || fail "temporaries left: $left"
