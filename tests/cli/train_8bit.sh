#!/usr/bin/env bash
# train_8bit.sh OUT TRAIN...: --optimizer adamw_8bit trains (the loss of the last of 3 steps is
# below the first's), its checkpoint holds the 8-bit state (U8 codes, an
# absmax a block, the optimizer named in the header), a resume with adamw_8bit continues, and
# one with another optimizer stops with one error naming both.
set -u
. "$(dirname "$0")/train_helpers.sh"
out=$1; shift
rm -rf "$out"
"$@" --out "$out" --optimizer adamw_8bit --iters 3 || fail "the 8-bit run failed"
loss() { sed -n "$1p" "$out/metrics.jsonl" | sed 's/.*"loss":\([0-9.e+-]*\).*/\1/'; }
first=$(loss 1) last=$(loss 3)
echo "loss: step 1 $first, step 3 $last"
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a) }' || fail "the loss did not fall"
state="$out/checkpoint-3/optimizer.safetensors"
header=$(head -c 65536 "$state" | tr -d '\0')
for want in '"exp_avg_codes.' '"dtype":"U8"' '"exp_avg_sq_absmax.' '"optimizer":"adamw_8bit"'; do
  case "$header" in *"$want"*) ;; *) fail "$state has no $want" ;; esac
done
"$@" --out "$out" --optimizer adamw_8bit --iters 4 --resume || fail "the 8-bit resume failed"
[ "$(wc -l <"$out/metrics.jsonl")" -eq 4 ] || fail "metrics.jsonl lacks step 4"
message=$("$@" --out "$out" --iters 5 --resume 2>&1 >/dev/null) && fail "a resume with adamw ran"
echo "$message"
[ "$(echo "$message" | wc -l)" -eq 1 ] || fail "not one error line"
case "$message" in
  *"optimizer state is adamw_8bit's, this run's optimizer is adamw; resume with --optimizer adamw_8bit"*) ;;
  *) fail "the error does not name both optimizers" ;;
esac
echo "8-bit ok"
