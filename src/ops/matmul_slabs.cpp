// ops::matmul on a block-quantized weight decoded a slab at a time into the recording's workspace
// in A's type and multiplied by the float kernels (MatmulOptions::quantized_read, slabs).
#include <algorithm>

#include "ops/dispatch.hpp"
#include "ops/matmul_parts.hpp"

namespace vktrain::ops::matmul_parts {

namespace {

// W's dims and bytes as a slab product sees them, and where its decoded slabs go.
struct Slabs {
  const Tensor& w;
  Location lw;
  vk::ByteRange w_read;
  VkPipeline decode;
  uint64_t element;  // bytes of A's type, the slab's
};

// Decodes `rows` x `cols` values of W from byte `src` (rows w.row_bytes() apart) into `at`,
// row-major, and returns the decoded range.
vk::ByteRange decode(vk::Recorder& rec, const Slabs& s, uint64_t src, uint64_t rows, uint64_t cols,
                     const vk::Span& slab, uint64_t at) {
  kernels::DequantizePush d{};
  d.src = src;
  d.dst = slab.address + at;
  d.src_stride = s.w.row_bytes();
  d.rows = uint32_t(rows);
  d.cols = uint32_t(cols);
  const vk::ByteRange range = vk::range_of(slab, at, rows * cols * s.element);
  rec.dispatch("matmul dequantize " + std::string(dtype_name(s.w.dtype)), s.decode, &d, sizeof d,
               stride_groups(rec.context(), rows * cols / 8), 1, 1, {s.w_read}, {range});
  return range;
}

// `variant`'s float kernel on push (addresses, leading dimensions, sizes, alpha and beta set),
// in A's type `in` into `out`, with `addend` added in the same pass where it is given.
void multiply(vk::Recorder& rec, MatmulVariant variant, const MatmulOptions& options, DType in,
              DType out, kernels::MatmulPush& push, std::vector<vk::ByteRange> reads,
              const vk::ByteRange& written, const MatmulAddend* addend, uint64_t n0) {
  auto& ctx = rec.context();
  Kernel kernel = pick_kernel(ctx, variant, in, out, push.M, push.N, push.K, in);
  std::vector<uint32_t> spec = {options.trans_a, options.trans_b};
  spec.insert(spec.end(), kernel.spec.begin(), kernel.spec.end());
  if (addend) {
    auto addend_reads = fuse_addend_push(*addend, n0, push, spec);
    reads.insert(reads.end(), addend_reads.begin(), addend_reads.end());
  }
  push.aligned = is_aligned(push, dtype_size(in), dtype_size(out), kernel.tile_k, false);
  rec.dispatch(fmt::format("matmul {} {} {}x{}x{} {} slab{}", kernel.name, tile_name(kernel),
                           push.M, push.N, push.K, transposes(options), addend ? " + addend" : ""),
               pipeline(ctx, kernel.name, spec, kernel.subgroup_size), &push, sizeof push,
               uint32_t(ceil_div(push.N, kernel.tile_n)), uint32_t(ceil_div(push.M, kernel.tile_m)), 1, reads,
               {written});
}

// Rows of W a slab along K takes for dy W (W [K, N]), or 0 where slabs along N serve. A slab
// along N holds whole columns, all K of them: with K a vocabulary (a head's input gradient,
// K = 151,936) a 64 MiB slab is 256 columns, and each of its products has too few output tiles
// to fill a GPU (H100, Qwen3-8B: 16 slabs a chunk, 111 ms where the same FLOPs take ~25 ms at
// N 4096). Slabs of whole rows multiply into an f32 [M, N] sum beside them instead, where that
// sum takes at most half the budget.
uint64_t k_slab_rows(const MatmulOptions& options, uint64_t M, uint64_t N, uint64_t element,
                     uint64_t budget, uint64_t n_slab_width) {
  constexpr uint64_t kThin = 1024;
  const uint64_t sum = M * N * 4;
  if (options.trans_b || n_slab_width >= std::min(N, kThin) || 2 * sum > budget) return 0;
  return std::max<uint64_t>(256, (budget - sum) / (N * element) / 256 * 256);
}

}  // namespace

bool has_fused_kernels(DType weight) { return weight != DType::mxfp4; }

bool takes_slabs(const vk::Context& ctx, const MatmulOptions& options, const Tensor& a,
                 const Tensor& b, const Tensor& c, uint64_t M, uint64_t K, uint64_t batch,
                 MatmulVariant variant) {
  if (!dtype_is_block(b.dtype)) return false;
  const bool slabs_only = !has_fused_kernels(b.dtype);
  if (options.quantized_read == QuantizedRead::fused) {
    if (slabs_only)
      fail("[matmul] {}: {} has no fused kernels, only slabs decode it; leave quantized_read "
           "automatic", b.describe(), dtype_name(b.dtype));
    return false;
  }
  const MatmulAddend& addend = options.addend;
  const bool one_span = a.memory.spans().size() == 1 && b.memory.spans().size() == 1 &&
                        c.memory.spans().size() == 1 &&
                        (!addend.a || (addend.a->memory.spans().size() == 1 &&
                                       addend.b->memory.spans().size() == 1));
  const uint64_t max_k =
      max_k_per_dispatch(ctx, pick_kernel(ctx, variant, a.dtype, c.dtype, M, 256, K, a.dtype));
  const bool runs = variant != MatmulVariant::vector && batch == 1 && one_span && K <= max_k;
  if (slabs_only) {
    if (!runs)
      fail("[matmul] {} is read through slabs only, which take one unbatched matrix per operand "
           "in one allocation and a K one dispatch may loop over: {} (A {}, C {})",
           b.describe(),
           batch != 1  ? "A is batched; give its rows as one matrix"
           : !one_span ? "an operand spans several allocations"
                       : fmt::format("K {} is past the {} here", K, max_k),
           a.describe(), c.describe());
    return true;
  }
  const bool fits = runs && a.dtype != DType::f32 && M > kMatmulVectorRows;
  if (options.quantized_read == QuantizedRead::slabs) {
    if (!fits)
      fail("[matmul] slabs of {} take 16-bit A ({}) of more than {} rows, one matrix in one "
           "allocation per operand, a K one dispatch may loop over and a variant other than "
           "vector", b.describe(), a.describe(), kMatmulVectorRows);
    return true;
  }
  return fits && ctx.caps().is_gpu();
}

// Slabs along N: W's rows [n0, n1) for x W^T, its columns [n0, n1) (whole blocks) for dy W, each
// multiplied into C's columns [n0, n1); slabs of 256 values or multiples (every block size
// divides 256) unless one covers N. Slabs along K (k_slab_rows): W's rows [k0, k1), whole, each
// multiplied into an f32 sum that then becomes C.
void slab_product(vk::Recorder& rec, MatmulVariant variant, Tensor& c, const Tensor& a,
                  const Tensor& w, const MatmulOptions& options, uint64_t M, uint64_t N,
                  uint64_t K) {
  auto& ctx = rec.context();
  const uint64_t element = dtype_size(a.dtype), budget = options.slab_bytes ? options.slab_bytes
                                                                             : kMatmulSlabBytes;
  const uint64_t width = std::min(N, std::max<uint64_t>(256, budget / (K * element) / 256 * 256));
  const DTypeBlock block = dtype_block(w.dtype);
  const MatmulAddend& addend = options.addend;
  Location la = locate(a, 0), lw = locate(w, 0), lc = locate(c, 0);
  const Slabs s{w, lw, piece_range(w, lw, w.numel()),
                pipeline(ctx, fmt::format("dequantize_{}_{}", dtype_name(w.dtype),
                                          dtype_name(a.dtype))),
                element};
  const vk::ByteRange a_read = piece_range(a, la, a.numel());
  const vk::ByteRange c_range = piece_range(c, lc, c.numel());
  kernels::MatmulPush push{};
  push.a = la.address();
  push.lda = uint32_t(a.cols());
  push.M = uint32_t(M);

  if (const uint64_t rows = k_slab_rows(options, M, N, element, budget, width)) {
    const uint64_t sum_bytes = M * N * 4, slab_at = ceil_div(sum_bytes, 256) * 256;
    const vk::Span& space = rec.workspace(slab_at + std::min(rows, K) * N * element);
    const vk::ByteRange sum_range = vk::range_of(space, 0, sum_bytes);
    for (uint64_t k0 = 0; k0 < K; k0 += rows) {
      const uint64_t k = std::min(rows, K - k0);
      const vk::ByteRange slab = decode(rec, s, lw.address() + k0 * w.row_bytes(), k, N, space,
                                        slab_at);
      push.a = la.address() + (options.trans_a ? k0 * push.lda : k0) * element;
      push.b = space.address + slab_at;
      push.c = space.address;
      push.ldb = push.ldc = push.N = uint32_t(N);
      push.K = uint32_t(k);
      push.alpha = 1.0f;
      push.beta = k0 == 0 ? 0.0f : 1.0f;
      std::vector<vk::ByteRange> reads = {a_read, slab};
      if (k0) reads.push_back(sum_range);
      multiply(rec, variant, options, a.dtype, DType::f32, push, reads, sum_range, nullptr, 0);
    }
    sum_partials(rec, space, 1, c, M, N, options.alpha, options.beta);
  } else {
    const vk::Span& space = rec.workspace(width * K * element);
    const bool fuse = addend.a && variant == MatmulVariant::coopmat2 && addend.alpha != 0.0f &&
                      !(tile_override() && tile_override()->unfused);
    for (uint64_t n0 = 0; n0 < N; n0 += width) {
      const uint64_t n = std::min(N, n0 + width) - n0;
      const vk::ByteRange slab =
          options.trans_b ? decode(rec, s, lw.address() + n0 * w.row_bytes(), n, K, space, 0)
                          : decode(rec, s, lw.address() + n0 / block.elements * block.bytes, K, n,
                                   space, 0);
      push.b = space.address;
      push.c = lc.address() + n0 * dtype_size(c.dtype);
      push.ldb = uint32_t(options.trans_b ? K : n);
      push.ldc = uint32_t(N);
      push.N = uint32_t(n);
      push.K = uint32_t(K);
      push.alpha = options.alpha;
      push.beta = options.beta;
      std::vector<vk::ByteRange> reads = {a_read, slab};
      if (options.beta != 0.0f) reads.push_back(c_range);
      multiply(rec, variant, options, a.dtype, c.dtype, push, reads, c_range,
               fuse ? &addend : nullptr, n0);
    }
    if (fuse) return;
  }
  if (addend.a) {
    MatmulOptions second;
    second.trans_b = addend.trans_b;
    second.alpha = addend.alpha;
    second.beta = 1.0f;
    second.variant = variant;
    matmul(rec, c, *addend.a, *addend.b, second);
  }
}

}  // namespace vktrain::ops::matmul_parts
