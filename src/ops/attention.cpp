#include "ops/attention.hpp"

#include <cmath>

#include "kernels/attention_push.h"
#include "kernels/push.h"
#include "ops/attention_tiles.hpp"
#include "ops/dispatch.hpp"
#include "ops/elementwise.hpp"
#include "ops/matmul.hpp"

namespace vktrain::ops {
namespace {

using namespace attention_tiles;

constexpr int64_t kMaxHeadDim = 256;
constexpr uint32_t kSharedLimit = 32 << 10;  // shared memory a portable kernel may use
constexpr uint32_t kDeltaRows = 16;         // rows per workgroup step of attention_delta
// Workgroups that fill a large GPU, as split-K aims at (ops/matmul.cpp): about 2 per SM of an
// H100's 132.
constexpr uint64_t kFillGroups = 256;

struct Dims {
  uint32_t B, T, Hq, Hkv, D;
};

void require_like(const char* op, const Tensor& t, const Tensor& model) {
  if (t.shape != model.shape || t.dtype != model.dtype)
    fail("[{}] {} must have the shape and dtype of {}", op, t.describe(), model.describe());
}

// One span (the kernels address each tensor as one buffer) and 32-bit element indices.
void require_addressable(const char* op, const Tensor& t) {
  if (t.memory.spans().size() > 1)
    fail("[{}] {} lies in {} allocation spans; attention needs each tensor in one", op,
         t.describe(), t.memory.spans().size());
  if (t.numel() >= (1ull << 32))
    fail("[{}] {} has {} elements, over the 2^32 the kernels index; split the batch", op,
         t.describe(), t.numel());
}

// sinks and dsinks: one f32 per query head.
void require_sinks(const char* op, const char* name, const Tensor& t, const Dims& d) {
  if (t.dtype != DType::f32 || t.shape != std::vector<int64_t>{int64_t(d.Hq)})
    fail("[{}] {} must be f32 [Hq] = [{}], one per query head, got {}", op, name, d.Hq,
         t.describe());
  require_addressable(op, t);
}

Dims check_inputs(const char* op, const Tensor& q, const Tensor& k, const Tensor& v,
                  const AttentionOptions& options) {
  if (q.shape.size() != 4) fail("[{}] q must be [B, T, Hq, D], got {}", op, q.describe());
  if (k.shape.size() != 4 || k.shape[0] != q.shape[0] || k.shape[1] != q.shape[1] ||
      k.shape[3] != q.shape[3])
    fail("[{}] k must be [B, T, Hkv, D] with the B, T and D of q {}, got {}", op, q.describe(),
         k.describe());
  require_float(op, q);
  require_same_dtype(op, q, k);
  require_like(op, v, k);
  Dims d{uint32_t(q.shape[0]), uint32_t(q.shape[1]), uint32_t(q.shape[2]), uint32_t(k.shape[2]),
         uint32_t(q.shape[3])};
  if (d.Hkv == 0 || d.Hq % d.Hkv != 0)
    fail("[{}] the query heads of {} must be a multiple of the kv heads of {}", op, q.describe(),
         k.describe());
  if (q.shape[3] > kMaxHeadDim)
    fail("[{}] head_dim {} of {} is over the {} the kernels hold", op, q.shape[3], q.describe(),
         kMaxHeadDim);
  if (!std::isfinite(options.scale))
    fail("[{}] options.scale is not set: pass the softmax scale (1/sqrt(head_dim) for most "
         "models)", op);
  if (options.window < 0) fail("[{}] options.window is negative ({})", op, options.window);
  if (const Tensor* docs = options.documents) {
    if (docs->dtype != DType::i32 || docs->shape != std::vector<int64_t>{q.shape[0], q.shape[1]})
      fail("[{}] documents must be i32 [B, T] = [{}, {}], got {}", op, q.shape[0], q.shape[1],
           docs->describe());
    require_addressable(op, *docs);
  }
  if (const Tensor* sinks = options.sinks) require_sinks(op, "sinks", *sinks, d);
  for (const Tensor* t : {&q, &k, &v}) require_addressable(op, *t);
  return d;
}

void require_lse(const char* op, const Tensor& lse, const Dims& d) {
  if (lse.dtype != DType::f32 ||
      lse.shape != std::vector<int64_t>{int64_t(d.B), int64_t(d.Hq), int64_t(d.T)})
    fail("[{}] lse must be f32 [B, Hq, T] = [{}, {}, {}], got {}", op, d.B, d.Hq, d.T,
         lse.describe());
  require_addressable(op, lse);
}

uint64_t address(const Tensor& t) { return locate(t, 0).address(); }
vk::ByteRange whole(const Tensor& t) { return piece_range(t, locate(t, 0), t.numel()); }

// The fields every tiled kernel's push shares: inputs and ATTENTION_SHAPE. A window that covers
// the whole sequence is no window.
template <typename Push>
void fill_common(Push& push, const Tensor& q, const Tensor& k, const Tensor& v, const Dims& d,
                 const AttentionOptions& options) {
  push.q = address(q);
  push.k = address(k);
  push.v = address(v);
  push.documents = options.documents ? address(*options.documents) : 0;
  push.T = d.T;
  push.heads_q = d.Hq;
  push.heads_kv = d.Hkv;
  push.causal = options.causal;
  push.window = options.window >= d.T ? 0 : uint32_t(options.window);
  push.scale = options.scale;
}

std::vector<vk::ByteRange> reads_of(std::initializer_list<const Tensor*> tensors,
                                    const AttentionOptions& options) {
  std::vector<vk::ByteRange> reads;
  for (const Tensor* t : tensors) reads.push_back(whole(*t));
  if (options.documents) reads.push_back(whole(*options.documents));
  return reads;
}

// A kernel's specialization after its tiles': the forward's SINKS (whether it reads the sinks,
// a constant so that a kernel without them holds no load or branch of theirs); a backward
// kernel's dk/dv parts (attention_kv_parts.glsl), then whether the gradients are added into
// (ACCUMULATE). Constants, not push values: a run-time choice of the store slowed the dk/dv
// kernel at Qwen3-1.7B's shape from 0.383 to 0.541 ms on an H100 (bench/RESULTS.md).
struct KernelSpec {
  std::vector<uint32_t> values;
  uint32_t kv_parts = 0;  // 0: no dk/dv kernel, or it runs whole

