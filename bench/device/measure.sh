#!/bin/bash
# The GPU measurements that bench/RESULTS.md records, as one script, so a session with a GPU
# machine spends its device minutes measuring rather than typing. Run on the device from the repo
# root, with the archive of bench/device/pack.sh, the Qwen3 tokenizer and the Vulkan loader
# carried (.dev, .downloads/tokenizers/qwen3, .gl), one call per group of sections on a warm
# machine:
#   bench/device/measure.sh SECTION...
# Sections (each prints the command before its output; logs also go to $OUT when set):
#   kernels    coopmat2 and KHR kernels' tests, grouped expert matmul against its dense twin,
#              attention at 1 x 16384 beside PyTorch's SDPA                        (issues 16, 18)
#   qlora8b    Qwen3-8B LoRA steps on a bf16, Q8_0 and Q4_K_M base                  (issue 15)
#   qlora70b   Llama-70B on a Q4_K base with 8-bit AdamW: peak and plan; Qwen3-1.7B Q8_0 (issue 15)
#   moe        Qwen3-30B-A3B LoRA (attention + experts) against PyTorch + PEFT      (issue 16)
#   ranks      mpirun -np 2 on one GPU: LoRA 1.7B and full 0.6B with the sharded optimizer (17)
#   llama      llama.cpp's Vulkan MUL_MAT (test-backend-ops perf, built by llama_tbo.sh) at
#              m 4096, n 512, k 14336, coopmat2 on and off, beside bench_matmul's product of
#              that shape on each path                                             (issue 18)
#   suite      every packed gtest program (pack with TESTS=all) three times: as the device is,
#              without coopmat2, without any cooperative matrix (issue 18); the CLI tests,
#              which ctest drives through cmake scripts, are not among them
# MOE_BATCH / MOE_SEQ set the MoE step's shape (default 4 x 1024, recompute on both sides).
set -uo pipefail
root=/opt/vktrain
out=${OUT:-/tmp/measure}
mkdir -p "$out"

setup() {
  export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
  [ -x $root/bin/vktrain ] && return
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  mkdir -p $root && xz -dc .dev/bundle.tar.xz | tar -C $root -xf -
  # Only the libraries the image lacks: its own (newer) ones stay in charge.
  for lib in $root/lib/*; do
    ldconfig -p | grep -q "/$(basename "$lib")\$" || cp "$lib" /usr/local/lib/
  done
  ldconfig
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
}

# Runs one command, printing it first, and keeps its output in $out/<section>.log.
step() {
  echo "+ $*" | tee -a "$out/$section.log"
  "$@" 2>&1 | tee -a "$out/$section.log"
}

bin=$root/bin
train_step() { step $bin/bench_train_step "$@"; }

kernels() {
  step $root/tests/test_ops --gtest_filter='*oopmat*' --gtest_brief=1
  step $root/tests/test_model --gtest_filter='*Moe*:*oopmat*' --gtest_brief=1
  step $bin/bench_moe --dtype bf16 --variants coopmat coopmat2
  for variant in coopmat coopmat2; do
    step $bin/bench_attention --seq 16384 --tokens 16384 --dtype bf16 --variant $variant
  done
  step python3 bench/reference/kernels.py --attention 16384
}

qlora8b() {
  for base in "" "--quantize q8_0" "--quantize q4_k"; do
    train_step --family qwen3 --size 8B --dtype bf16 --batch 4 --seq 1024 --recompute --steps 3 $base
  done
}

qlora70b() {
  step $bin/vktrain plan --family llama --size 70B --quantize q4_k_pure --batch 1 --seq-len 2048 \
    --grad-checkpoint on --optimizer adamw_8bit
  train_step --family llama --size 70B --dtype bf16 --batch 1 --seq 2048 --recompute \
    --quantize q4_k_pure --optimizer adamw_8bit --steps 2
  for base in "" "--quantize q8_0"; do
    train_step --family qwen3 --size 1.7B --dtype bf16 --batch 8 --seq 512 --steps 10 $base
  done
}

moe() {
  local b=${MOE_BATCH:-4} t=${MOE_SEQ:-1024}
  train_step --family qwen3_moe --size 30B-A3B --dtype bf16 --batch "$b" --seq "$t" --recompute \
    --targets q,k,v,o,experts --steps 3
  step python3 bench/reference/train_step.py --model qwen3-30b-a3b --targets q,k,v,o,experts \
    --batch "$b" --seq "$t" --checkpointing --steps 3
}

ranks() {
  local data=/tmp/ranks.txt run
  for i in $(seq 200); do cat README.md; done > $data
  for size in 1.7B 0.6B; do
    [ -d /tmp/qwen3-$size ] || step $bin/vktrain init --family qwen3 --size $size \
      --tokenizer "$(dirname "$(find .downloads/tokenizers/qwen3 -name tokenizer.json | head -1)")" \
      --out /tmp/qwen3-$size
  done
  local lora=(train --model /tmp/qwen3-1.7B --data $data --batch 8 --seq-len 512 --dtype bf16 --iters 12)
  local full=(train --model /tmp/qwen3-0.6B --data $data --batch 8 --seq-len 512 --dtype bf16 --iters 12 --full)
  local mpi=(mpirun -np 2 --allow-run-as-root --oversubscribe)
  for run in "lora1:${lora[*]}" "lora2:${mpi[*]} $bin/vktrain ${lora[*]}" \
             "full1:${full[*]}" "full2:${mpi[*]} $bin/vktrain ${full[*]} --shard-optimizer"; do
    local name=${run%%:*} cmd=${run#*:}
    [[ $cmd == train* ]] && cmd="$bin/vktrain $cmd"
    rm -rf /tmp/run-$name
    step $cmd --out /tmp/run-$name
    cp /tmp/run-$name/metrics.jsonl "$out/$name.metrics.jsonl" 2>/dev/null
  done
  step $bin/vktrain plan --family qwen3 --size 0.6B --full --batch 8 --seq-len 512 --dtype bf16 \
    --ranks 2 --shard-optimizer --link-gbps 100
}

llama() {
  [ -x /tmp/test-backend-ops ] || xz -dc .dev/llama_tbo.xz > /tmp/test-backend-ops
  chmod +x /tmp/test-backend-ops
  for disable in 0 1; do
    step env GGML_VK_DISABLE_COOPMAT2=$disable /tmp/test-backend-ops perf -o MUL_MAT -b Vulkan0 \
      -p 'type_a=(f16|bf16|q8_0|q4_K|q6_K),type_b=f32,m=4096,n=512,k=14336,'
  done
  for disable in "" coopmat2; do
    for b in q8_0 q4_k q6_k; do  # each run also times the f16 products
      step env VKTRAIN_DISABLE=$disable $bin/bench_matmul --sizes 4096 --no-odd \
        --shapes 512x4096x14336:NT --b-type $b
    done
  done
}

suite() {
  # The programs read fixtures at the path this machine's build compiled in.
  [ -e /work/main/tests ] || { mkdir -p /work && ln -sfn "$PWD" /work/main; }
  for disable in "" coopmat2 coopmat2,coopmat; do
    for t in $root/tests/test_*; do
      step env VKTRAIN_DISABLE=$disable "$t" --gtest_brief=1
    done
  done
}

[ $# -gt 0 ] || { sed -n '2,23p' "$0"; exit 2; }
setup
for section in "$@"; do
  declare -F "$section" > /dev/null || { echo "measure: no section '$section'" >&2; exit 2; }
  "$section"
done
