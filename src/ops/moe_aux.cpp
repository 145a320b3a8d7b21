#include "ops/moe_aux.hpp"

#include "kernels/moe_push.h"
#include "ops/dispatch.hpp"
#include "ops/moe_common.hpp"

namespace vktrain::ops {
namespace {

// E of stats [2, E + 1] f32, checked.
uint64_t check_stats(const char* op, const Tensor& stats) {
  moe::require_dtype(op, stats, DType::f32);
  if (stats.shape.size() != 2 || stats.shape[0] != 2 || stats.shape[1] < 2)
    fail("[{}] {} must be [2, E + 1]", op, stats.describe());
  return uint64_t(stats.shape[1]) - 1;
}

// T of logits-shaped [T, E] f32 `t`, and the mask's address (0: none), checked.
uint64_t check_tokens(const char* op, const Tensor& t, uint64_t experts, const Tensor* mask,
                      uint64_t& mask_address, std::vector<vk::ByteRange>& reads) {
  moe::require_dtype(op, t, DType::f32);
  if (t.shape.size() != 2 || uint64_t(t.shape[1]) != experts)
    fail("[{}] {} must be [T, {}]", op, t.describe(), experts);
  moe::require_index_range(op, t.numel(), t.name.c_str());
  uint64_t T = uint64_t(t.shape[0]);
  mask_address = 0;
  if (mask) {
    moe::require_dtype(op, *mask, DType::i32);
    moe::require_shape(op, *mask, {int64_t(T)});
    auto m = moe::whole(op, *mask);
    mask_address = m.address;
    reads.push_back(m.range);
  }
  return T;
}

}  // namespace

void moe_aux_statistics(vk::Recorder& rec, Tensor& stats, const Tensor& probs, const Tensor& ids,
                        const Tensor* token_mask, GradientStore store) {
  const char* op = "moe_aux_statistics";
  auto& ctx = rec.context();
  uint64_t E = check_stats(op, stats);
  std::vector<vk::ByteRange> reads;
  uint64_t mask = 0;
  uint64_t T = check_tokens(op, probs, E, token_mask, mask, reads);
  moe::require_dtype(op, ids, DType::i32);
  if (ids.shape.size() != 2 || uint64_t(ids.shape[0]) != T || ids.shape[1] < 1)
    fail("[{}] ids {} must be [{}, k]", op, ids.describe(), T);
  uint64_t k = uint64_t(ids.shape[1]);
  require_loop_budget(ctx, op, ceil_div(T, 256) * (k + 1), "one thread's share of the tokens");
  auto s = moe::whole(op, stats), p = moe::whole(op, probs), id = moe::whole(op, ids);
  reads.insert(reads.end(), {p.range, id.range});
  if (store == GradientStore::add) reads.push_back(s.range);
  kernels::MoeAuxPush push{s.address,   0,           0,           0,    p.address,
                           id.address,  mask,        0,           uint32_t(T),
                           uint32_t(E), uint32_t(k), 0.0f,        store == GradientStore::add};
  rec.dispatch(op, pipeline(ctx, "moe_aux", {0}), &push, sizeof push,
               moe::groups(ctx, op, E + 1, 1), 1, 1, reads, {s.range});
}

void moe_aux_loss(vk::Recorder& rec, Tensor& loss, const Tensor& stats, float coefficient,
                  const Tensor* divisor, GradientStore store) {
  const char* op = "moe_aux_loss";
  auto& ctx = rec.context();
  uint64_t E = check_stats(op, stats);
  moe::require_dtype(op, loss, DType::f32);
  moe::require_shape(op, loss, {1});
  require_loop_budget(ctx, op, ceil_div(E, 256) + 8, "the sum over experts");
  auto s = moe::whole(op, stats), l = moe::whole(op, loss);
  std::vector<vk::ByteRange> reads = {s.range};
  if (store == GradientStore::add) reads.push_back(l.range);
  uint64_t divisor_address = 0;
  if (divisor) {
    moe::require_dtype(op, *divisor, DType::f32);
    moe::require_shape(op, *divisor, {1});
    auto d = moe::whole(op, *divisor);
    divisor_address = d.address;
    reads.push_back(d.range);
  }
  kernels::MoeAuxPush push{s.address, l.address,       0, 0, 0, 0, 0,          divisor_address,
                           0,         uint32_t(E),     0, coefficient, store == GradientStore::add};
  rec.dispatch(op, pipeline(ctx, "moe_aux", {1}), &push, sizeof push, 1, 1, 1, reads, {l.range});
}

void moe_aux_loss_backward(vk::Recorder& rec, Tensor& dlogits, const Tensor& logits,
                           const Tensor& stats, float coefficient, const Tensor* token_mask,
                           GradientStore store) {
  const char* op = "moe_aux_loss_backward";
  auto& ctx = rec.context();
  uint64_t E = check_stats(op, stats);
  std::vector<vk::ByteRange> reads;
  uint64_t mask = 0;
  uint64_t T = check_tokens(op, logits, E, token_mask, mask, reads);
  moe::require_dtype(op, dlogits, DType::f32);
  moe::require_shape(op, dlogits, logits.shape);
  require_loop_budget(ctx, op, 3 * E, "one token's softmax over E experts");
  auto s = moe::whole(op, stats), z = moe::whole(op, logits), dz = moe::whole(op, dlogits);
  reads.insert(reads.end(), {s.range, z.range});
  if (store == GradientStore::add) reads.push_back(dz.range);
  kernels::MoeAuxPush push{s.address, 0,           z.address, dz.address,  0,
                           0,         mask,        0,         uint32_t(T), uint32_t(E),
                           0,         coefficient, store == GradientStore::add};
  rec.dispatch(op, pipeline(ctx, "moe_aux", {2}), &push, sizeof push, moe::groups(ctx, op, T, 256),
               1, 1, reads, {dz.range});
}

}  // namespace vktrain::ops