  static KernelSpec forward(bool sinks) { return {{uint32_t(sinks)}}; }
  static KernelSpec backward(uint32_t kv_parts, bool accumulate) {
    KernelSpec spec{{}, kv_parts};
    if (kv_parts > 0) spec.values.push_back(kv_parts);
    spec.values.push_back(accumulate);
    return spec;
  }
  // " N parts" after the dk/dv kernel's profile label where it runs in parts.
  std::string note() const { return kv_parts > 1 ? fmt::format(" {} parts", kv_parts) : ""; }
};

// Own tiles x heads x batch workgroups, within the device's counts.
void require_groups(const vk::Capabilities& caps, const char* kernel, uint32_t groups,
                    uint32_t heads, const Dims& d) {
  if (groups > caps.max_workgroup_count[0] || heads > caps.max_workgroup_count[1] ||
      d.B > caps.max_workgroup_count[2])
    fail("[{}] {} tiles x {} heads x batch {} is over the device's workgroup counts", kernel,
         groups, heads, d.B);
}

// Records one tiled kernel over (own tiles, heads, batch) with its specialization; the dk/dv
// kernel in parts over (key tiles, kv heads x parts, batch).
void dispatch_tiled(vk::Recorder& rec, const char* kernel, const Tiles& tiles, const Dims& d,
                    DType dtype, uint32_t heads, const void* push, uint32_t push_bytes,
                    const std::vector<vk::ByteRange>& reads,
                    const std::vector<vk::ByteRange>& writes, const KernelSpec& extra) {
  auto& ctx = rec.context();
  const auto& caps = ctx.caps();
  uint64_t shared = tiles.shared_bytes(d.D), limit = std::min(kSharedLimit, caps.max_shared_memory);
  if (shared > limit)
    fail("[{}] tiles for head_dim {} need {} bytes of shared memory, over the {} allowed on '{}'",
         kernel, d.D, shared, limit, caps.name);
  uint32_t groups = (d.T + tiles.own - 1) / tiles.own;
  require_groups(caps, kernel, groups, heads, d);
  // A thread visits the other side's tiles once per query head of its own: Hq / heads of them
  // (the dk/dv kernel's heads are kv heads, each in parts).
  const uint64_t visits = ceil_div(d.T, tiles.visit) * ceil_div(d.Hq, heads);
  require_loop_budget(ctx, kernel, visits * tiles.loop_iterations_per_visit(d.D),
                      fmt::format("attention over {} keys of head_dim {}", d.T, d.D));
  std::vector<uint32_t> spec = tiles.spec(d.D);
  spec.insert(spec.end(), extra.values.begin(), extra.values.end());
  VkPipeline p = pipeline(ctx, fmt::format("{}_{}", kernel, dtype_name(dtype)), spec);
  rec.dispatch(kernel + extra.note(), p, push, push_bytes, groups, heads, d.B, reads, writes);
}

void dispatch_coopmat(vk::Recorder& rec, const CoopmatTiles& tiles, CoopmatKernel kernel,
                      const Dims& d, DType dtype, uint32_t heads, const void* push,
                      uint32_t push_bytes, const std::vector<vk::ByteRange>& reads,
                      const std::vector<vk::ByteRange>& writes, const KernelSpec& extra) {
  auto& ctx = rec.context();
  if (tiles.row_blocks == 0 || tiles.row_blocks > 4 || tiles.visit % tiles.fragment != 0 ||
      tiles.visit > 64)
    fail("[{}] coopmat tiles of {} row blocks and {} visited rows: use 1 to 4 row blocks and a "
         "multiple of {} up to 64 rows", tiles.name, tiles.row_blocks, tiles.visit, tiles.fragment);
  uint64_t shared = tiles.shared_bytes(kernel, d.D);
  if (shared > ctx.caps().max_shared_memory)
    fail("[{}] coopmat tiles of {} x {} rows at head_dim {} need {} bytes of shared memory, over "
         "the {} of '{}'",
         tiles.name, tiles.own(), tiles.visit, d.D, shared, ctx.caps().max_shared_memory,
         ctx.caps().name);
  uint32_t groups = uint32_t(ceil_div(d.T, tiles.own()));
  require_groups(ctx.caps(), tiles.name, groups, heads, d);
  std::string name = fmt::format("{}_coopmat_{}", tiles.name, dtype_name(dtype));
  std::vector<uint32_t> spec = tiles.spec(d.D);
  spec.insert(spec.end(), extra.values.begin(), extra.values.end());
  VkPipeline p = pipeline(ctx, name, spec, ctx.caps().subgroup_size_control ? tiles.subgroup : 0);
  rec.dispatch(name + extra.note(), p, push, push_bytes, groups, heads, d.B, reads, writes);
}

void dispatch_coopmat2(vk::Recorder& rec, const Coopmat2Tiles& tiles, const Dims& d, DType dtype,
                       uint32_t heads, const void* push, uint32_t push_bytes,
                       const std::vector<vk::ByteRange>& reads,
                       const std::vector<vk::ByteRange>& writes, const KernelSpec& extra) {
  auto& ctx = rec.context();
  auto rows_ok = [](uint32_t rows) { return rows >= 16 && rows <= 128 && rows % 16 == 0; };
  if (!rows_ok(tiles.own) || !rows_ok(tiles.visit) || tiles.threads < 32 || tiles.threads > 256 ||
      tiles.threads % 32 != 0)
    fail("[{}] coopmat2 tiles of {} x {} rows over {} threads: use multiples of 16 up to 128 rows "
         "and 32 to 256 threads, a multiple of 32", tiles.name, tiles.own, tiles.visit,
         tiles.threads);
  uint32_t groups = uint32_t(ceil_div(d.T, tiles.own));
  require_groups(ctx.caps(), tiles.name, groups, heads, d);
  std::string name = fmt::format("{}_coopmat2_{}", tiles.name, dtype_name(dtype));
  std::vector<uint32_t> spec = tiles.spec(d.D);
  spec.insert(spec.end(), extra.values.begin(), extra.values.end());
  rec.dispatch(name + extra.note(), pipeline(ctx, name, spec), push, push_bytes, groups, heads,
               d.B, reads, writes);
}

// The parts the dk/dv kernel cuts each key tile's query visits into (attention_kv_parts.glsl),
// for key tiles of `key_rows` and query tiles of `query_rows`: the asked number, else on a GPU
// the power of two that brings the B x Hkv x key tiles workgroups to kFillGroups without more
// parts than the busiest workgroup has visits (1 on a CPU driver, whose few cores the tiles fill
// already). Gemma-3-1B at B 8, T 512 (one kv head): 64 workgroups, 4 parts, which beat 2 there
// (0.351 against 0.358 ms with the sum, 0.656 whole) and at B 1, T 4096 (1.74 against 2.26 ms,
// 4.44 whole) on an H100 (bench/RESULTS.md).
uint32_t choose_kv_parts(const vk::Context& ctx, const Dims& d, uint32_t key_rows,
                         uint32_t query_rows, const AttentionOptions& options) {
  if (options.kv_parts > 0) return options.kv_parts;
  if (!ctx.caps().is_gpu()) return 1;
  uint64_t groups = uint64_t(d.B) * d.Hkv * ceil_div(d.T, key_rows);
  uint64_t most_visits = uint64_t(d.Hq / d.Hkv) * ceil_div(d.T, query_rows);
  uint32_t parts = 1;
  while (groups * parts * 2 <= kFillGroups && parts * 2 <= most_visits) parts *= 2;
  return parts;
}

// dk and dv (+)= the ordered sums of the kernel's `parts` f32 partials, dk's then dv's, from
// `partials`, added or written as `store` says: matmul's split-K sum, each as a [B T Hkv, D]
// matrix.
void sum_kv_parts(vk::Recorder& rec, Tensor& dk, Tensor& dv, uint64_t partials,
                  const vk::ByteRange& partial_range, uint32_t parts, GradientStore store) {
  auto& ctx = rec.context();
  uint32_t D = uint32_t(dk.shape[3]), rows = uint32_t(dk.numel() / D);
  uint64_t bytes = uint64_t(parts) * dk.numel() * 4;
  VkPipeline sum = pipeline(ctx, fmt::format("matmul_reduce_{}", dtype_name(dk.dtype)));
  for (Tensor* grad : {&dk, &dv}) {
    kernels::MatmulReducePush push{partials + (grad == &dv ? bytes : 0), address(*grad), rows, D,
                                   D, parts, 1.0f, matmul_beta(store)};
    std::vector<vk::ByteRange> reads = {partial_range};
    if (store == GradientStore::add) reads.push_back(whole(*grad));
    rec.dispatch(fmt::format("attention_backward_kv sum of {} parts", parts), sum, &push,
                 sizeof push, stride_groups(ctx, dk.numel()), 1, 1, reads, {whole(*grad)});
  }
}

// Why `variant` cannot run this call: attention_unavailable's reason, or a tensor it loads in
// 16-byte vectors (coopmat) or through aligned tensor layouts (coopmat2) that is not aligned.
std::string call_unavailable(const vk::Context& ctx, AttentionVariant variant, const Tensor& q,
                             std::initializer_list<const Tensor*> vector_loads) {
  std::string why = attention_unavailable(ctx, variant, q.dtype, q.shape[3]);
  for (const Tensor* t : vector_loads)
    if (why.empty() && address(*t) % 16 != 0)
      why = fmt::format("{} does not start at a 16-byte boundary", t->describe());
  return why;
}

// The variant a call runs: the asked one (failing with the reason where it cannot run), or for
// automatic attention_automatic_variant's where the call's tensors let it run, else portable.
AttentionVariant resolve_variant(const char* op, const vk::Context& ctx,
                                 const AttentionOptions& options, const Tensor& q,
                                 std::initializer_list<const Tensor*> vector_loads) {
  if (options.variant == AttentionVariant::portable) return AttentionVariant::portable;
  if (options.variant == AttentionVariant::automatic) {
    const AttentionVariant chosen = attention_automatic_variant(ctx, q.dtype, q.shape[3]);
    if (chosen == AttentionVariant::portable) return chosen;
    return call_unavailable(ctx, chosen, q, vector_loads).empty() ? chosen
                                                                  : AttentionVariant::portable;
  }
  std::string why = call_unavailable(ctx, options.variant, q, vector_loads);
  if (why.empty()) return options.variant;
  fail("[{}] variant {} cannot run: {}; use the portable variant", op,
       attention_variant_name(options.variant), why);
}

// dsinks (+)= the sinks' gradient from lse and delta (attention_sinks_backward.comp): one
// workgroup per head over its B T rows.
void sinks_backward(vk::Recorder& rec, Tensor& dsinks, const Tensor& sinks, const Tensor& lse,
                    const Tensor& delta, const Dims& d, GradientStore store) {
  auto& ctx = rec.context();
  const bool adds = store == GradientStore::add;
  kernels::AttentionSinksBackwardPush push{address(sinks), address(lse),  address(delta),
                                           address(dsinks), d.B * d.T,    d.T,
                                           d.Hq,            uint32_t(adds)};
  if (d.Hq > ctx.caps().max_workgroup_count[0])
    fail("[attention_backward] {} query heads are over the device's workgroup counts", d.Hq);
  require_loop_budget(ctx, "attention_backward", ceil_div(push.rows, 256) + 8,
                      fmt::format("the sinks' gradient over {} rows", push.rows));
  std::vector<vk::ByteRange> reads = {whole(sinks), whole(lse), whole(delta)};
  if (adds) reads.push_back(whole(dsinks));
  rec.dispatch("attention_sinks_backward", pipeline(ctx, "attention_sinks_backward"), &push,
               sizeof push, d.Hq, 1, 1, reads, {whole(dsinks)});
}

}  // namespace

std::string_view attention_variant_name(AttentionVariant v) {
  switch (v) {
    case AttentionVariant::automatic: return "auto";
    case AttentionVariant::portable: return "portable";
    case AttentionVariant::coopmat: return "coopmat";
    case AttentionVariant::coopmat2: return "coopmat2";
  }
  return "?";
}

std::string attention_unavailable(const vk::Context& ctx, AttentionVariant variant, DType dtype,
                                  int64_t head_dim) {
  const auto& caps = ctx.caps();
  if (variant == AttentionVariant::coopmat2) {
    if (auto why = coopmat_dtype_unavailable(caps, dtype); !why.empty()) return why;
    if (head_dim > kMaxHeadDim) return fmt::format("head_dim {} is over {}", head_dim, kMaxHeadDim);
    if (!caps.coopmat2_nv_element_ops)
      return fmt::format("'{}' lacks VK_NV_cooperative_matrix2 with reductions and per-element "
                         "operations", caps.name);
    for (const char* kernel : {"attention_forward", "attention_backward_q", "attention_backward_kv"})
      if (std::string name = fmt::format("{}_coopmat2_{}", kernel, dtype_name(dtype));
          !kernels::find(name))
        return "this build's glslc could not compile " + name;
    return "";
  }
  if (variant != AttentionVariant::coopmat) return "";
  if (auto why = coopmat_dtype_unavailable(caps, dtype); !why.empty()) return why;
  if (head_dim % 16 != 0 || head_dim > kMaxHeadDim)
    return fmt::format("head_dim {} is no multiple of 16 up to {}", head_dim, kMaxHeadDim);
  const CoopmatFragment f = coopmat_khr_fragment(caps, dtype);
  if (!caps.coopmat_khr || !f.m || f.m != f.n || f.m != f.k)
    return fmt::format("'{}' lacks VK_KHR_cooperative_matrix with a 16x16x16 or 8x8x8 {} -> f32 "
                       "subgroup shape", caps.name, dtype_name(dtype));
  if (!matmul_coopmat_subgroup(caps)) return subgroup_size_unavailable(caps, caps.subgroup_size);
  for (auto kernel : {CoopmatKernel::forward, CoopmatKernel::backward_q, CoopmatKernel::backward_kv}) {
    CoopmatTiles tiles = coopmat_tiles(caps, kernel, dtype, uint32_t(head_dim));
    std::string name = fmt::format("{}_coopmat_{}", tiles.name, dtype_name(dtype));
    uint64_t shared = tiles.shared_bytes(kernel, uint32_t(head_dim));
    if (!kernels::find(name)) return "this build's glslc could not compile " + name;
    if (shared > caps.max_shared_memory)
      return fmt::format("{} needs {} bytes of shared memory at head_dim {}, over the {} of '{}'",
                         name, shared, head_dim, caps.max_shared_memory, caps.name);
  }
  return "";
}

// coopmat where it can run, on GPUs only: a CPU driver (lavapipe's 8x8x8) spends minutes
// compiling the coopmat kernels, which only the forced variant's tests run there. coopmat2 has
// not run on a GPU yet (none was lent when it was written): automatic takes it once its tests
// and bench_attention have passed on one.
AttentionVariant attention_automatic_variant(const vk::Context& ctx, DType dtype,
                                             int64_t head_dim) {
  if (!ctx.caps().is_gpu()) return AttentionVariant::portable;
  return attention_unavailable(ctx, AttentionVariant::coopmat, dtype, head_dim).empty()
             ? AttentionVariant::coopmat
             : AttentionVariant::portable;
}

void attention_forward(vk::Recorder& rec, Tensor& o, Tensor& lse, const Tensor& q, const Tensor& k,
                       const Tensor& v, const AttentionOptions& options) {
  const char* op = "attention_forward";
  Dims d = check_inputs(op, q, k, v, options);
  require_like(op, o, q);
  require_addressable(op, o);
  require_lse(op, lse, d);
  if (q.numel() == 0) return;
  kernels::AttentionForwardPush push{};
  fill_common(push, q, k, v, d, options);
  push.o = address(o);
  push.lse = address(lse);
  push.sinks = options.sinks ? address(*options.sinks) : 0;
  auto reads = reads_of({&q, &k, &v}, options);
  if (options.sinks) reads.push_back(whole(*options.sinks));
  const auto& caps = rec.context().caps();
  const KernelSpec spec = KernelSpec::forward(options.sinks != nullptr);
  const AttentionVariant variant = resolve_variant(op, rec.context(), options, q, {&q, &k, &v});
  if (variant == AttentionVariant::coopmat2)
    dispatch_coopmat2(rec, coopmat2_tiles(CoopmatKernel::forward, d.D, options.coopmat_tile), d, q.dtype, d.Hq, &push, sizeof push, reads,
                      {whole(o), whole(lse)}, spec);
  else if (variant == AttentionVariant::coopmat)
    dispatch_coopmat(rec,
                     coopmat_tiles(caps, CoopmatKernel::forward, q.dtype, d.D, options.coopmat_tile),
                     CoopmatKernel::forward, d, q.dtype, d.Hq, &push, sizeof push, reads,
                     {whole(o), whole(lse)}, spec);
  else
    dispatch_tiled(rec, op, forward_tiles(d.D, d.T), d, q.dtype, d.Hq, &push, sizeof push, reads,
                   {whole(o), whole(lse)}, spec);
}

uint64_t attention_backward_scratch_bytes(uint64_t tokens, uint64_t query_heads) {
  return vk::allocated_bytes(tokens * query_heads * sizeof(float));
}

void attention_backward(vk::Recorder& rec, Tensor& dq, Tensor& dk, Tensor& dv, const Tensor& dout,
                        const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& o,
                        const Tensor& lse, const AttentionOptions& options,
                        GradientStore store, Tensor* dsinks,
                        std::optional<GradientStore> sinks_store) {
  const char* op = "attention_backward";
  const GradientStore dsinks_store = sinks_store.value_or(store);
  Dims d = check_inputs(op, q, k, v, options);
  for (const Tensor* t : std::initializer_list<const Tensor*>{&dout, &o, &dq, &dk, &dv}) {
    require_like(op, *t, t == &dk || t == &dv ? k : q);
    require_addressable(op, *t);
  }
  require_lse(op, lse, d);
  if (dsinks) {
    if (!options.sinks)
      fail("[{}] dsinks {} was passed without options.sinks: there are no sinks to differentiate",
           op, dsinks->describe());
    require_sinks(op, "dsinks", *dsinks, d);
  }
  if (q.numel() == 0) {
    if (dsinks && dsinks_store == GradientStore::write) fill(rec, *dsinks, 0.0f);
    return;
  }
  auto& ctx = rec.context();
  const AttentionVariant variant = resolve_variant(op, ctx, options, q, {&q, &k, &v, &dout});
  const bool coopmat = variant == AttentionVariant::coopmat;
  const bool coopmat2 = variant == AttentionVariant::coopmat2;

  // delta = rowsum(dout * o), the softmax-gradient term both passes subtract.
  Tensor delta = make_tensor(ctx, DType::f32, lse.shape, "attention delta");
  kernels::AttentionDeltaPush delta_push{address(dout), address(o), address(delta),
                                         d.B * d.T * d.Hq, d.T, d.Hq, d.D};
  uint64_t steps = (uint64_t(delta_push.rows) + kDeltaRows - 1) / kDeltaRows;
  uint32_t groups = uint32_t(std::min<uint64_t>(steps, ctx.caps().max_workgroup_count[0]));
  VkPipeline delta_kernel = pipeline(ctx, fmt::format("attention_delta_{}", dtype_name(q.dtype)));
  rec.dispatch("attention_delta", delta_kernel, &delta_push, sizeof delta_push, groups, 1, 1,
               {whole(dout), whole(o)}, {whole(delta)});
  if (dsinks) sinks_backward(rec, *dsinks, *options.sinks, lse, delta, d, dsinks_store);

  kernels::AttentionBackwardPush push{};
  fill_common(push, q, k, v, d, options);
  push.dout = address(dout);
  push.lse = address(lse);
  push.delta = address(delta);
  // dk and dv: stored in place, or with parts into f32 partials in the workspace, then summed.
  Tiles portable_kv = backward_kv_tiles(d.D, d.T);
  const CoopmatTiles coopmat_kv =
      coopmat_tiles(ctx.caps(), CoopmatKernel::backward_kv, q.dtype, d.D, options.coopmat_tile);
  const Coopmat2Tiles coopmat2_kv =
      coopmat2_tiles(CoopmatKernel::backward_kv, d.D, options.coopmat_tile);
  uint32_t parts = coopmat2 ? choose_kv_parts(ctx, d, coopmat2_kv.own, coopmat2_kv.visit, options)
                   : coopmat ? choose_kv_parts(ctx, d, coopmat_kv.own(), coopmat_kv.visit, options)
                             : choose_kv_parts(ctx, d, portable_kv.own, portable_kv.visit, options);
  uint64_t partial_bytes = uint64_t(parts) * dk.numel() * 4;
  if (parts > 1 && uint64_t(parts) * dk.numel() >= (1ull << 32))
    fail("[{}] {} parts of {} are over the 2^32 partial sums the kernels index; use fewer",
         op, parts, dk.describe());
  const bool adds = store == GradientStore::add;
  auto reads_kv = reads_of({&q, &k, &v, &dout, &lse, &delta}, options);
  std::vector<vk::ByteRange> writes_kv = {whole(dk), whole(dv)};
  uint64_t partials = 0;
  if (parts > 1) {
    const vk::Span& workspace = rec.workspace(2 * partial_bytes);
    partials = workspace.address;
    writes_kv = {vk::range_of(workspace, 0, 2 * partial_bytes)};
    push.grad_a = partials;
    push.grad_b = partials + partial_bytes;
  } else {
    if (adds) reads_kv.insert(reads_kv.end(), writes_kv.begin(), writes_kv.end());
    push.grad_a = address(dk);
    push.grad_b = address(dv);
  }
  if (coopmat2)
    dispatch_coopmat2(rec, coopmat2_kv, d, q.dtype, d.Hkv * parts, &push, sizeof push, reads_kv,
                      writes_kv, KernelSpec::backward(parts, adds));
  else if (coopmat)
    dispatch_coopmat(rec, coopmat_kv, CoopmatKernel::backward_kv, d, q.dtype, d.Hkv * parts,
                     &push, sizeof push, reads_kv, writes_kv, KernelSpec::backward(parts, adds));
  else
    dispatch_tiled(rec, "attention_backward_kv", portable_kv, d, q.dtype, d.Hkv * parts, &push,
                   sizeof push, reads_kv, writes_kv, KernelSpec::backward(parts, adds));
  if (parts > 1) sum_kv_parts(rec, dk, dv, partials, writes_kv[0], parts, store);
  push.grad_a = address(dq);
  push.grad_b = 0;
  auto reads_q = reads_of({&q, &k, &v, &dout, &lse, &delta}, options);
  if (adds) reads_q.push_back(whole(dq));
  if (coopmat2)
    dispatch_coopmat2(rec, coopmat2_tiles(CoopmatKernel::backward_q, d.D, options.coopmat_tile),
                      d, q.dtype, d.Hq, &push, sizeof push, reads_q, {whole(dq)},
                      KernelSpec::backward(0, adds));
  else if (coopmat)
    dispatch_coopmat(rec,
                     coopmat_tiles(ctx.caps(), CoopmatKernel::backward_q, q.dtype, d.D,
                                   options.coopmat_tile),
                     CoopmatKernel::backward_q, d, q.dtype, d.Hq, &push, sizeof push, reads_q,
                     {whole(dq)}, KernelSpec::backward(0, adds));
  else
    dispatch_tiled(rec, "attention_backward_q", backward_q_tiles(d.T), d, q.dtype, d.Hq, &push,
                   sizeof push, reads_q, {whole(dq)}, KernelSpec::backward(0, adds));
  rec.keep(std::move(delta.memory));
}

}  // namespace vktrain::ops
