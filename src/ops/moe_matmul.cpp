#include "ops/moe_matmul.hpp"

#include <algorithm>
#include <tuple>
#include <utility>

#include "kernels/moe_push.h"
#include "ops/dispatch.hpp"
#include "ops/matmul.hpp"
#include "ops/moe_common.hpp"
#include "ops/moe_matmul_parts.hpp"

namespace vktrain::ops {
namespace {

constexpr std::pair<MoeMatmulVariant, std::string_view> kVariantNames[] = {
    {MoeMatmulVariant::automatic, "auto"},
    {MoeMatmulVariant::portable, "portable"},
    {MoeMatmulVariant::coopmat, "coopmat"},
    {MoeMatmulVariant::coopmat2, "coopmat2"}};

// Loop iterations an invocation runs per K step (loads and products), as matmul.cpp measured
// for its portable 64 x 64 x 16 kernel on lavapipe, with its margin; the cooperative-matrix
// kernel's staging loops run fewer per step there (32 x 32 x 32 tiles, 32 invocations).
constexpr uint64_t kIterationsPerStep = 128;

// A kernel variant and its tiles: BM x BN output tiles, BK per reduction step.
struct Kernel {
  std::string name;
  std::vector<uint32_t> spec;
  uint32_t subgroup_size = 0;  // required, or 0
  uint64_t tile_m = 64, tile_n = 64, step = 16;
};

// GL_NV_cooperative_matrix2 tiles (BM, BN, BK, threads) by the product's shape. M, N, K are the
// kernel's: for the forward and input gradient M counts all S rows, for the weight gradient K does.
// Forward and input gradient: BM runs along an expert's rows, and every expert pads its last
// tile. Routed at random, Qwen3-30B-A3B's 4096 tokens (top-8 of 128, ~256 rows an expert) fill
// 64-row tiles to 90% and 128-row ones to 81%; gpt-oss-20b's (top-4 of 32, ~512) to 94% and 89%.
// So BM is 64, or 32 or 16 where experts own that few rows on average (generation, small
// batches), with one subgroup of 32 per 16 rows (on the H200 a 16-row dense tile over four
// subgroups computed wrong products: matmul.cpp). BN 128, BK 64 as the dense kernel takes for a
// long K; N of at most 32 (a LoRA rank) gets a 16- or 32-wide tile, K of at most 32 a short step.
// Weight gradient: dW_e (band x Q) has no ragged edge, its reduction (the expert's rows) has: the
// dense kernel's 128 x 128 tile over 256 invocations, and a 32 step, whose clamped last step per
// expert pads Qwen3-30B-A3B's rows by 6% where a 64 step pads them by 12%; thin M or N (a LoRA
// rank) as the dense kernel's thin tiles.
Kernel coopmat2_kernel(const std::string& name, bool weight_gradient, bool trans_w, uint64_t M,
                       uint64_t N, uint64_t K, uint64_t experts, MoeTile tile) {
  // A side of at most `limit` rounded up to 16 or 32, else `wide`.
  auto side = [](uint64_t size, uint32_t limit, uint32_t wide) {
    return size <= 16 ? 16u : size <= 32 && limit >= 32 ? 32u : size <= limit ? 64u : wide;
  };
  uint32_t bm, bn, bk, threads;
  if (weight_gradient) {
    bn = side(N, 32, 128);
    bm = bn < 128 ? 128 : side(M, 32, 128);
    bk = 32;
    threads = bn < 128 ? 128 : std::min(2 * bm, 256u);
  } else {
    bm = side(M / std::max<uint64_t>(experts, 1), 64, 64);  // the rows an expert owns on average
    bn = side(N, 32, 128);
    bk = side(K, 32, 64);
    threads = 2 * bm;
  }
  if (tile.bm) {
    if (tile.bm % 16 || tile.bn % 16 || tile.bk % 16 || !tile.bn || !tile.bk ||
        tile.threads % 32 || !tile.threads || tile.threads > 2 * tile.bm)
      fail("[{}] tile {}x{}x{} over {} invocations: sides must be multiples of 16 and the "
           "invocations a multiple of 32, at most 32 per 16 rows", name, tile.bm, tile.bn,
           tile.bk, tile.threads);
    std::tie(bm, bn, bk, threads) = std::tie(tile.bm, tile.bn, tile.bk, tile.threads);
  }
  return {name, {uint32_t(trans_w), bm, bn, bk, threads}, 0, bm, bn, bk};
}

Kernel pick_kernel(const vk::Context& ctx, bool weight_gradient, bool trans_w, DType in, DType out,
                   MoeMatmulVariant variant, uint64_t M, uint64_t N, uint64_t K,
                   uint64_t experts, MoeTile tile) {
  std::string family = weight_gradient ? "moe_matmul_weight" : "moe_matmul";
  std::string types = fmt::format("{}_{}", dtype_name(in), dtype_name(out));
  // coopmat2 has not run on a GPU yet (no device was lent when it was written): it is taken
  // when asked for, and by automatic once its tests and bench_moe have passed on one.
  if (variant == MoeMatmulVariant::automatic)
    variant = moe_matmul_unavailable(ctx, MoeMatmulVariant::coopmat, in, out).empty()
                  ? MoeMatmulVariant::coopmat
                  : MoeMatmulVariant::portable;
  if (variant == MoeMatmulVariant::portable) return {family + "_" + types, {}, 0, 64, 64, 16};
  if (auto why = moe_matmul_unavailable(ctx, variant, in, out); !why.empty())
    fail("[{}] the {} variant cannot run here: {}", family, moe_matmul_variant_name(variant), why);
  if (variant == MoeMatmulVariant::coopmat2)
    return coopmat2_kernel(family + "_coopmat2_" + types, weight_gradient, trans_w, M, N, K,
                           experts, tile);
  const auto& caps = ctx.caps();
  const uint32_t subgroup = matmul_coopmat_subgroup(caps);
  const CoopmatFragment f = coopmat_khr_fragment(caps, in);
  // Four subgroups, each a 2 x 2 block of fragments on a GPU (64 x 64 tiles: experts own few
  // rows each, so larger tiles would mostly multiply padding), 32 x 32 on a CPU driver.
  const uint32_t tile_side = caps.is_gpu() ? 64 : 32, step = 32;
  return {family + "_coopmat_" + types,
          {uint32_t(trans_w), tile_side, tile_side, step, tile_side / 2, tile_side / 2,
           4 * subgroup, subgroup, f.m, f.n, f.k},
          caps.subgroup_size_control ? subgroup : 0,
          tile_side,
          tile_side,
          step};
}

// The kernel and its tile, for profiles.
std::string label(const Kernel& k) {
  return fmt::format("{} {}x{}x{}", k.name, k.tile_m, k.tile_n, k.step);
}

struct Weight {
  uint64_t experts, rows, cols, first, band;  // w [E, R, Q] and the band of R
};

// w may be in a ggml block type (whole blocks along Q); moe_matmul_weight refuses one first.
Weight check_weight(const char* op, const Tensor& w, const Tensor& offsets, MoeWeightBand band) {
  if (!dtype_is_block(w.dtype)) require_float(op, w);
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

}  // namespace

std::string_view moe_matmul_variant_name(MoeMatmulVariant variant) {
  for (const auto& [v, name] : kVariantNames)
    if (v == variant) return name;
  return "?";
}

MoeMatmulVariant moe_matmul_variant_from_name(std::string_view name) {
  for (const auto& [v, known] : kVariantNames)
    if (known == name) return v;
  fail("[moe_matmul] unknown variant '{}': use auto, portable, coopmat or coopmat2", name);
}

std::string moe_matmul_unavailable(const vk::Context& context, MoeMatmulVariant variant, DType in,
                                   DType out) {
  if (out != DType::f32 && out != in)
    return fmt::format("the output must be f32 or {}, not {}", dtype_name(in), dtype_name(out));
  if (variant != MoeMatmulVariant::coopmat && variant != MoeMatmulVariant::coopmat2) return "";
  const auto& caps = context.caps();
  if (auto why = coopmat_dtype_unavailable(caps, in); !why.empty()) return why;
  if (variant == MoeMatmulVariant::coopmat2) {
    if (!caps.coopmat2_nv) return fmt::format("'{}' lacks VK_NV_cooperative_matrix2", caps.name);
  } else {
    CoopmatFragment f = coopmat_khr_fragment(caps, in);
    // The kernel's subgroup blocks are 16 x 16 at least and its K step 32: sides of 8 or 16.
    if (!f.m)
      return fmt::format(
          "'{}' lacks VK_KHR_cooperative_matrix with a {} -> f32 subgroup shape of "
          "sides 8 or 16",
          caps.name, dtype_name(in));
    if (!matmul_coopmat_subgroup(caps)) return subgroup_size_unavailable(caps, caps.subgroup_size);
  }
  for (const char* family : {"moe_matmul", "moe_matmul_weight"}) {
    std::string kernel = fmt::format("{}_{}_{}_{}", family, moe_matmul_variant_name(variant),
                                     dtype_name(in), dtype_name(out));
    if (!kernels::find(kernel)) return "this build's glslc could not compile " + kernel;
  }
  return "";
}

namespace moe_matmul_parts {

void dispatch_rows(vk::Recorder& rec, const kernels::MoeMatmulPush& push, DType in, DType out,
                   const MoeMatmulOptions& options, const std::vector<vk::ByteRange>& reads,
                   const vk::ByteRange& written) {
  const char* op = "moe_matmul";
  auto& ctx = rec.context();
  const uint64_t S = push.M;
  Kernel kernel = pick_kernel(ctx, false, options.trans_w, in, out, options.variant, S, push.N,
                              push.K, push.experts, options.tile);
  require_loop_budget(ctx, op, push.experts + ceil_div(push.K, kernel.step) * kIterationsPerStep,
                      "the reduction over K");
  // Every expert's rows take ceil(rows / BM) tiles, at most S / BM + E in all.
  uint64_t row_tiles = ceil_div(S, kernel.tile_m) + push.experts;
  if (row_tiles > ctx.caps().max_workgroup_count[1])
    fail("[{}] {} rows over {} experts need {} row tiles, over the device's {}", op, S,
         push.experts, row_tiles, ctx.caps().max_workgroup_count[1]);
  rec.dispatch(label(kernel), pipeline(ctx, kernel.name, kernel.spec, kernel.subgroup_size),
               &push, sizeof push, moe::groups(ctx, op, push.N, kernel.tile_n),
               uint32_t(row_tiles), 1, reads, {written});
}

}  // namespace moe_matmul_parts

void moe_matmul(vk::Recorder& rec, Tensor& y, const Tensor& x, const Tensor& w,
                const Tensor& offsets, const MoeMatmulOptions& options) {
  const char* op = "moe_matmul";
  Weight s = check_weight(op, w, offsets, options.band);
  require_float(op, x);
  if (!dtype_is_block(w.dtype)) require_same_dtype(op, x, w);
  require_output(op, y, x);
  uint64_t K = options.trans_w ? s.cols : s.band, N = options.trans_w ? s.band : s.cols;
  uint64_t S = check_rows(op, x, K, y, N);
  if (dtype_is_block(w.dtype))
    return moe_matmul_parts::takes_vector(rec.context(), y, x, w, options)
               ? moe_matmul_parts::vector_product(rec, y, x, w, offsets, options)
               : moe_matmul_parts::slab_product(rec, y, x, w, offsets, options);
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
  moe_matmul_parts::dispatch_rows(rec, push, x.dtype, y.dtype, options, reads, c.range);
}

void moe_matmul_weight(vk::Recorder& rec, Tensor& dw, const Tensor& dy, const Tensor& x,
                       const Tensor& offsets, float alpha, float beta, MoeWeightBand band,
                       MoeMatmulVariant variant, MoeTile tile) {
  const char* op = "moe_matmul_weight";
  auto& ctx = rec.context();
  if (dtype_is_block(dw.dtype))
    fail("[{}] {} is in a ggml block type: a quantized base weight is frozen and has no "
         "gradient (train adapters on it instead, or load the base in a float dtype)",
         op, dw.describe());
  Weight s = check_weight(op, dw, offsets, band);
  require_float(op, x);
  require_same_dtype(op, dy, x);
  require_output(op, dw, x);
  uint64_t S = check_rows(op, dy, s.band, x, s.cols);
  Kernel kernel =
      pick_kernel(ctx, true, false, x.dtype, dw.dtype, variant, s.band, s.cols, S, s.experts, tile);
  // An expert may own every row: the reduction runs over up to S of them.
  require_loop_budget(ctx, op, ceil_div(S, kernel.step) * kIterationsPerStep,
                      "the reduction over one expert's rows (all S of them at most)");
  if (s.experts > ctx.caps().max_workgroup_count[2] ||
      ceil_div(s.band, kernel.tile_m) > ctx.caps().max_workgroup_count[1])
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
  rec.dispatch(label(kernel), pipeline(ctx, kernel.name, kernel.spec, kernel.subgroup_size),
               &push, sizeof push, moe::groups(ctx, op, s.cols, kernel.tile_n),
               uint32_t(ceil_div(s.band, kernel.tile_m)), uint32_t(s.experts), reads, {c.range});
}

}  // namespace vktrain::ops
