#include "ops/column_sum.hpp"

#include "kernels/column_sum_push.h"
#include "ops/dispatch.hpp"
#include "ops/elementwise.hpp"

namespace vktrain::ops {
namespace {

constexpr uint64_t kRowsPerChunk = 64;  // rows one thread sums into one partial

uint32_t column_groups(uint64_t cols) { return uint32_t((cols + kGroupSize - 1) / kGroupSize); }

void record(vk::Recorder& rec, const Tensor& in, const Location& src, uint64_t rows,
            uint64_t rows_per_chunk, const Tensor& out, const Location& dst, bool accumulate) {
  uint64_t cols = in.cols(), chunks = (rows + rows_per_chunk - 1) / rows_per_chunk;
  kernels::ColumnSumPush push{src.address(), dst.address(), uint32_t(rows), uint32_t(cols),
                              uint32_t(rows_per_chunk), accumulate};
  std::vector<vk::ByteRange> reads = {piece_range(in, src, rows * cols)};
  if (accumulate) reads.push_back(piece_range(out, dst, cols));
  VkPipeline p = pipeline(rec.context(), fmt::format("column_sum_{}", dtype_name(in.dtype)));
  rec.dispatch("column_sum", p, &push, sizeof push, column_groups(cols), uint32_t(chunks), 1,
               reads, {piece_range(out, dst, chunks * cols)});
}

}  // namespace

uint64_t column_sum_scratch_bytes(uint64_t rows, uint64_t cols) {
  uint64_t total = 0;
  while (rows > kRowsPerChunk) {  // each level's partials are the next level's input
    rows = ceil_div(rows, kRowsPerChunk);
    total += vk::allocated_bytes(rows * cols * sizeof(float));
  }
  return total;
}

// Chunks of 64 rows -> f32 partials [chunks, cols], then the column sums of the partials, the
// same way, until one chunk is left. Work is cut wherever the input or the partials continue in
// another span; the order of additions depends only on the shape and the spans.
void column_sum(vk::Recorder& rec, Tensor& out, const Tensor& in, bool accumulate) {
  uint64_t rows = in.rows(), cols = in.cols();
  if (out.dtype != DType::f32 || out.numel() != cols)
    fail("[column_sum] the result must be f32 with {} elements (the columns of {}), got {}", cols,
         in.describe(), out.describe());
  auto& ctx = rec.context();
  if (cols >= (1ull << 32) || column_groups(cols) > ctx.caps().max_workgroup_count[0])
    fail("[column_sum] {} has too many columns for one dispatch", in.describe());
  if (rows == 0) {  // no rows: the sums are zero
    if (!accumulate) fill(rec, out, 0.0f);
    return;
  }
  Location first = locate(in, 0);
  if (rows <= kRowsPerChunk && first.contiguous >= rows * cols) {
    record(rec, in, first, rows, rows, out, locate(out, 0), accumulate);
    return;
  }
  // Pieces of rows inside one span of the input, within the grid's y limit.
  uint64_t max_rows = uint64_t(ctx.caps().max_workgroup_count[1]) * kRowsPerChunk;
  std::vector<std::pair<uint64_t, uint64_t>> pieces;  // first row, rows
  uint64_t chunks = 0;
  for_each_rows(rows, max_rows, {{&in, cols}},
                [&](uint64_t r, uint64_t n, const std::vector<Location>&) {
    pieces.emplace_back(r, n);
    chunks += (n + kRowsPerChunk - 1) / kRowsPerChunk;
  });
  Tensor partials = make_tensor(ctx, DType::f32, {int64_t(chunks), int64_t(cols)},
                                "column_sum partials");
  uint64_t chunk = 0;
  for (auto [r, n] : pieces) {
    while (n > 0) {  // as many whole chunks as the partials' span at `chunk` holds
      Location dst = locate(partials, chunk * cols);
      uint64_t take = std::min(n, dst.contiguous / cols * kRowsPerChunk);
      record(rec, in, locate(in, r * cols), take, kRowsPerChunk, partials, dst, false);
      chunk += (take + kRowsPerChunk - 1) / kRowsPerChunk;
      r += take;
      n -= take;
    }
  }
  column_sum(rec, out, partials, accumulate);
  rec.keep(std::move(partials.memory));
}

}  // namespace vktrain::ops
