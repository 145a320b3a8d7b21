#include "ops/moe_matmul.hpp"

#include "kernels/moe_push.h"
#include "ops/dispatch.hpp"
#include "ops/moe_common.hpp"

namespace vktrain::ops {
namespace {

constexpr uint64_t kTile = 64, kStep = 16;  // moe_matmul.comp's BM = BN and BK
// Loop iterations an invocation runs per BK step (loads and products), as matmul.cpp measured
// for its portable 64 x 64 x 16 kernel on lavapipe, with its margin.
constexpr uint64_t kIterationsPerStep = 128;

struct Weight {
  uint64_t experts, rows, cols, first, band;  // w [E, R, Q] and the band of R
};

Weight check_weight(const char* op, const Tensor& w, const Tensor& offsets, MoeWeightBand band) {
  require_float(op, w);
  if (w.shape.size() != 3) fail("[{}] {} must be [E, R, Q]", op, w.describe());
  Weight s{uint64_t(w.shape[0]), uint64_t(w.shape[1]), uint64_t(w.shape[2]), band.first,
           band.rows ? band.rows : uint64_t(w.shape[1])};
  if (s.first + s.band > s.rows || s.band == 0)
    fail("[{}] the band of rows [{}, {}) lies outside {}'s {} rows", op, s.first, s.first + s.band,
         w.describe(), s.rows);
  moe::require_dtype(op, offsets, DType::i32);
  moe::require_shape(op, offsets, {int64_t(s.experts) + 1});
  moe::require_index_range(op, s.rows * s.cols, "one expert's weight");
  return s;
}

// S of x [S, width] and y [S, width_y], checked.
uint64_t check_rows(const char* op, const Tensor& x, uint64_t width, const Tensor& y,
                    uint64_t width_y) {
  if (x.shape.size() != 2 || y.shape.size() != 2 || x.shape[0] != y.shape[0] || x.cols() != width ||
      y.cols() != width_y)
    fail("[{}] {} and {} must be [S, {}] and [S, {}]", op, x.describe(), y.describe(), width,
         width_y);
  moe::require_index_range(op, x.numel(), "x");
  moe::require_index_range(op, y.numel(), "y");
  return uint64_t(x.shape[0]);
}

void require_output(const char* op, const Tensor& out, const Tensor& in) {
  require_float(op, out);
  if (out.dtype != DType::f32 && out.dtype != in.dtype)
    fail("[{}] {} must be f32 or {}", op, out.describe(), dtype_name(in.dtype));
}

std::string kernel_name(const char* family, const Tensor& in, const Tensor& out) {
  return fmt::format("{}_{}_{}", family, dtype_name(in.dtype), dtype_name(out.dtype));
}

}  // namespace

void moe_matmul(vk::Recorder& rec, Tensor& y, const Tensor& x, const Tensor& w,
                const Tensor& offsets, const MoeMatmulOptions& options) {
  const char* op = "moe_matmul";
  auto& ctx = rec.context();
  Weight s = check_weight(op, w, offsets, options.band);
  require_float(op, x);
  require_same_dtype(op, x, w);
  require_output(op, y, x);
  uint64_t K = options.trans_w ? s.cols : s.band, N = options.trans_w ? s.band : s.cols;
  uint64_t S = check_rows(op, x, K, y, N);
  require_loop_budget(ctx, op, s.experts + ceil_div(K, kStep) * kIterationsPerStep,
                      "the reduction over K");
  auto a = moe::whole(op, x), b = moe::whole(op, w), c = moe::whole(op, y),
       off = moe::whole(op, offsets);
  kernels::MoeMatmulPush push{};
  push.a = a.address;
  push.b = b.address + dtype_bytes(w.dtype, s.first * s.cols);
  push.c = c.address;
  push.offsets = off.address;
  push.b_expert_stride = s.rows * s.cols;
  push.M = uint32_t(S);
  push.N = uint32_t(N);
  push.K = uint32_t(K);
  push.lda = uint32_t(K);
  push.ldb = uint32_t(s.cols);
  push.ldc = uint32_t(N);
  push.trans_b = options.trans_w;
  push.experts = uint32_t(s.experts);
  push.alpha = options.alpha;
  push.beta = options.beta;
  std::vector<vk::ByteRange> reads{a.range, b.range, off.range};
  if (options.beta != 0.0f) reads.push_back(c.range);
  // Every expert's rows take ceil(rows / 64) tiles, at most S / 64 + E in all.
  uint64_t row_tiles = ceil_div(S, kTile) + s.experts;
  if (row_tiles > ctx.caps().max_workgroup_count[1])
    fail("[{}] {} rows over {} experts need {} row tiles, over the device's {}", op, S, s.experts,
         row_tiles, ctx.caps().max_workgroup_count[1]);
  rec.dispatch(op, pipeline(ctx, kernel_name("moe_matmul", x, y)), &push, sizeof push,
               moe::groups(ctx, op, N, kTile), uint32_t(row_tiles), 1, reads, {c.range});
}

void moe_matmul_weight(vk::Recorder& rec, Tensor& dw, const Tensor& dy, const Tensor& x,
                       const Tensor& offsets, float alpha, float beta, MoeWeightBand band) {
  const char* op = "moe_matmul_weight";
  auto& ctx = rec.context();
  Weight s = check_weight(op, dw, offsets, band);
  require_float(op, x);
  require_same_dtype(op, dy, x);
  require_output(op, dw, x);
  uint64_t S = check_rows(op, dy, s.band, x, s.cols);
  // An expert may own every row: the reduction runs over up to S of them.
  require_loop_budget(ctx, op, ceil_div(S, kStep) * kIterationsPerStep,
                      "the reduction over one expert's rows (all S of them at most)");
  if (s.experts > ctx.caps().max_workgroup_count[2] ||
      ceil_div(s.band, kTile) > ctx.caps().max_workgroup_count[1])
    fail("[{}] {} is more experts or rows than the device dispatches at once", op, dw.describe());
  auto a = moe::whole(op, dy), b = moe::whole(op, x), c = moe::whole(op, dw),
       off = moe::whole(op, offsets);
  kernels::MoeMatmulPush push{};
  push.a = a.address;
  push.b = b.address;
  push.c = c.address + dtype_bytes(dw.dtype, s.first * s.cols);
  push.offsets = off.address;
  push.c_expert_stride = s.rows * s.cols;
  push.M = uint32_t(s.band);
  push.N = uint32_t(s.cols);
  push.K = uint32_t(S);
  push.lda = uint32_t(s.band);
  push.ldb = uint32_t(s.cols);
  push.ldc = uint32_t(s.cols);
  push.experts = uint32_t(s.experts);
  push.alpha = alpha;
  push.beta = beta;
  std::vector<vk::ByteRange> reads{a.range, b.range, off.range};
  if (beta != 0.0f) reads.push_back(c.range);
  rec.dispatch(op, pipeline(ctx, kernel_name("moe_matmul_weight", x, dw)), &push, sizeof push,
               moe::groups(ctx, op, s.cols, kTile), uint32_t(ceil_div(s.band, kTile)),
               uint32_t(s.experts), reads, {c.range});
}

}  // namespace vktrain::ops
