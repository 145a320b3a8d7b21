#pragma once
// Attention for incremental decoding: the newest token's query against a KV cache. Shapes (B
// batch, Hq query heads, Hkv kv heads, D head_dim, capacity the cache's positions):
//   q, o              [B, Hq, D]               one activation dtype: f32, f16 or bf16
//   k_cache, v_cache  [B, capacity, Hkv, D]    positions [0, length) hold the sequence so far,
//                                              the newest token's key and value included
// The query sits at position length - 1 and attends to positions [max(0, length - window),
// length) (window 0: all of them), so o equals row length - 1 of ops::attention_forward (causal,
// same window) over the first `length` positions. Grouped-query attention as attention_forward.
// `length` is a push constant: a decoding loop re-records the dispatch for every token.
#include <cstdint>
#include <limits>

#include "ops/tensor.hpp"
#include "vk/recorder.hpp"

namespace vktrain::ops {

struct AttentionDecodeOptions {
  float scale = std::numeric_limits<float>::quiet_NaN();  // the softmax scale; must be set
  int64_t window = 0;  // 0: none; else the query sees the last `window` positions, itself included
  const Tensor* sinks = nullptr;  // [Hq] f32, as AttentionOptions::sinks (ops/attention.hpp)
};

void attention_decode(vk::Recorder& rec, Tensor& o, const Tensor& q, const Tensor& k_cache,
                      const Tensor& v_cache, int64_t length, const AttentionDecodeOptions& options);

}  // namespace vktrain::ops
