#!/usr/bin/env bash
# Issue 6's GPU check, run from the repository root on the GPU machine (it has torch,
# transformers and peft): VKTRAIN=path/to/vktrain tests/gpu/check_with_transformers.sh [WORK]
# Makes a tiny Qwen3 with the real tokenizer, trains a LoRA adapter with vktrain, and compares
# vktrain's evaluation loss and greedy text with transformers + peft on that adapter.
set -euo pipefail
vktrain=${VKTRAIN:-build/vktrain}
work=${1:-/tmp/vktrain-check}
data=tests/fixtures/data
rm -rf "$work" && mkdir -p "$work"
"$vktrain" init --family qwen3 --size tiny --out "$work/model" --dtype f32 --seed 1 \
  --tokenizer .downloads/tokenizers/qwen3
"$vktrain" train --model "$work/model" --data "$data/train_chat.jsonl" --out "$work/run" \
  --iters 30 --batch 4 --seq-len 128 --lr 3e-3 --dtype f32 --lora-rank 8 --lora-alpha 16
loss=$("$vktrain" eval --model "$work/model" --adapter "$work/run" --data "$data/train_text.jsonl" \
  --dtype f32 --batch 1 --seq-len 64 --no-packing | sed -n 's/.* loss \([0-9.]*\),.*/\1/p')
prompt="The number 3"
"$vktrain" generate --model "$work/model" --adapter "$work/run" --prompt "$prompt" \
  --max-tokens 12 --temp 0 --dtype f32 > "$work/ours.txt"
python3 tests/gpu/check_with_transformers.py "$work/model" "$work/run" "$data/train_text.jsonl" \
  "$prompt" "$loss" "$work/ours.txt"
