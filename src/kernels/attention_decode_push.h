// Push layout of attention_decode.comp, shared by C++ and GLSL (see push.h for the convention).
// q, o [B, Hq, D] (one query per batch row: the newest token); k, v [B, capacity, Hkv, D] (the
// KV cache: positions [0, key_end) hold keys and values, the rest is never read). The query
// attends to positions [key_begin, key_end); the op computes key_begin from the sliding window.
// key_end (the sequence length) is a push constant: a decoding loop re-records the dispatch for
// each token. sinks f32 [Hq] (read where the kernel's SINKS constant is set): attention_push.h's
// per-head sink logits.
#ifndef VKTRAIN_KERNELS_ATTENTION_DECODE_PUSH_H
#define VKTRAIN_KERNELS_ATTENTION_DECODE_PUSH_H

#define ATTENTION_DECODE_PUSH uint64_t q; uint64_t k; uint64_t v; uint64_t o; uint64_t sinks; \
  uint capacity; uint heads_q; uint heads_kv; uint key_begin; uint key_end; float scale;

#ifdef __cplusplus
#include <cstdint>
namespace vktrain::kernels {
using uint = uint32_t;
struct AttentionDecodePush { ATTENTION_DECODE_PUSH };
static_assert(sizeof(AttentionDecodePush) <= 128, "push constants are limited to 128 bytes");
}  // namespace vktrain::kernels
#endif

#endif
