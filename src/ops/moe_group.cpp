#include "ops/moe_group.hpp"

#include "kernels/moe_push.h"
#include "ops/dispatch.hpp"
#include "ops/moe_common.hpp"

namespace vktrain::ops {
namespace {

constexpr uint64_t kBlock = 256;  // moe_group.comp's slots per block

uint64_t blocks_of(uint64_t slots) { return ceil_div(slots, kBlock); }

// T and k of positions [T, k] (or ids), checked as i32.
std::pair<uint64_t, uint64_t> slots_shape(const char* op, const Tensor& t) {
  moe::require_dtype(op, t, DType::i32);
  if (t.shape.size() != 2 || t.shape[1] < 1)
    fail("[{}] {} must be [T, k] with k >= 1", op, t.describe());
  return {uint64_t(t.shape[0]), uint64_t(t.shape[1])};
}

void check_offsets(const char* op, const Tensor& offsets, uint64_t experts) {
  moe::require_dtype(op, offsets, DType::i32);
  if (offsets.shape.size() != 1 || offsets.shape[0] < 2 ||
      uint64_t(offsets.shape[0]) - 1 > kMoeMaxExperts ||
      (experts && uint64_t(offsets.shape[0]) != experts + 1))
    fail("[{}] {} must be [E + 1] with 1 <= E <= {}", op, offsets.describe(), kMoeMaxExperts);
}

}  // namespace

uint64_t moe_group_scratch_elements(uint64_t slots, uint64_t experts) {
  return blocks_of(slots) * (experts + 1);
}

void moe_group(vk::Recorder& rec, Tensor& offsets, Tensor& rows, Tensor& positions, Tensor& scratch,
               const Tensor& ids, uint32_t experts) {
  const char* op = "moe_group";
  auto& ctx = rec.context();
  auto [tokens, k] = slots_shape(op, ids);
  uint64_t slots = tokens * k;
  if (experts < 1 || experts > kMoeMaxExperts)
    fail("[{}] {} experts: this op groups 1 to {}", op, experts, kMoeMaxExperts);
  check_offsets(op, offsets, experts);
  moe::require_dtype(op, rows, DType::i32);
  moe::require_shape(op, rows, {int64_t(slots)});
  moe::require_dtype(op, positions, DType::i32);
  moe::require_shape(op, positions, ids.shape);
  moe::require_dtype(op, scratch, DType::i32);
  uint64_t blocks = blocks_of(slots);
  if (scratch.numel() < moe_group_scratch_elements(slots, experts))
    fail("[{}] scratch {} holds fewer than the {} elements it needs", op, scratch.describe(),
         moe_group_scratch_elements(slots, experts));
  moe::require_index_range(op, moe_group_scratch_elements(slots, experts), "the block counts");
  require_loop_budget(ctx, op, ceil_div(experts + 1, kBlock) * blocks + experts + 1,
                      "the scan over blocks of 256 slots");
  auto in = moe::whole(op, ids), off = moe::whole(op, offsets), row = moe::whole(op, rows),
       pos = moe::whole(op, positions), counts = moe::whole(op, scratch);
  kernels::MoeGroupPush push{in.address,  counts.address,  off.address, row.address,
                             pos.address, uint32_t(slots), experts,     uint32_t(blocks)};
  uint32_t groups = moe::groups(ctx, op, slots, kBlock);
  rec.dispatch("moe_group_count", pipeline(ctx, "moe_group", {0}), &push, sizeof push, groups, 1, 1,
               {in.range}, {counts.range});
  rec.dispatch("moe_group_scan", pipeline(ctx, "moe_group", {1}), &push, sizeof push, 1, 1, 1,
               {counts.range}, {counts.range, off.range});
  rec.dispatch("moe_group_place", pipeline(ctx, "moe_group", {2}), &push, sizeof push, groups, 1, 1,
               {in.range, counts.range, off.range}, {row.range, pos.range});
}

void moe_gather(vk::Recorder& rec, Tensor& xe, const Tensor& x, const Tensor& rows,
                const Tensor* weights) {
  const char* op = "moe_gather";
  auto& ctx = rec.context();
  require_float(op, x);
  require_same_dtype(op, xe, x);
  moe::require_dtype(op, rows, DType::i32);
  if (x.shape.size() != 2 || rows.shape.size() != 1 || x.shape[0] < 1 ||
      rows.shape[0] % x.shape[0] != 0)
    fail("[{}] x {} and rows {} must be [T, C] and [T * k]", op, x.describe(), rows.describe());
  uint64_t slots = uint64_t(rows.shape[0]), cols = x.cols(), k = slots / uint64_t(x.shape[0]);
  moe::require_shape(op, xe, {int64_t(slots), int64_t(cols)});
  moe::require_index_range(op, xe.numel(), "xe");
  auto src = moe::whole(op, x), dst = moe::whole(op, xe), row = moe::whole(op, rows);
  std::vector<vk::ByteRange> reads{src.range, row.range};
  uint64_t weights_address = 0;
  if (weights) {
    moe::require_dtype(op, *weights, DType::f32);
    moe::require_shape(op, *weights, {x.shape[0], int64_t(k)});
    auto w = moe::whole(op, *weights);
    weights_address = w.address;
    reads.push_back(w.range);
  }
  kernels::MoeGatherPush push{src.address,     dst.address, row.address,   weights_address,
                              uint32_t(slots), uint32_t(k), uint32_t(cols)};
  rec.dispatch(op, pipeline(ctx, fmt::format("moe_gather_{}", dtype_name(x.dtype))), &push,
               sizeof push, stride_groups(ctx, xe.numel()), 1, 1, reads, {dst.range});
}

namespace {

// moe_combine and its weight gradient: `out` is y (combine) or dy (weight gradient).
kernels::MoeCombinePush combine_push(const char* op, const Tensor& out, const Tensor& ye,
                                     const Tensor& positions, const Tensor& offsets,
                                     std::vector<vk::ByteRange>& reads) {
  auto [tokens, k] = slots_shape(op, positions);
  check_offsets(op, offsets, 0);
  require_float(op, ye);
  require_same_dtype(op, out, ye);
  uint64_t cols = ye.cols();
  moe::require_shape(op, ye, {int64_t(tokens * k), int64_t(cols)});
  moe::require_shape(op, out, {int64_t(tokens), int64_t(cols)});
  moe::require_index_range(op, ye.numel(), "ye");
  auto src = moe::whole(op, ye), pos = moe::whole(op, positions), off = moe::whole(op, offsets);
  reads.insert(reads.end(), {src.range, pos.range, off.range});
  return {src.address,
          moe::whole(op, out).address,
          pos.address,
          0,
          off.address,
          0,
          uint32_t(tokens),
          uint32_t(k),
          uint32_t(cols),
          uint32_t(offsets.shape[0] - 1),
          0};
}

}  // namespace

void moe_combine(vk::Recorder& rec, Tensor& y, const Tensor& ye, const Tensor& positions,
                 const Tensor& offsets, const Tensor* weights, GradientStore store) {
  const char* op = "moe_combine";
  auto& ctx = rec.context();
  std::vector<vk::ByteRange> reads;
  auto push = combine_push(op, y, ye, positions, offsets, reads);
  auto dst = moe::whole(op, y);
  if (weights) {
    moe::require_dtype(op, *weights, DType::f32);
    moe::require_shape(op, *weights, positions.shape);
    auto w = moe::whole(op, *weights);
    push.weights = w.address;
    reads.push_back(w.range);
  }
  push.accumulate = store == GradientStore::add;
  if (store == GradientStore::add) reads.push_back(dst.range);
  rec.dispatch(op, pipeline(ctx, fmt::format("moe_combine_{}", dtype_name(ye.dtype))), &push,
               sizeof push, stride_groups(ctx, y.numel()), 1, 1, reads, {dst.range});
}

void moe_combine_backward_weights(vk::Recorder& rec, Tensor& dweights, const Tensor& dy,
                                  const Tensor& ye, const Tensor& positions, const Tensor& offsets,
                                  GradientStore store) {
  const char* op = "moe_combine_backward_weights";
  auto& ctx = rec.context();
  std::vector<vk::ByteRange> reads;
  auto push = combine_push(op, dy, ye, positions, offsets, reads);
  moe::require_dtype(op, dweights, DType::f32);
  moe::require_shape(op, dweights, positions.shape);
  auto dw = moe::whole(op, dweights);
  reads.push_back(moe::whole(op, dy).range);
  push.dweights = dw.address;
  push.accumulate = store == GradientStore::add;
  if (store == GradientStore::add) reads.push_back(dw.range);
  uint32_t groups =
      uint32_t(std::min<uint64_t>(dweights.numel(), ctx.caps().max_workgroup_count[0]));
  rec.dispatch(op, pipeline(ctx, fmt::format("moe_combine_weights_{}", dtype_name(ye.dtype))),
               &push, sizeof push, groups, 1, 1, reads, {dw.range});
}

}  // namespace vktrain::ops
