#include "ops/matmul.hpp"

#include <cctype>
#include <cstdio>
#include <optional>
#include <set>
#include <tuple>

#include "base/env.hpp"

#include "kernels/push.h"
#include "ops/dispatch.hpp"

namespace vktrain::ops {
namespace {

struct Shape {
  uint64_t batch, rows, cols;  // a tensor seen as `batch` matrices of rows x cols
};

Shape matrix_shape(const char* what, const Tensor& t) {
  if (t.shape.size() < 2) fail("[matmul] {} must have at least 2 dimensions: {}", what, t.describe());
  uint64_t rows = uint64_t(t.shape[t.shape.size() - 2]), cols = t.cols();
  uint64_t size = rows * cols;
  return {size ? t.numel() / size : 0, rows, cols};
}

// A kernel variant with its launch geometry.
struct Kernel {
  std::string name;
  std::vector<uint32_t> spec;  // after the two transpose flags
  uint32_t tile_m, tile_n, tile_k;
  uint32_t subgroup_size = 0;
};

// VKTRAIN_MATMUL_TILE, read once: a forced cooperative-matrix tile and features switched off
// (tuning only).
struct TileOverride {
  uint32_t bm = 0, bn = 0, bk = 0, threads = 0;  // 0: the shape's choice
  bool clamped = false, unfused = false;
};

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

// `weight`: B's dtype when B is block-quantized (the kernels' BLOCK variants), else `in`.
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

// "BMxBNxBK" and "NT", for profiles.
std::string tile_name(const Kernel& k) {
  return fmt::format("{}x{}x{}", k.tile_m, k.tile_n, k.tile_k);
}
std::string transposes(const MatmulOptions& o) {
  return fmt::format("{}{}", o.trans_a ? 'T' : 'N', o.trans_b ? 'T' : 'N');
}

// How many parts to cut K into (split-K) so that a product with few output tiles and a long K
// (a LoRA gradient: 16 x 2048 out of K = 4096 tokens) fills a GPU: each part writes its partial
// product, a second kernel sums them in order (deterministic, no atomics). A power of two that
// divides K, leaves parts of at least 256 and aims at 256 workgroups in all. A very long K
// (a head's input gradient over the vocabulary) is cut at least in two below 256 tiles, so that
// an SM holds more than one of its workgroups (the Llama-3.2-1B head's 144 tiles over
// K = 128256); the Llama-3.2-1B step did not move measurably with it (140.2 vs 142.1 ms, H200).
// Aiming at 512 instead cut the big projections too and cost 19% of a Qwen3-1.7B step.
// Parts are whole multiples of `k_unit` (a quantized B's block along K, else 1).
uint32_t choose_splits(const vk::Context& ctx, uint64_t tiles, uint64_t K, uint64_t k_unit) {
  constexpr uint64_t kTargetGroups = 256, kMinPart = 256, kVeryLongK = 32768;
  if (!ctx.caps().is_gpu()) return 1;  // a CPU driver has a few cores: tiles fill it already
  auto divides = [&](uint64_t parts) { return K % (parts * k_unit) == 0; };
  uint32_t splits = 1;
  while (tiles * splits * 2 <= kTargetGroups && divides(2 * splits) && K / (2 * splits) >= kMinPart)
    splits *= 2;
  if (splits == 1 && K >= kVeryLongK && tiles < kTargetGroups && divides(2)) splits = 2;
  return splits;
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

// Multiples of `step` below `size` (cut points).
std::vector<uint64_t> multiples_below(uint64_t size, uint64_t step) {
  std::vector<uint64_t> points;
  for (uint64_t at = step; at < size; at += step) points.push_back(at);
  return points;
}

// Whether the cooperative-matrix kernels may load and store interior tiles unclamped: 16-byte
// aligned operands, rows and batch strides, and K a multiple of the K step (the promise of
// MatmulPush::aligned). in_bytes: an A or B element; out_bytes: a C element. A block-quantized B
// is decoded value by value, so its alignment does not matter.
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

// C = alpha op(A) op(B) + beta C as `splits` products over equal K ranges into the recording's
// workspace (one dispatch, the parts as its batch), then their sum in order into C. A, B and C
// are one matrix each, each in one allocation; `splits` divides K.
void split_product(vk::Recorder& rec, MatmulVariant variant, Tensor& c, const Tensor& a,
                   const Tensor& b, const MatmulOptions& options, uint64_t M, uint64_t N,
                   uint64_t K, uint32_t splits) {
  auto& ctx = rec.context();
  uint64_t part = K / splits;
  Kernel kernel = pick_kernel(ctx, variant, a.dtype, DType::f32, M, N, part, b.dtype);
  std::vector<uint32_t> spec = {options.trans_a, options.trans_b};
  spec.insert(spec.end(), kernel.spec.begin(), kernel.spec.end());
  const vk::Span& partials = rec.workspace(splits * M * N * 4);
  Location la = locate(a, 0), lb = locate(b, 0), lc = locate(c, 0);

  kernels::MatmulPush push{};
  push.a = la.address();
  push.b = lb.address();
  push.c = partials.address;
  push.lda = uint32_t(a.cols());
  push.ldb = uint32_t(b.cols());
  push.ldc = uint32_t(N);
  // Part s starts s * part columns into A (rows when A is transposed) and rows into B
  // (columns when B is transposed).
  push.stride_a = options.trans_a ? part * push.lda : part;
  push.stride_b = options.trans_b ? part : part * push.ldb;
  if (dtype_is_block(b.dtype))  // bytes: `part` values of each row, or `part` whole rows
    push.stride_b = options.trans_b ? dtype_bytes(b.dtype, part) : part * b.row_bytes();
  push.stride_c = M * N;
  push.M = uint32_t(M);
  push.N = uint32_t(N);
  push.K = uint32_t(part);
  push.alpha = 1.0f;
  push.aligned = is_aligned(push, dtype_size(a.dtype), 4, kernel.tile_k,  // f32 partials
                            dtype_is_block(b.dtype));
  vk::ByteRange partial_range = vk::range_of(partials, 0, splits * M * N * 4);
  rec.dispatch(fmt::format("matmul {} {} {}x{}x{} {} split-K {}", kernel.name, tile_name(kernel),
                           M, N, K, transposes(options), splits),
               pipeline(ctx, kernel.name, spec, kernel.subgroup_size), &push, sizeof push,
               uint32_t((N + kernel.tile_n - 1) / kernel.tile_n),
               uint32_t((M + kernel.tile_m - 1) / kernel.tile_m), splits,
               {piece_range(a, la, a.numel()), piece_range(b, lb, b.numel())}, {partial_range});

  kernels::MatmulReducePush sum{partials.address, lc.address(), uint32_t(M), uint32_t(N),
                                uint32_t(N),      splits,        options.alpha, options.beta};
  std::vector<vk::ByteRange> reads = {partial_range};
  if (options.beta != 0.0f) reads.push_back(piece_range(c, lc, c.numel()));
  rec.dispatch("matmul split-K sum", pipeline(ctx, fmt::format("matmul_reduce_{}", dtype_name(c.dtype))),
               &sum, sizeof sum, stride_groups(ctx, M * N), 1, 1, reads,
               {piece_range(c, lc, c.numel())});
}

// Fills the push fields and spec constant of an addend added in the same pass, for C's columns
// from n0 on (B2's rows from n0 where it is transposed), and returns what the addend reads.
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

// Whether a product on a quantized B goes through slabs (MatmulOptions::quantized_read); a
// forced slabs that cannot run here fails.
bool takes_slabs(const vk::Context& ctx, const MatmulOptions& options, const Tensor& a,
                 const Tensor& b, const Tensor& c, uint64_t M, uint64_t K, uint64_t batch,
                 MatmulVariant variant) {
  if (!dtype_is_block(b.dtype) || options.quantized_read == QuantizedRead::fused) return false;
  const MatmulAddend& addend = options.addend;
  const bool one_span = a.memory.spans().size() == 1 && b.memory.spans().size() == 1 &&
                        c.memory.spans().size() == 1 &&
                        (!addend.a || (addend.a->memory.spans().size() == 1 &&
                                       addend.b->memory.spans().size() == 1));
  const bool fits = a.dtype != DType::f32 && variant != MatmulVariant::vector && batch == 1 &&
                    M > kMatmulVectorRows && one_span &&
                    K <= max_k_per_dispatch(ctx, pick_kernel(ctx, variant, a.dtype, c.dtype, M,
                                                             256, K, a.dtype));
  if (options.quantized_read == QuantizedRead::slabs) {
    if (!fits)
      fail("[matmul] slabs of {} take 16-bit A ({}) of more than {} rows, one matrix in one "
           "allocation per operand, a K one dispatch may loop over and a variant other than "
           "vector", b.describe(), a.describe(), kMatmulVectorRows);
    return true;
  }
  return fits && ctx.caps().is_gpu();
}

// C = alpha op(A) W(^T) + beta C (+ the addend) through slabs of W along N: W's rows [n0, n1) for
// x W^T, its columns [n0, n1) (whole blocks) for dy W, each decoded into the workspace in A's
// dtype and multiplied by `variant`'s float kernel into C's columns [n0, n1). Slabs are
// multiples of 256 values (every block size divides 256) unless one slab covers N.
void slab_product(vk::Recorder& rec, MatmulVariant variant, Tensor& c, const Tensor& a,
                  const Tensor& w, const MatmulOptions& options, uint64_t M, uint64_t N, uint64_t K) {
  auto& ctx = rec.context();
  const uint64_t element = dtype_size(a.dtype), budget = options.slab_bytes ? options.slab_bytes
                                                                             : kMatmulSlabBytes;
  const uint64_t width = std::min(N, std::max<uint64_t>(256, budget / (K * element) / 256 * 256));
  const vk::Span& slab = rec.workspace(width * K * element);
  const DTypeBlock block = dtype_block(w.dtype);
  const MatmulAddend& addend = options.addend;
  Location la = locate(a, 0), lw = locate(w, 0), lc = locate(c, 0);
  const vk::ByteRange a_read = piece_range(a, la, a.numel()), w_read = piece_range(w, lw, w.numel());
  const vk::ByteRange c_range = piece_range(c, lc, c.numel());
  const bool fuse_addend = addend.a && variant == MatmulVariant::coopmat2 && addend.alpha != 0.0f &&
                           !(tile_override() && tile_override()->unfused);
  VkPipeline decode = pipeline(ctx, fmt::format("dequantize_{}_{}", dtype_name(w.dtype),
                                                dtype_name(a.dtype)));
  for (uint64_t n0 = 0; n0 < N; n0 += width) {
    const uint64_t n1 = std::min(N, n0 + width), n = n1 - n0;
    kernels::DequantizePush d{};
    d.src = lw.address() + (options.trans_b ? n0 * w.row_bytes() : n0 / block.elements * block.bytes);
    d.dst = slab.address;
    d.src_stride = w.row_bytes();
    d.rows = uint32_t(options.trans_b ? n : K);
    d.cols = uint32_t(options.trans_b ? K : n);
    const vk::ByteRange slab_range = vk::range_of(slab, 0, n * K * element);
    rec.dispatch("matmul dequantize " + std::string(dtype_name(w.dtype)), decode, &d, sizeof d,
                 stride_groups(ctx, uint64_t(d.rows) * d.cols / 8), 1, 1, {w_read}, {slab_range});

    Kernel kernel = pick_kernel(ctx, variant, a.dtype, c.dtype, M, n, K, a.dtype);
    std::vector<uint32_t> spec = {options.trans_a, options.trans_b};
    spec.insert(spec.end(), kernel.spec.begin(), kernel.spec.end());
    kernels::MatmulPush push{};
    push.a = la.address();
    push.b = slab.address;
    push.c = lc.address() + n0 * dtype_size(c.dtype);
    push.lda = uint32_t(a.cols());
    push.ldb = uint32_t(options.trans_b ? K : n);
    push.ldc = uint32_t(N);
    push.M = uint32_t(M);
    push.N = uint32_t(n);
    push.K = uint32_t(K);
    push.alpha = options.alpha;
    push.beta = options.beta;
    std::vector<vk::ByteRange> reads = {a_read, slab_range};
    if (options.beta != 0.0f) reads.push_back(c_range);
    if (fuse_addend) {
      auto addend_reads = fuse_addend_push(addend, n0, push, spec);
      reads.insert(reads.end(), addend_reads.begin(), addend_reads.end());
    }
    push.aligned = is_aligned(push, element, dtype_size(c.dtype), kernel.tile_k, false);
    rec.dispatch(fmt::format("matmul {} {} {}x{}x{} {} slab{}", kernel.name, tile_name(kernel), M,
                             n, K, transposes(options), fuse_addend ? " + addend" : ""),
                 pipeline(ctx, kernel.name, spec, kernel.subgroup_size), &push, sizeof push,
                 uint32_t((n + kernel.tile_n - 1) / kernel.tile_n),
                 uint32_t((M + kernel.tile_m - 1) / kernel.tile_m), 1, reads, {c_range});
  }
  if (addend.a && !fuse_addend) {
    MatmulOptions second;
    second.trans_b = addend.trans_b;
    second.alpha = addend.alpha;
    second.beta = 1.0f;
    second.variant = variant;
    matmul(rec, c, *addend.a, *addend.b, second);
  }
}

// Local row indices (excluding 0) at which matrix `index` of `t` continues in a new span.
std::vector<uint64_t> span_breaks(const Tensor& t, uint64_t index, const Shape& s) {
  std::vector<uint64_t> breaks;
  for (uint64_t r = 0; r < s.rows;) {
    Location at = locate(t, (index * s.rows + r) * s.cols);
    r += std::max<uint64_t>(at.contiguous / s.cols, 1);
    if (r < s.rows) breaks.push_back(r);
  }
  return breaks;
}

std::vector<uint64_t> cuts(uint64_t size, std::initializer_list<const std::vector<uint64_t>*> lists) {
  std::set<uint64_t> all = {0, size};
  for (const auto* list : lists) all.insert(list->begin(), list->end());
  return {all.begin(), all.end()};
}

}  // namespace

std::string_view matmul_variant_name(MatmulVariant v) {
  switch (v) {
    case MatmulVariant::automatic: return "auto";
    case MatmulVariant::portable: return "portable";
    case MatmulVariant::coopmat: return "coopmat";
    case MatmulVariant::coopmat2: return "coopmat2";
    case MatmulVariant::vector: return "vector";
  }
  return "?";
}

MatmulVariant matmul_variant_from_name(std::string_view name) {
  for (auto v : {MatmulVariant::automatic, MatmulVariant::portable, MatmulVariant::coopmat,
                 MatmulVariant::coopmat2, MatmulVariant::vector})
    if (matmul_variant_name(v) == name) return v;
  fail("[matmul] unknown variant '{}': use auto, portable, coopmat, coopmat2 or vector", name);
}

std::string matmul_unavailable(const vk::Context& ctx, MatmulVariant variant, DType in,
                               DType out, DType weight) {
  if (out != DType::f32 && out != in)
    return fmt::format("C must be f32 or {}, not {}", dtype_name(in), dtype_name(out));
  const auto& caps = ctx.caps();
  std::string kernel = pick_kernel(ctx, variant, in, out, 64, 64, 64, weight).name;
  switch (variant) {
    case MatmulVariant::automatic:
    case MatmulVariant::portable: return "";
    case MatmulVariant::coopmat:
      if (auto why = coopmat_dtype_unavailable(caps, in); !why.empty()) return why;
      if (!coopmat_khr_fragment(caps, in).m)
        return fmt::format("'{}' lacks VK_KHR_cooperative_matrix with a {} -> f32 subgroup shape "
                           "of sides 8 or 16", caps.name, dtype_name(in));
      if (!matmul_coopmat_subgroup(caps)) return subgroup_size_unavailable(caps, caps.subgroup_size);
      if (!kernels::find(kernel)) return "this build's glslc could not compile " + kernel;
      return "";
    case MatmulVariant::coopmat2:
      if (auto why = coopmat_dtype_unavailable(caps, in); !why.empty()) return why;
      if (!caps.coopmat2_nv)
        return fmt::format("'{}' lacks VK_NV_cooperative_matrix2", caps.name);
      if (!kernels::find(kernel)) return "this build's glslc could not compile " + kernel;
      return "";
    case MatmulVariant::vector:
      if (!dtype_is_block(weight)) return "it multiplies a block-quantized B only";
      if (!caps.subgroup_arithmetic) return fmt::format("'{}' lacks subgroup arithmetic", caps.name);
      if (!kernels::find(kernel)) return "this build's glslc could not compile " + kernel;
      return "";
  }
  return "";
}

uint64_t matmul_slab_scratch_bytes(const vk::Capabilities& caps, DType in, DType weight) {
  return dtype_is_block(weight) && in != DType::f32 && caps.is_gpu() ? kMatmulSlabBytes : 0;
}

uint32_t matmul_coopmat_subgroup(const vk::Capabilities& caps) {
  for (uint32_t size : {32u, caps.subgroup_size})
    if (subgroup_size_unavailable(caps, size).empty()) return size;
  return 0;
}

MatmulVariant matmul_choose(const vk::Context& ctx, DType in, DType out, DType weight) {
  for (auto v : {MatmulVariant::coopmat2, MatmulVariant::coopmat})
    if (matmul_unavailable(ctx, v, in, out, weight).empty()) return v;
  return MatmulVariant::portable;
}

void matmul(vk::Recorder& rec, Tensor& c, const Tensor& a, const Tensor& b,
            const MatmulOptions& options) {
  // A block-quantized B is a frozen weight: one matrix, read by the kernels' BLOCK variants,
  // which decode its blocks tile by tile.
  const bool quantized = dtype_is_block(b.dtype);
  if (quantized) {
    require_float("matmul", a);
    if (b.shape.size() != 2)
      fail("[matmul] a quantized B must be one [rows, cols] matrix: {}", b.describe());
  } else {
    require_same_dtype("matmul", a, b);
  }
  Shape sa = matrix_shape("A", a), sb = matrix_shape("B", b), sc = matrix_shape("C", c);
  uint64_t M = options.trans_a ? sa.cols : sa.rows, K = options.trans_a ? sa.rows : sa.cols;
  uint64_t N = options.trans_b ? sb.rows : sb.cols, KB = options.trans_b ? sb.cols : sb.rows;
  if (K != KB || sc.rows != M || sc.cols != N || sa.batch != sc.batch ||
      (sb.batch != 1 && sb.batch != sc.batch))
    fail("[matmul] shapes do not fit: A {}{}, B {}{}, C {}", a.describe(),
         options.trans_a ? " transposed" : "", b.describe(), options.trans_b ? " transposed" : "",
         c.describe());
  for (const Shape* s : {&sa, &sb, &sc})
    if (s->rows * s->cols >= (1ull << 32))
      fail("[matmul] one matrix of {} elements is over the 2^32 a kernel indexes; split it",
           s->rows * s->cols);
  auto& ctx = rec.context();
  // A few rows of products on a quantized weight (generation) are bound by reading it, not by
  // matrix units: the vector kernel reads each block once where it can run, else the portable one.
  const bool vector_shape = options.trans_b && !options.trans_a && M <= kMatmulVectorRows;
  MatmulVariant variant = options.variant;
  if (variant == MatmulVariant::automatic && quantized && M <= kMatmulVectorRows)
    variant = vector_shape && matmul_unavailable(ctx, MatmulVariant::vector, a.dtype, c.dtype,
                                                 b.dtype).empty()
                  ? MatmulVariant::vector
                  : MatmulVariant::portable;
  else if (variant == MatmulVariant::automatic)
    variant = matmul_choose(ctx, a.dtype, c.dtype, b.dtype);
  if (auto why = matmul_unavailable(ctx, variant, a.dtype, c.dtype, b.dtype); !why.empty())
    fail("[matmul] variant {} cannot run: {}; use the portable variant",
         matmul_variant_name(variant), why);
  if (variant == MatmulVariant::vector && !vector_shape)
    fail("[matmul] variant vector takes x W^T (trans_b, no trans_a) with at most {} rows of x, "
         "not {} rows{}{}; use the portable variant", kMatmulVectorRows, M,
         options.trans_b ? "" : " and W untransposed", options.trans_a ? " and x transposed" : "");
  if (!M || !N || !sc.batch) return;
  const MatmulAddend& addend = options.addend;
  if (addend.a) {
    require_same_dtype("matmul", a, *addend.a);
    require_same_dtype("matmul", a, *addend.b);
    Shape s2a = matrix_shape("A2", *addend.a), s2b = matrix_shape("B2", *addend.b);
    uint64_t K2 = s2a.cols;
    if (s2a.rows != M || (addend.trans_b ? s2b.rows != N || s2b.cols != K2
                                         : s2b.rows != K2 || s2b.cols != N) ||
        s2a.batch != 1 || s2b.batch != 1 || sc.batch != 1)
      fail("[matmul] the addend does not fit C {}: A2 {}, B2 {}{}", c.describe(),
           addend.a->describe(), addend.b->describe(), addend.trans_b ? " transposed" : "");
  }

  bool contiguous = a.memory.spans().size() == 1 && b.memory.spans().size() == 1 &&
                    c.memory.spans().size() == 1;
  // Where K runs along a quantized B's rows, every cut of K (split-K parts, dispatches under the
  // loop limit) must fall on a block boundary.
  const uint64_t k_unit = quantized && options.trans_b ? dtype_block(b.dtype).elements : 1;
  uint32_t splits = options.split_k;
  if (splits > 1 && (!contiguous || sc.batch != 1 || K % (splits * k_unit) != 0))
    fail("[matmul] split_k {} needs one matrix in one allocation and a K ({}) it divides{}",
         splits, K, k_unit > 1 ? fmt::format(" into whole {}-value blocks", k_unit) : "");
  Kernel kernel = pick_kernel(ctx, variant, a.dtype, c.dtype, M, N, K, b.dtype);
  const uint64_t max_k = max_k_per_dispatch(ctx, kernel) / k_unit * k_unit;
  if (splits > 1 && K / splits > max_k)
    fail("[matmul] split_k {} leaves parts of K {} longer than the {} one dispatch may loop over "
         "on '{}'", splits, K / splits, max_k, ctx.caps().name);
  uint32_t groups_x = uint32_t((N + kernel.tile_n - 1) / kernel.tile_n);
  uint32_t groups_y = uint32_t((M + kernel.tile_m - 1) / kernel.tile_m);
  if (splits == 0)
    splits = contiguous && sc.batch == 1
                 ? choose_splits(ctx, uint64_t(groups_x) * groups_y, K, k_unit)
                 : 1;

  kernels::MatmulPush push{};
  push.lda = uint32_t(sa.cols);
  push.ldb = uint32_t(sb.cols);
  push.ldc = uint32_t(sc.cols);
  push.alpha = options.alpha;
  auto whole = [](const Tensor& t, const Location& at, uint64_t elements) {
    return piece_range(t, at, std::min(elements, at.contiguous));
  };
  bool fuse_addend = addend.a && variant == MatmulVariant::coopmat2 && contiguous &&
                     !(tile_override() && tile_override()->unfused) &&
                     splits <= 1 && K <= max_k && addend.alpha != 0.0f &&
                     addend.a->memory.spans().size() == 1 && addend.b->memory.spans().size() == 1;
  if (takes_slabs(ctx, options, a, b, c, M, K, sc.batch, variant)) {
    slab_product(rec, variant, c, a, b, options, M, N, K);
    return;
  }
  if (addend.a && !fuse_addend) {
    MatmulOptions first = options, second;
    first.addend = {};
    matmul(rec, c, a, b, first);
    second.trans_b = addend.trans_b;
    second.alpha = addend.alpha;
    second.beta = 1.0f;
    // The branch's B2 is a float matrix, which the vector kernel does not take.
    second.variant = options.variant == MatmulVariant::vector ? MatmulVariant::automatic
                                                              : options.variant;
    matmul(rec, c, *addend.a, *addend.b, second);
    return;
  }
  if (splits > 1) {
    split_product(rec, variant, c, a, b, options, M, N, K, splits);
    return;
  }

  std::vector<uint32_t> spec = {options.trans_a, options.trans_b};
  spec.insert(spec.end(), kernel.spec.begin(), kernel.spec.end());
  std::vector<vk::ByteRange> addend_reads;
  if (fuse_addend) addend_reads = fuse_addend_push(addend, 0, push, spec);
  VkPipeline p = pipeline(ctx, kernel.name, spec, kernel.subgroup_size);
  std::string label = fmt::format("matmul {} {} {}x{}x{} {}{}", kernel.name, tile_name(kernel), M,
                                  N, K, transposes(options), fuse_addend ? " + addend" : "");

  if (contiguous && K <= max_k) {
    // One dispatch covers every batch (split only at the device's z limit).
    uint32_t max_z = ctx.caps().max_workgroup_count[2];
    for (uint64_t first = 0; first < sc.batch; first += max_z) {
      uint32_t count = uint32_t(std::min<uint64_t>(sc.batch - first, max_z));
      uint64_t first_b = sb.batch == 1 ? 0 : first;
      Location la = locate(a, first * sa.rows * sa.cols), lb = locate(b, first_b * sb.rows * sb.cols),
               lc = locate(c, first * sc.rows * sc.cols);
      push.a = la.address();
      push.b = lb.address();
      push.c = lc.address();
      push.stride_a = sa.rows * sa.cols;
      push.stride_b = sb.batch == 1 ? 0 : sb.rows * sb.cols;
      push.stride_c = sc.rows * sc.cols;
      push.M = uint32_t(M);
      push.N = uint32_t(N);
      push.K = uint32_t(K);
      push.beta = options.beta;
      push.aligned = is_aligned(push, dtype_size(a.dtype), dtype_size(c.dtype), kernel.tile_k,
                                quantized);
      std::vector<vk::ByteRange> reads = {whole(a, la, count * push.stride_a),
                                          whole(b, lb, std::max<uint64_t>(count * push.stride_b, sb.rows * sb.cols))};
      if (options.beta != 0.0f) reads.push_back(whole(c, lc, count * push.stride_c));
      reads.insert(reads.end(), addend_reads.begin(), addend_reads.end());
      rec.dispatch(label, p, &push, sizeof push, groups_x, groups_y, count, reads,
                   {whole(c, lc, count * push.stride_c)});
    }
    return;
  }

  // Operands split over several allocations, or a K longer than one dispatch may loop over: one
  // matrix at a time, cut into blocks that each lie inside one span of every operand and take at
  // most max_k of K. Blocks along K after the first accumulate (beta 1), in order.
  push.stride_a = push.stride_b = push.stride_c = 0;
  for (uint64_t index = 0; index < sc.batch; ++index) {
    uint64_t index_b = sb.batch == 1 ? 0 : index;
    auto breaks_a = span_breaks(a, index, sa), breaks_b = span_breaks(b, index_b, sb),
         breaks_c = span_breaks(c, index, sc);
    std::vector<uint64_t> none, k_steps = max_k < K ? multiples_below(K, max_k) : none;
    auto m_cuts = cuts(M, {options.trans_a ? &none : &breaks_a, &breaks_c});
    auto k_cuts = cuts(K, {options.trans_a ? &breaks_a : &none, options.trans_b ? &none : &breaks_b,
                           &k_steps});
    auto n_cuts = cuts(N, {options.trans_b ? &breaks_b : &none});
    for (uint64_t k : options.trans_a ? breaks_a : none)
      if (k % k_unit)
        fail("[matmul] {} continues in another allocation at row {}, inside a {}-value block of "
             "{}; allocate A in one piece", a.describe(), k, k_unit, b.describe());
    for (size_t mi = 0; mi + 1 < m_cuts.size(); ++mi) {
      for (size_t ni = 0; ni + 1 < n_cuts.size(); ++ni) {
        for (size_t ki = 0; ki + 1 < k_cuts.size(); ++ki) {
          uint64_t m0 = m_cuts[mi], m1 = m_cuts[mi + 1], n0 = n_cuts[ni], n1 = n_cuts[ni + 1],
                   k0 = k_cuts[ki], k1 = k_cuts[ki + 1];
          auto element = [](const Shape& s, uint64_t i, uint64_t row, uint64_t col) {
            return (i * s.rows + row) * s.cols + col;
          };
          Location la = locate(a, options.trans_a ? element(sa, index, k0, m0) : element(sa, index, m0, k0));
          Location lb = locate(b, options.trans_b ? element(sb, index_b, n0, k0) : element(sb, index_b, k0, n0));
          Location lc = locate(c, element(sc, index, m0, n0));
          push.a = la.address();
          push.b = lb.address();
          push.c = lc.address();
          push.M = uint32_t(m1 - m0);
          push.N = uint32_t(n1 - n0);
          push.K = uint32_t(k1 - k0);
          push.beta = ki == 0 ? options.beta : 1.0f;
          uint64_t rows_a = options.trans_a ? k1 - k0 : m1 - m0;
          uint64_t rows_b = options.trans_b ? n1 - n0 : k1 - k0;
          std::vector<vk::ByteRange> reads = {whole(a, la, rows_a * sa.cols),
                                              whole(b, lb, rows_b * sb.cols)};
          if (push.beta != 0.0f) reads.push_back(whole(c, lc, (m1 - m0) * sc.cols));
          rec.dispatch(label, p, &push, sizeof push,
                       uint32_t((push.N + kernel.tile_n - 1) / kernel.tile_n),
                       uint32_t((push.M + kernel.tile_m - 1) / kernel.tile_m), 1, reads,
                       {whole(c, lc, (m1 - m0) * sc.cols)});
        }
      }
    }
  }
}

}  // namespace vktrain::ops
