#include "ops/moe_aux.hpp"

#include "kernels/moe_push.h"
#include "ops/column_sum.hpp"
#include "ops/dispatch.hpp"
#include "ops/moe_common.hpp"

namespace vktrain::ops {
namespace {

// E of stats [2, E] f32, checked.
uint64_t check_stats(const char* op, const Tensor& stats) {
  moe::require_dtype(op, stats, DType::f32);
  if (stats.shape.size() != 2 || stats.shape[0] != 2 || stats.shape[1] < 1)
    fail("[{}] {} must be [2, E]", op, stats.describe());
  return uint64_t(stats.shape[1]);
}

// coef * E / N^2: the loss is scale * sum_e c_e P_e.
float loss_scale(const char* op, uint64_t experts, uint64_t rows, float coefficient) {
  if (rows == 0) fail("[{}] the loss needs at least one row of router logits", op);
  return float(double(coefficient) * double(experts) / (double(rows) * double(rows)));
}

}  // namespace

void moe_aux_statistics(vk::Recorder& rec, Tensor& stats, const Tensor& probs,
                        const Tensor& offsets, GradientStore store) {
  const char* op = "moe_aux_statistics";
  auto& ctx = rec.context();
  uint64_t E = check_stats(op, stats);
  moe::require_dtype(op, probs, DType::f32);
  if (probs.shape.size() != 2 || uint64_t(probs.shape[1]) != E)
    fail("[{}] probs {} must be [T, {}]", op, probs.describe(), E);
  moe::require_dtype(op, offsets, DType::i32);
  moe::require_shape(op, offsets, {int64_t(E) + 1});
  auto s = moe::whole(op, stats), off = moe::whole(op, offsets);
  kernels::MoeAuxPush push{
      s.address, off.address, 0, 0, 0, 0, uint32_t(E), 0.0f, store == GradientStore::add};
  std::vector<vk::ByteRange> reads{off.range};
  if (store == GradientStore::add) reads.push_back(s.range);
  rec.dispatch("moe_aux_selections", pipeline(ctx, "moe_aux", {0}), &push, sizeof push,
               moe::groups(ctx, op, E, 256), 1, 1, reads, {s.range});
  Tensor prob_sums = view(stats, E, {int64_t(E)}, "stats[1]");
  column_sum(rec, prob_sums, probs, store == GradientStore::add);
}

void moe_aux_loss(vk::Recorder& rec, Tensor& loss, const Tensor& stats, uint64_t rows,
                  float coefficient) {
  const char* op = "moe_aux_loss";
  auto& ctx = rec.context();
  uint64_t E = check_stats(op, stats);
  moe::require_dtype(op, loss, DType::f32);
  moe::require_shape(op, loss, {1});
  require_loop_budget(ctx, op, ceil_div(E, 256) + 8, "the sum over experts");
  auto s = moe::whole(op, stats), l = moe::whole(op, loss);
  kernels::MoeAuxPush push{
      s.address, 0, l.address, 0, 0, 0, uint32_t(E), loss_scale(op, E, rows, coefficient), 0};
  rec.dispatch(op, pipeline(ctx, "moe_aux", {1}), &push, sizeof push, 1, 1, 1, {s.range},
               {l.range});
}

void moe_aux_loss_backward(vk::Recorder& rec, Tensor& dlogits, const Tensor& logits,
                           const Tensor& stats, uint64_t rows, float coefficient,
                           GradientStore store) {
  const char* op = "moe_aux_loss_backward";
  auto& ctx = rec.context();
  uint64_t E = check_stats(op, stats);
  moe::require_dtype(op, logits, DType::f32);
  if (logits.shape.size() != 2 || uint64_t(logits.shape[1]) != E)
    fail("[{}] logits {} must be [T, {}]", op, logits.describe(), E);
  moe::require_dtype(op, dlogits, DType::f32);
  moe::require_shape(op, dlogits, logits.shape);
  moe::require_index_range(op, logits.numel(), "logits");
  require_loop_budget(ctx, op, 4 * E, "one token's softmax over E experts");
  auto s = moe::whole(op, stats), z = moe::whole(op, logits), dz = moe::whole(op, dlogits);
  uint64_t T = uint64_t(logits.shape[0]);
  kernels::MoeAuxPush push{s.address,
                           0,
                           0,
                           z.address,
                           dz.address,
                           uint32_t(T),
                           uint32_t(E),
                           loss_scale(op, E, rows, coefficient),
                           store == GradientStore::add};
  std::vector<vk::ByteRange> reads{s.range, z.range};
  if (store == GradientStore::add) reads.push_back(dz.range);
  rec.dispatch(op, pipeline(ctx, "moe_aux", {2}), &push, sizeof push, moe::groups(ctx, op, T, 256),
               1, 1, reads, {dz.range});
}

}  // namespace vktrain::ops
