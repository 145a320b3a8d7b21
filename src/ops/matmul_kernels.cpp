// How ops::matmul picks and launches its kernels (ops/matmul_parts.hpp).
#include <cctype>
#include <cstdio>
#include <tuple>

#include "base/env.hpp"
#include "ops/dispatch.hpp"
#include "ops/matmul_parts.hpp"

namespace vktrain::ops::matmul_parts {

const std::optional<TileOverride>& tile_override() {
  static const std::optional<TileOverride> tile = []() -> std::optional<TileOverride> {
    auto text = env::get(env::kMatmulTile);
    if (!text) return std::nullopt;
    TileOverride t;
    if (std::isdigit((unsigned char)(*text)[0]) &&
        std::sscanf(text->c_str(), "%ux%ux%ux%u", &t.bm, &t.bn, &t.bk, &t.threads) != 4)
      fail("[matmul] {}='{}': use BMxBNxBKxTHREADS, e.g. 128x128x32x256", env::kMatmulTile,
           *text);
    t.clamped = text->find(":clamped") != std::string::npos;
    t.unfused = text->find(":unfused") != std::string::npos;
    return t;
  }();
  return tile;
}

namespace {

// GL_NV_cooperative_matrix2 tiles (BM, BN, BK, threads) by the product's shape. Thin products
// (a LoRA rank on one side) get a thin tile so no work is wasted on the padding; a short K
// (a LoRA rank as K) a short step. Wide tiles halve how often each operand is re-read.
// A thin-M tile has one subgroup of 32 per 16 rows: on the H200 a 16-row tile over 4 subgroups
// computed wrong products.
// A block-quantized B is decoded element by element in the load, once per tile of rows of A:
// a 256-row tile decodes each value for twice the rows that a 128-row one does.
Kernel coopmat2_kernel(const std::string& types, uint64_t M, uint64_t N, uint64_t K,
                       bool b_quantized) {
  uint32_t bk = K <= 16 ? 16 : K <= 32 ? 32 : 64;
  uint32_t bm = 128, bn = 128, threads = 256;
  if (N <= 32) {
    bn = N <= 16 ? 16 : 32;
    threads = 128;
  } else if (M <= 32) {
    bm = M <= 16 ? 16 : 32;
    threads = 2 * bm;
  } else if (M >= 2048 && N >= 2048) {
    (b_quantized ? bm : bn) = 256;
  }
  if (const auto& t = tile_override(); t && t->bm)
    std::tie(bm, bn, bk, threads) = std::tie(t->bm, t->bn, t->bk, t->threads);
  return {"matmul_coopmat2_" + types, {bm, bn, bk, threads}, bm, bn, bk};
}

// GL_KHR_cooperative_matrix tiles: BM, BN, BK, WM, WN, threads, subgroup, CM, CN, CK, with the
// device's fragment shape (16x16x16 where it lists it, else its own of sides 8 or 16). On GPUs
// 128 x 128 x 32 tiles, four subgroups of 64 x 64 (16 accumulators of 16x16 each). On the H100
// this beat 128 x 128 over eight subgroups of 64 x 32 by 1.5x at 4096^3 (264 vs 180 TFLOP/s
// f16) and 256 x 128 and 128 x 256 tiles by 5-10% (bench/RESULTS.md, 2026-12-07).
// One choice for every vendor, not measured on AMD: RDNA3's WMMA unit (Strix Halo) takes
// 16x16x16 f16/bf16 fragments in wave32, so the subgroup size is pinned to 32 where the driver
// allows (RADV exposes 32 and 64); a lane then holds 16 x 8 accumulator floats (128 VGPRs of
// RDNA3's 256 per wave32 lane), and the tile needs 24 KiB of LDS with its output patch, so two
// workgroups share a 64 KiB LDS. Where 32 cannot be required the tile keeps four subgroups of
// the device's only size (64 x 64 each; 4 floats a lane at wave64).
// Thin products (a LoRA rank as M or N) get a 16- or 32-wide tile over the same four subgroups,
// so no work goes to padding (4096x16x2048 NT: 7.3 -> 22.1 TFLOP/s). A 16 step for a K of 16
// (a LoRA rank as K) was measured and dropped: 4096x2048x16 NN 9.1 -> 11.0 but 4096x6144x16 NN
// 10.1 -> 5.3.
// A CPU driver (lavapipe) unrolls every fragment product into scalar code: 32 x 32 tiles of four
// 16 x 16 subgroup blocks compile in 7 s where 128 x 128 ones take 60 (Mesa 26.1, 8x8x8
// fragments), and its cores are filled by tiles anyway.
// VKTRAIN_MATMUL_TILE forces BM, BN, BK and threads; its subgroups then split the tile 1 x 1,
// 1 x 2, 2 x 2, 2 x 4 or 4 x 4 (rows x columns).
Kernel coopmat_kernel(const std::string& types, const vk::Capabilities& caps, DType in,
                      uint64_t M, uint64_t N) {
  const uint32_t subgroup = matmul_coopmat_subgroup(caps);
  const CoopmatFragment f = coopmat_khr_fragment(caps, in);
  uint32_t bm = 128, bn = 128, bk = 32, wm = 64, wn = 64, threads = 4 * subgroup;
  if (!caps.is_gpu()) {
    bm = bn = 32;
    wm = wn = 16;
  } else if (N <= 32) {  // thin products (a LoRA rank as N): four subgroups of 32 rows
    bn = wn = N <= 16 ? 16 : 32;
    wm = 32;
  } else if (M <= 32) {
    bm = wm = M <= 16 ? 16 : 32;
    wn = 32;
  }
  if (const auto& t = tile_override(); t && t->bm) {
    std::tie(bm, bn, bk, threads) = std::tie(t->bm, t->bn, t->bk, t->threads);
    uint32_t subgroups = std::max(threads / std::max(subgroup, 1u), 1u), rows = 1;
    while (rows * rows * 4 <= subgroups) rows *= 2;
    wm = bm / rows;
    wn = bn / (subgroups / rows);
  }
  return {"matmul_coopmat_" + types,
          {bm, bn, bk, wm, wn, threads, subgroup, f.m, f.n, f.k},
          bm,
          bn,
          bk,
          caps.subgroup_size_control ? subgroup : 0};
}

}  // namespace

Kernel pick_kernel(const vk::Context& ctx, MatmulVariant variant, DType in, DType out,
                   uint64_t M, uint64_t N, uint64_t K, DType weight) {
  std::string types = fmt::format("{}_{}", dtype_name(in), dtype_name(out));
  if (dtype_is_block(weight)) types += fmt::format("_{}", dtype_name(weight));
  const auto& caps = ctx.caps();
  switch (variant) {
    case MatmulVariant::coopmat2:
      return coopmat2_kernel(types, M, N, K, dtype_is_block(weight));
    case MatmulVariant::coopmat:
      return coopmat_kernel(types, caps, in, M, N);
    case MatmulVariant::vector: {
      // One workgroup per column of C, each taking several where N passes the device's count.
      uint64_t groups = std::max<uint64_t>(caps.max_workgroup_count[0], 1);
      uint32_t columns = uint32_t(std::max<uint64_t>(ceil_div(N, groups), 1));
      return {"matmul_vector_" + types, {uint32_t(kMatmulVectorRows)}, uint32_t(kMatmulVectorRows),
              columns, 64};
    }
    default:
      break;
  }
  // Portable: larger register tiles where a GPU has the registers for them.
  if (caps.is_gpu()) return {"matmul_" + types, {128, 128, 16, 8, 8, 256}, 128, 128, 16};
  // CPU drivers (lavapipe): 8x8 outputs per invocation beat 4x4 by 1.5x at 512^3 (385 -> 250 ms
  // on 2 cores); 128-wide tiles gain a little more but waste work on the small matrices of tests.
  return {"matmul_" + types, {64, 64, 16, 8, 8, 64}, 64, 64, 16};
}

std::string tile_name(const Kernel& k) {
  return fmt::format("{}x{}x{}", k.tile_m, k.tile_n, k.tile_k);
}
std::string transposes(const MatmulOptions& o) {
  return fmt::format("{}{}", o.trans_a ? 'T' : 'N', o.trans_b ? 'T' : 'N');
}

// The K one dispatch may walk where the driver stops a shader's loops after caps.loop_limit
// iterations (lavapipe): every K step also runs the tile loads' loops. Measured on Debian 12's
// lavapipe (Mesa 22.3), portable 64 x 64 x 16 tiles: products are right up to K = 20000 and
// wrong from K = 20480, about 51 iterations a K step; counting 128 keeps a 2.5x margin. Longer
// products are cut along K into dispatches that accumulate. Without a limit: any K.
uint64_t max_k_per_dispatch(const vk::Context& ctx, const Kernel& kernel) {
  constexpr uint64_t kIterationsPerStep = 128;
  const uint64_t limit = ctx.caps().loop_limit;
  if (!limit) return UINT64_MAX;
  return std::max<uint64_t>(limit / kIterationsPerStep, 1) * kernel.tile_k;
}

uint32_t is_aligned(const kernels::MatmulPush& p, uint64_t in_bytes, uint64_t out_bytes,
                    uint32_t tile_k, bool b_quantized) {
  auto whole = [](uint64_t elements, uint64_t bytes) { return elements * bytes % 16 == 0; };
  if (tile_override() && tile_override()->clamped) return 0;
  bool b_aligned = b_quantized || (p.b % 16 == 0 && whole(p.ldb, in_bytes) &&
                                   whole(p.stride_b, in_bytes));
  return p.a % 16 == 0 && p.c % 16 == 0 && b_aligned && whole(p.lda, in_bytes) &&
         whole(p.ldc, out_bytes) && whole(p.stride_a, in_bytes) &&
         whole(p.stride_c, out_bytes) && p.K % tile_k == 0;
}

std::vector<vk::ByteRange> fuse_addend_push(const MatmulAddend& addend, uint64_t n0,
                                            kernels::MatmulPush& push, std::vector<uint32_t>& spec) {
  spec.push_back(addend.trans_b);
  Location l2a = locate(*addend.a, 0), l2b = locate(*addend.b, 0);
  push.a2 = l2a.address();
  push.ldb2 = uint32_t(addend.b->cols());
  push.b2 = l2b.address() + (addend.trans_b ? n0 * push.ldb2 : n0) * dtype_size(addend.b->dtype);
  push.K2 = push.lda2 = uint32_t(addend.a->cols());
  push.alpha2 = addend.alpha;
  return {piece_range(*addend.a, l2a, addend.a->numel()),
          piece_range(*addend.b, l2b, addend.b->numel())};
}

void sum_partials(vk::Recorder& rec, const vk::Span& partials, uint32_t parts, Tensor& c,
                  uint64_t M, uint64_t N, float alpha, float beta) {
  auto& ctx = rec.context();
  Location lc = locate(c, 0);
  kernels::MatmulReducePush sum{partials.address, lc.address(), uint32_t(M), uint32_t(N),
                                uint32_t(N),      parts,         alpha,        beta};
  std::vector<vk::ByteRange> reads = {vk::range_of(partials, 0, parts * M * N * 4)};
  if (beta != 0.0f) reads.push_back(piece_range(c, lc, c.numel()));
  rec.dispatch("matmul split-K sum", pipeline(ctx, fmt::format("matmul_reduce_{}", dtype_name(c.dtype))),
               &sum, sizeof sum, stride_groups(ctx, M * N), 1, 1, reads,
               {piece_range(c, lc, c.numel())});
}

}  // namespace vktrain::ops::matmul_parts
