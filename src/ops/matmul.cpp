#include "ops/matmul.hpp"

#include <set>

#include "ops/dispatch.hpp"
#include "ops/matmul_parts.hpp"

namespace vktrain::ops {
namespace {

using namespace matmul_parts;

struct Shape {
  uint64_t batch, rows, cols;  // a tensor seen as `batch` matrices of rows x cols
};

Shape matrix_shape(const char* what, const Tensor& t) {
  if (t.shape.size() < 2) fail("[matmul] {} must have at least 2 dimensions: {}", what, t.describe());
  uint64_t rows = uint64_t(t.shape[t.shape.size() - 2]), cols = t.cols();
  uint64_t size = rows * cols;
  return {size ? t.numel() / size : 0, rows, cols};
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

// Multiples of `step` below `size` (cut points).
std::vector<uint64_t> multiples_below(uint64_t size, uint64_t step) {
  std::vector<uint64_t> points;
  for (uint64_t at = step; at < size; at += step) points.push_back(at);
  return points;
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
  Location la = locate(a, 0), lb = locate(b, 0);

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

  sum_partials(rec, partials, splits, c, M, N, options.alpha, options.beta);
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
  // A weight read through slabs only is multiplied by the float kernels.
  const bool slabs_only = dtype_is_block(weight) && !has_fused_kernels(weight);
  std::string kernel =
      pick_kernel(ctx, variant, in, out, 64, 64, 64, slabs_only ? in : weight).name;
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
      if (slabs_only)
        return fmt::format("{} has no vector kernel: slabs decode it for the float kernels",
                           dtype_name(weight));
      if (!caps.subgroup_arithmetic) return fmt::format("'{}' lacks subgroup arithmetic", caps.name);
      if (!kernels::find(kernel)) return "this build's glslc could not compile " + kernel;
      return "";
  }
  return "";
}

uint64_t matmul_slab_scratch_bytes(const vk::Capabilities& caps, DType in, DType weight) {
  if (!dtype_is_block(weight)) return 0;
  return !has_fused_kernels(weight) || (in != DType::f32 && caps.is_gpu()) ? kMatmulSlabBytes : 0;
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
