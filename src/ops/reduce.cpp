#include "ops/reduce.hpp"

#include "kernels/push.h"
#include "ops/dispatch.hpp"

namespace vktrain::ops {
namespace {

constexpr uint32_t kMaxGroups = 1024;  // partial sums per piece

void reduce(vk::Recorder& rec, const char* op, bool square, Tensor& out, const Tensor& in) {
  if (out.dtype != DType::f32 || out.numel() != 1)
    fail("[{}] the result must be one f32 element, got {}", op, out.describe());
  auto& ctx = rec.context();
  std::vector<std::pair<Piece, uint32_t>> pieces;  // piece, workgroups
  uint64_t total_groups = 0;
  for_each_piece(in.numel(), {&in}, [&](const Piece& piece) {
    uint32_t groups = stride_groups(ctx, piece.count, kMaxGroups);
    pieces.emplace_back(piece, groups);
    total_groups += groups;
  });
  Tensor partials;
  partials.dtype = DType::f32;
  partials.shape = {int64_t(std::max<uint64_t>(total_groups, 1))};
  partials.name = std::string(op) + " partial sums";
  partials.memory = ctx.allocator.allocate(partials.bytes(), vk::MemoryKind::device,
                                           partials.describe(), partials.bytes());
  const vk::Span& span = partials.memory.spans().front();
  VkPipeline first = pipeline(ctx, fmt::format("reduce_{}", dtype_name(in.dtype)), {square});
  uint64_t at = 0;
  for (const auto& [piece, groups] : pieces) {
    kernels::ReducePush push{piece.at[0].address(), span.address + at * 4, uint32_t(piece.count)};
    rec.dispatch(op, first, &push, sizeof push, groups, 1, 1,
                 {piece_range(in, piece.at[0], piece.count)}, {vk::range_of(span, at * 4, groups * 4)});
    at += groups;
  }
  if (pieces.empty()) {  // an empty tensor sums to zero
    kernels::FillPush push{span.address, 1, 0};
    rec.dispatch(op, pipeline(ctx, "fill_u32"), &push, sizeof push, 1, 1, 1, {},
                 {vk::range_of(span, 0, 4)});
    total_groups = 1;
  }
  Location result = locate(out, 0);
  kernels::ReducePush push{span.address, result.address(), uint32_t(total_groups)};
  rec.dispatch(op, pipeline(ctx, "reduce_f32", {0}), &push, sizeof push, 1, 1, 1,
               {vk::range_of(span, 0, total_groups * 4)}, {piece_range(out, result, 1)});
  rec.keep(std::move(partials.memory));
}

}  // namespace

void sum(vk::Recorder& rec, Tensor& out, const Tensor& in) { reduce(rec, "sum", false, out, in); }

void sum_squares(vk::Recorder& rec, Tensor& out, const Tensor& in) {
  reduce(rec, "sum_squares", true, out, in);
}

}  // namespace vktrain::ops
