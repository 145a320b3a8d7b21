#include "ops/embedding.hpp"

#include <algorithm>
#include <numeric>

#include "kernels/embedding_push.h"
#include "ops/dispatch.hpp"

namespace vktrain::ops {
namespace {

constexpr uint64_t kMaxGroups = 65535;  // token workgroups per dispatch (grid-stride beyond)

// Checks what forward and backward share: float rows of C columns, one per i32 id; returns the
// number of tokens.
uint64_t check(const char* op, const Tensor& rows, const Tensor& ids, const Tensor& table) {
  if (table.shape.size() != 2 || table.rows() == 0 || table.cols() == 0 ||
      table.rows() > uint64_t(INT32_MAX))
    fail("[{}] the table must be [V, C] with 0 < V < 2^31: {}", op, table.describe());
  require_float(op, rows);
  if (ids.dtype != DType::i32) fail("[{}] ids must be i32: {}", op, ids.describe());
  if (rows.cols() != table.cols() || rows.rows() != ids.numel())
    fail("[{}] {} must have one row of {} columns per id of {}", op, rows.describe(),
         table.cols(), ids.describe());
  if (ids.numel() > uint64_t(INT32_MAX)) fail("[{}] too many ids: {}", op, ids.describe());
  return ids.numel();
}

}  // namespace

void embedding_forward(vk::Recorder& rec, Tensor& out, const Tensor& ids, const Tensor& table,
                       float scale) {
  const char* op = "embedding_forward";
  uint64_t tokens = check(op, out, ids, table), cols = table.cols();
  // A block-quantized table decodes into rows of any float type; a float table's rows keep its type.
  if (!dtype_is_block(table.dtype)) require_same_dtype(op, out, table);
  auto& ctx = rec.context();
  std::string kernel = dtype_is_block(table.dtype)
                           ? fmt::format("embedding_forward_{}_{}", dtype_name(table.dtype),
                                         dtype_name(out.dtype))
                           : fmt::format("embedding_forward_{}", dtype_name(out.dtype));
  VkPipeline p = pipeline(ctx, kernel);
  uint64_t max_groups = std::min<uint64_t>(kMaxGroups, ctx.caps().max_workgroup_count[0]);
  // Each piece of tokens (out and ids contiguous) once per span of the table.
  for_each_rows(tokens, kMaxDispatchElements / cols, {{&out, cols}, {&ids, 1}},
                [&](uint64_t, uint64_t n, const std::vector<Location>& at) {
    for_each_rows(table.rows(), kMaxDispatchElements / cols, {{&table, cols}},
                  [&](uint64_t v0, uint64_t v_rows, const std::vector<Location>& src) {
      kernels::EmbeddingForwardPush push{at[0].address(), src[0].address(), at[1].address(),
                                         uint32_t(n), uint32_t(cols), uint32_t(table.rows()),
                                         uint32_t(v0), uint32_t(v_rows),
                                         round_to(out.dtype, scale)};
      rec.dispatch(op, p, &push, sizeof push, uint32_t(std::min(n, max_groups)), 1, 1,
                   {piece_range(ids, at[1], n), piece_range(table, src[0], v_rows * cols)},
                   {piece_range(out, at[0], n * cols)});
    });
  });
}

std::vector<int32_t> embedding_token_order(std::span<const int32_t> ids, uint64_t vocab) {
  for (size_t t = 0; t < ids.size(); ++t)
    if (ids[t] < 0 || uint64_t(ids[t]) >= vocab)
      fail("[embedding] token {} has id {}, outside the vocabulary of {}", t, ids[t], vocab);
  std::vector<int32_t> order(ids.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return ids[a] < ids[b]; });
  return order;
}

void embedding_backward(vk::Recorder& rec, Tensor& dtable, const Tensor& dout, const Tensor& ids,
                        const Tensor& order, float scale) {
  const char* op = "embedding_backward";
  uint64_t tokens = check(op, dout, ids, dtable), cols = dtable.cols();
  if (dtable.dtype != DType::f32) fail("[{}] the table gradient must be f32: {}", op, dtable.describe());
  if (order.dtype != DType::i32 || order.numel() != tokens)
    fail("[{}] {} must be i32 with one index per id of {}", op, order.describe(), ids.describe());
  for (const Tensor* t : {&ids, &order})
    if (tokens && locate(*t, 0).contiguous < tokens)
      fail("[{}] {} must lie in one allocation", op, t->describe());
  if (tokens == 0) return;
  auto& ctx = rec.context();
  VkPipeline p = pipeline(ctx, fmt::format("embedding_backward_{}", dtype_name(dout.dtype)));
  Location at_ids = locate(ids, 0), at_order = locate(order, 0);
  uint32_t groups = uint32_t(std::min<uint64_t>({tokens, kMaxGroups, ctx.caps().max_workgroup_count[0]}));
  // A workgroup walks its share of positions and, at a run's start, the whole run once per step
  // of its threads over the columns; a run can hold every token.
  require_loop_budget(ctx, op, ceil_div(tokens, groups) + (tokens + 1) * ceil_div(cols, 256),
                      fmt::format("the gradient of {} tokens of {} channels", tokens, cols));
  // Each piece of dout once per span of dtable; a run's pieces add in order, so the sum's
  // order depends only on the layout, never on timing.
  for_each_rows(tokens, kMaxDispatchElements / cols, {{&dout, cols}},
                [&](uint64_t t0, uint64_t n, const std::vector<Location>& src) {
    for_each_rows(dtable.rows(), kMaxDispatchElements / cols, {{&dtable, cols}},
                  [&](uint64_t v0, uint64_t v_rows, const std::vector<Location>& dst) {
      kernels::EmbeddingBackwardPush push{dst[0].address(), src[0].address(), at_ids.address(),
                                          at_order.address(), uint32_t(tokens), uint32_t(cols),
                                          uint32_t(dtable.rows()), uint32_t(v0), uint32_t(v_rows),
                                          uint32_t(t0), uint32_t(n), round_to(dout.dtype, scale)};
      auto table_rows = piece_range(dtable, dst[0], v_rows * cols);
      rec.dispatch(op, p, &push, sizeof push, groups, 1, 1,
                   {piece_range(ids, at_ids, tokens), piece_range(order, at_order, tokens),
                    piece_range(dout, src[0], n * cols), table_rows},
                   {table_rows});
    });
  });
}

}  // namespace vktrain::ops
