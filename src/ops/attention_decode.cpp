#include "ops/attention_decode.hpp"

#include <cmath>

#include "kernels/attention_decode_push.h"
#include "ops/dispatch.hpp"

namespace vktrain::ops {

void attention_decode(vk::Recorder& rec, Tensor& o, const Tensor& q, const Tensor& k_cache,
                      const Tensor& v_cache, int64_t length, const AttentionDecodeOptions& options) {
  const char* op = "attention_decode";
  if (q.shape.size() != 3) fail("[{}] q must be [B, Hq, D], got {}", op, q.describe());
  const int64_t B = q.shape[0], Hq = q.shape[1], D = q.shape[2];
  if (k_cache.shape.size() != 4 || k_cache.shape[0] != B || k_cache.shape[3] != D)
    fail("[{}] k_cache must be [B, capacity, Hkv, D] with the B and D of q {}, got {}", op,
         q.describe(), k_cache.describe());
  const int64_t capacity = k_cache.shape[1], Hkv = k_cache.shape[2];
  require_float(op, q);
  require_same_dtype(op, q, k_cache);
  require_same_dtype(op, q, v_cache);
  require_same_dtype(op, q, o);
  require_same_shape(op, v_cache, k_cache);
  require_same_shape(op, o, q);
  if (Hkv == 0 || Hq % Hkv != 0)
    fail("[{}] the query heads of {} must be a multiple of the kv heads of {}", op, q.describe(),
         k_cache.describe());
  if (D < 1 || D > 256) fail("[{}] head_dim {} of {} must be 1 to 256", op, D, q.describe());
  if (length < 1 || length > capacity)
    fail("[{}] length {} must be 1 to the cache's {} positions ({})", op, length, capacity,
         k_cache.describe());
  if (!std::isfinite(options.scale))
    fail("[{}] options.scale is not set: pass the softmax scale (1/sqrt(head_dim) for most "
         "models)", op);
  if (options.window < 0) fail("[{}] options.window is negative ({})", op, options.window);
  if (const Tensor* sinks = options.sinks;
      sinks && (sinks->dtype != DType::f32 || sinks->shape != std::vector<int64_t>{Hq}))
    fail("[{}] sinks must be f32 [Hq] = [{}], one per query head, got {}", op, Hq,
         sinks->describe());
  std::vector<const Tensor*> tensors = {&o, &q, &k_cache, &v_cache};
  if (options.sinks) tensors.push_back(options.sinks);
  for (const Tensor* t : tensors) {
    if (t->memory.spans().size() > 1)
      fail("[{}] {} lies in {} allocation spans; attention needs each tensor in one", op,
           t->describe(), t->memory.spans().size());
    if (t->numel() >= (1ull << 32))
      fail("[{}] {} has {} elements, over the 2^32 the kernel indexes", op, t->describe(),
           t->numel());
  }
  auto& ctx = rec.context();
  if (uint64_t(Hq) > ctx.caps().max_workgroup_count[0] ||
      uint64_t(B) > ctx.caps().max_workgroup_count[1])
    fail("[{}] {} heads x batch {} is over the device's workgroup counts", op, Hq, B);
  auto whole = [](const Tensor& t) { return piece_range(t, locate(t, 0), t.numel()); };
  auto address = [](const Tensor& t) { return locate(t, 0).address(); };
  const int64_t first = options.window > 0 ? std::max<int64_t>(0, length - options.window) : 0;
  kernels::AttentionDecodePush push{address(q),
                                    address(k_cache),
                                    address(v_cache),
                                    address(o),
                                    options.sinks ? address(*options.sinks) : 0,
                                    uint32_t(capacity),
                                    uint32_t(Hq),
                                    uint32_t(Hkv),
                                    uint32_t(first),
                                    uint32_t(length),
                                    options.scale};
  std::vector<vk::ByteRange> reads = {whole(q), whole(k_cache), whole(v_cache)};
  if (options.sinks) reads.push_back(whole(*options.sinks));
  // Per chunk of 256 keys (attention_decode.comp): D for the scores, D for P . V, two 8-step
  // reductions.
  require_loop_budget(ctx, op, ceil_div(uint64_t(length - first), 256) * (2 * uint64_t(D) + 17) + 8,
                      fmt::format("decoding over {} cached keys of head_dim {}", length - first, D));
  VkPipeline p = pipeline(ctx, fmt::format("{}_{}", op, dtype_name(q.dtype)),
                          {uint32_t(D), uint32_t(options.sinks != nullptr)});
  rec.dispatch(op, p, &push, sizeof push, uint32_t(Hq), uint32_t(B), 1, reads, {whole(o)});
}

}  // namespace vktrain::ops
