#include "ops/rmsnorm.hpp"

#include "kernels/rmsnorm_push.h"
#include "ops/column_sum.hpp"
#include "ops/dispatch.hpp"

namespace vktrain::ops {
namespace {

constexpr uint32_t kMaxPerThread = 64;  // a row's values each thread keeps in registers
constexpr uint64_t kMaxChannels = 256 * kMaxPerThread;

// How the kernel spreads rows over a workgroup's 256 threads (its specialization constants).
struct RowLayout {
  uint32_t threads_per_row, per_thread, rows_per_group;
};

RowLayout row_layout(uint64_t cols) {
  // About 4 values per thread: loads in flight, and few idle threads on short rows (C = 128
  // gets 32 threads each, 8 rows per workgroup).
  uint32_t threads = 1;
  while (threads < 256 && threads * 4 < cols) threads *= 2;
  return {threads, uint32_t((cols + threads - 1) / threads), 256 / threads};
}

void check_inputs(const char* op, const Tensor& x, const Tensor& w) {
  require_float(op, x);
  if (w.dtype != DType::f32 || w.numel() != x.cols())
    fail("[{}] the weight {} must be f32 with {} elements, the channels of {}", op, w.describe(),
         x.cols(), x.describe());
  if (x.cols() > kMaxChannels)
    fail("[{}] {} has {} channels; the kernel takes at most {}", op, x.describe(), x.cols(),
         kMaxChannels);
}

void check_rstd(const char* op, const Tensor& rstd, const Tensor& x) {
  if (rstd.dtype != DType::f32 || rstd.numel() != x.rows())
    fail("[{}] rstd {} must be f32 with {} elements, the rows of {}", op, rstd.describe(),
         x.rows(), x.describe());
}

// Rows per chunk of the weight gradient's partial sums: they follow from the shape alone (about
// 512 chunks, 4 to 64 rows per thread), so dw has the same bits on every run and every device.
uint64_t dw_rows_per_chunk(uint64_t rows, const RowLayout& layout) {
  const uint64_t per_group = layout.rows_per_group;
  return per_group * std::clamp<uint64_t>(ceil_div(rows, per_group * 512), 4, 64);
}

}  // namespace

uint64_t rmsnorm_backward_scratch_bytes(uint64_t rows, uint64_t cols) {
  const uint64_t chunks = ceil_div(rows, dw_rows_per_chunk(rows, row_layout(cols)));
  return vk::allocated_bytes(chunks * cols * sizeof(float)) + column_sum_scratch_bytes(chunks, cols);
}

void rmsnorm_forward(vk::Recorder& rec, Tensor& y, Tensor* rstd, const Tensor& x, const Tensor& w,
                     const RmsnormOptions& options) {
  const char* op = "rmsnorm_forward";
  check_inputs(op, x, w);
  require_same_shape(op, y, x);
  require_same_dtype(op, y, x);
  if (rstd) check_rstd(op, *rstd, x);
  uint64_t rows = x.rows(), cols = x.cols();
  if (rows == 0) return;
  auto& ctx = rec.context();
  RowLayout layout = row_layout(cols);
  VkPipeline p = pipeline(ctx, fmt::format("rmsnorm_forward_{}", dtype_name(x.dtype)),
                          {layout.threads_per_row, layout.per_thread});
  uint64_t max_rows = std::min(kMaxDispatchElements / cols,
                               uint64_t(ctx.caps().max_workgroup_count[0]) * layout.rows_per_group);
  Location weight = locate(w, 0);
  for_each_rows(rows, max_rows, {{&x, cols}, {&y, cols}, {rstd, 1}},
                [&](uint64_t, uint64_t n, const std::vector<Location>& at) {
    kernels::RmsnormForwardPush push{at[0].address(), weight.address(), at[1].address(),
                                     rstd ? at[2].address() : 0, uint32_t(n), uint32_t(cols),
                                     options.eps, options.offset};
    std::vector<vk::ByteRange> writes = {piece_range(y, at[1], n * cols)};
    if (rstd) writes.push_back(piece_range(*rstd, at[2], n));
    rec.dispatch(op, p, &push, sizeof push,
                 uint32_t((n + layout.rows_per_group - 1) / layout.rows_per_group), 1, 1,
                 {piece_range(x, at[0], n * cols), piece_range(w, weight, cols)}, writes);
  });
}

void rmsnorm_backward(vk::Recorder& rec, Tensor& dx, Tensor* dw, const Tensor& dy, const Tensor& x,
                      const Tensor& w, const Tensor& rstd, const RmsnormOptions& options,
                      GradientStore store) {
  const char* op = "rmsnorm_backward";
  check_inputs(op, x, w);
  for (const Tensor* t : {static_cast<const Tensor*>(&dx), &dy}) {
    require_same_shape(op, *t, x);
    require_same_dtype(op, *t, x);
  }
  check_rstd(op, rstd, x);
  uint64_t rows = x.rows(), cols = x.cols();
  if (dw && (dw->dtype != DType::f32 || dw->numel() != cols))
    fail("[{}] the weight gradient {} must be f32 with {} elements, like {}", op, dw->describe(),
         cols, w.describe());
  if (rows == 0) return;
  auto& ctx = rec.context();
  RowLayout layout = row_layout(cols);
  // Without dw the pipeline is built without the weight-gradient work (WEIGHT_GRADIENT false).
  VkPipeline p = pipeline(ctx, fmt::format("rmsnorm_backward_{}", dtype_name(x.dtype)),
                          {layout.threads_per_row, layout.per_thread, uint32_t(dw != nullptr)});
  // With dw a workgroup takes a chunk of rows and leaves one row of dw partial sums. Without dw
  // nothing is summed across rows: a workgroup takes its rows once, and many workgroups in
  // flight hide the loads' latency that a loop over a chunk's rows would wait out row by row
  // (H100, bench/RESULTS.md).
  uint64_t rows_per_chunk = dw ? dw_rows_per_chunk(rows, layout) : layout.rows_per_group;
  uint64_t max_rows = std::min(kMaxDispatchElements / cols,
                               uint64_t(ctx.caps().max_workgroup_count[0]) * rows_per_chunk);
  struct Piece {
    uint64_t first, rows, first_chunk;
  };
  std::vector<Piece> pieces;
  uint64_t chunks = 0;
  for_each_rows(rows, max_rows, {{&dy, cols}, {&x, cols}, {&dx, cols}, {&rstd, 1}},
                [&](uint64_t first, uint64_t n, const std::vector<Location>&) {
    pieces.push_back({first, n, chunks});
    chunks += (n + rows_per_chunk - 1) / rows_per_chunk;
  });
  Tensor partials;  // [chunks, cols]
  if (dw)
    partials = make_tensor(ctx, DType::f32, {int64_t(chunks), int64_t(cols)},
                           "rmsnorm_backward dw partials");
  Location weight = locate(w, 0);
  // Rows [first, first + n) of one piece, whose chunks start at partials row `chunk`.
  auto record = [&](uint64_t first, uint64_t n, uint64_t chunk) {
    Location ldy = locate(dy, first * cols), lx = locate(x, first * cols),
             ldx = locate(dx, first * cols), lrstd = locate(rstd, first);
    uint64_t n_chunks = (n + rows_per_chunk - 1) / rows_per_chunk;
    kernels::RmsnormBackwardPush push{ldy.address(),  lx.address(),  weight.address(),
                                      lrstd.address(), ldx.address(), 0,
                                      uint32_t(n),     uint32_t(cols), uint32_t(rows_per_chunk),
                                      options.offset,  store == GradientStore::add};
    std::vector<vk::ByteRange> reads = {
        piece_range(dy, ldy, n * cols), piece_range(x, lx, n * cols), piece_range(w, weight, cols),
        piece_range(rstd, lrstd, n)};
    if (store == GradientStore::add) reads.push_back(piece_range(dx, ldx, n * cols));
    std::vector<vk::ByteRange> writes = {piece_range(dx, ldx, n * cols)};
    if (dw) {
      Location lp = locate(partials, chunk * cols);
      push.partials = lp.address();
      writes.push_back(piece_range(partials, lp, n_chunks * cols));
    }
    rec.dispatch(op, p, &push, sizeof push, uint32_t(n_chunks), 1, 1, reads, writes);
  };
  for (const Piece& piece : pieces) {
    // Partials may be split over allocations too (at whole rows): cut the piece at whole chunks.
    for (uint64_t done = 0; done < piece.rows;) {
      uint64_t chunk = piece.first_chunk + done / rows_per_chunk;
      uint64_t n = piece.rows - done;
      if (dw) n = std::min(n, locate(partials, chunk * cols).contiguous / cols * rows_per_chunk);
      record(piece.first + done, n, chunk);
      done += n;
    }
  }
  if (!dw) return;
  column_sum(rec, *dw, partials, true);
  rec.keep(std::move(partials.memory));
}

}  // namespace vktrain::ops
