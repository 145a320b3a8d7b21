#include "ops/column_sum.hpp"

#include "kernels/column_sum_push.h"
#include "ops/dispatch.hpp"
#include "ops/elementwise.hpp"

namespace vktrain::ops {
namespace {

constexpr uint64_t kRowsPerChunk = 64;  // rows one thread sums before the second level

uint32_t column_groups(uint64_t cols) { return uint32_t((cols + kGroupSize - 1) / kGroupSize); }

}  // namespace

void column_sum(vk::Recorder& rec, Tensor& out, const Tensor& in, bool accumulate) {
  uint64_t rows = in.rows(), cols = in.cols();
  if (out.dtype != DType::f32 || out.numel() != cols)
    fail("[column_sum] the result must be f32 with {} elements (the columns of {}), got {}", cols,
         in.describe(), out.describe());
  if (cols >= (1ull << 32) || cols > uint64_t(kGroupSize) * rec.context().caps().max_workgroup_count[0])
    fail("[column_sum] {} has too many columns for one dispatch", in.describe());
  auto& ctx = rec.context();
  // Rows are cut where a span ends; each piece of rows gets its own chunks of partial sums.
  struct Piece {
    Location at;
    uint64_t rows, first_chunk;
  };
  std::vector<Piece> pieces;
  uint64_t chunks = 0;
  uint32_t max_chunks = ctx.caps().max_workgroup_count[1];
  for (uint64_t r = 0; r < rows;) {
    Location at = locate(in, r * cols);
    uint64_t n = std::min({rows - r, at.contiguous / cols, uint64_t(max_chunks) * kRowsPerChunk});
    pieces.push_back({at, n, chunks});
    chunks += (n + kRowsPerChunk - 1) / kRowsPerChunk;
    r += n;
  }
  Location result = locate(out, 0);
  if (chunks == 0) {  // no rows: the sums are zero
    if (!accumulate) fill(rec, out, 0.0f);
    return;
  }
  Tensor partials = make_tensor(ctx, DType::f32, {int64_t(chunks), int64_t(cols)},
                                "column_sum partials");
  const vk::Span& span = partials.memory.spans().front();
  VkPipeline first = pipeline(ctx, fmt::format("column_sum_{}", dtype_name(in.dtype)));
  for (const Piece& p : pieces) {
    uint32_t n_chunks = uint32_t((p.rows + kRowsPerChunk - 1) / kRowsPerChunk);
    kernels::ColumnSumPush push{p.at.address(), span.address + p.first_chunk * cols * 4,
                                uint32_t(p.rows), uint32_t(cols), uint32_t(kRowsPerChunk), 0};
    rec.dispatch("column_sum", first, &push, sizeof push, column_groups(cols), n_chunks, 1,
                 {piece_range(in, p.at, p.rows * cols)},
                 {vk::range_of(span, p.first_chunk * cols * 4, n_chunks * cols * 4)});
  }
  kernels::ColumnSumPush push{span.address, result.address(), uint32_t(chunks), uint32_t(cols),
                              uint32_t(chunks), accumulate};
  std::vector<vk::ByteRange> reads = {vk::range_of(span, 0, chunks * cols * 4)};
  if (accumulate) reads.push_back(piece_range(out, result, cols));
  rec.dispatch("column_sum", pipeline(ctx, "column_sum_f32"), &push, sizeof push,
               column_groups(cols), 1, 1, reads, {piece_range(out, result, cols)});
  rec.keep(std::move(partials.memory));
}

}  // namespace vktrain::ops
