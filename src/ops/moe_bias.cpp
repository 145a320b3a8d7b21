#include "ops/moe_bias.hpp"

#include "kernels/moe_push.h"
#include "ops/dispatch.hpp"
#include "ops/moe_common.hpp"

namespace vktrain::ops {
namespace {

// The push for y (or dy) [S, N] and bias (or dbias) [E, R] with its band, checked.
kernels::MoeBiasPush bias_push(const char* op, const Tensor& y, const Tensor& bias,
                               const Tensor& offsets, MoeWeightBand band,
                               std::vector<vk::ByteRange>& ranges) {
  require_float(op, y);
  moe::require_dtype(op, bias, DType::f32);
  if (y.shape.size() != 2 || bias.shape.size() != 2)
    fail("[{}] {} and {} must be [S, N] and [E, R]", op, y.describe(), bias.describe());
  uint64_t E = uint64_t(bias.shape[0]), R = uint64_t(bias.shape[1]), N = y.cols();
  uint64_t width = band.rows ? band.rows : R;
  if (width != N || band.first + N > R)
    fail("[{}] columns [{}, {}) of {} do not match {}", op, band.first, band.first + N,
         bias.describe(), y.describe());
  moe::require_dtype(op, offsets, DType::i32);
  moe::require_shape(op, offsets, {int64_t(E) + 1});
  moe::require_index_range(op, y.numel(), "y");
  moe::require_index_range(op, bias.numel(), "bias");
  auto yw = moe::whole(op, y), bw = moe::whole(op, bias), off = moe::whole(op, offsets);
  ranges = {yw.range, bw.range, off.range};
  return {yw.address,  bw.address + 4 * band.first,
          off.address, uint32_t(y.shape[0]),
          uint32_t(N), uint32_t(R),
          uint32_t(E), 0};
}

}  // namespace

void moe_bias_forward(vk::Recorder& rec, Tensor& y, const Tensor& bias, const Tensor& offsets,
                      MoeWeightBand band) {
  const char* op = "moe_bias_forward";
  auto& ctx = rec.context();
  std::vector<vk::ByteRange> r;
  auto push = bias_push(op, y, bias, offsets, band, r);
  require_loop_budget(ctx, op, 32, "the search over experts");
  rec.dispatch(op, pipeline(ctx, fmt::format("moe_bias_forward_{}", dtype_name(y.dtype))), &push,
               sizeof push, stride_groups(ctx, y.numel()), 1, 1, {r[0], r[1], r[2]}, {r[0]});
}

void moe_bias_backward(vk::Recorder& rec, Tensor& dbias, const Tensor& dy, const Tensor& offsets,
                       MoeWeightBand band, GradientStore store) {
  const char* op = "moe_bias_backward";
  auto& ctx = rec.context();
  std::vector<vk::ByteRange> r;
  auto push = bias_push(op, dy, dbias, offsets, band, r);
  push.accumulate = store == GradientStore::add;
  // One thread may own an expert that owns every row.
  require_loop_budget(ctx, op, uint64_t(dy.shape[0]) + 1, "the sum over one expert's rows");
  std::vector<vk::ByteRange> reads{r[0], r[2]};
  if (store == GradientStore::add) reads.push_back(r[1]);
  rec.dispatch(op, pipeline(ctx, fmt::format("moe_bias_backward_{}", dtype_name(dy.dtype))), &push,
               sizeof push, stride_groups(ctx, uint64_t(push.experts) * push.cols), 1, 1, reads,
               {r[1]});
}

}  // namespace vktrain::ops
