// Push layouts of the attention kernels, shared by C++ and GLSL (see push.h for the convention).
// q [B, T, Hq, D], k and v [B, T, Hkv, D]; lse and delta [B, Hq, T] f32; documents i32 [B, T]
// (address 0: no document ids). Key j is visible from query i when: j <= i (causal); i - j <
// window (window > 0; |i - j| < window when not causal); documents[j] == documents[i].
// sinks f32 [Hq] (read where the kernel's SINKS constant is set): a learned logit per query
// head that joins every row's softmax as one more, unscaled column with a zero value (gpt-oss),
// so lse includes it.
#ifndef VKTRAIN_KERNELS_ATTENTION_PUSH_H
#define VKTRAIN_KERNELS_ATTENTION_PUSH_H

#define ATTENTION_SHAPE uint T; uint heads_q; uint heads_kv; uint causal; uint window; float scale;

// o = softmax(scale * q k^T, masked) v, lse = log-sum-exp of the scaled, masked scores (and the
// sink)
#define ATTENTION_FORWARD_PUSH uint64_t q; uint64_t k; uint64_t v; uint64_t documents; \
  uint64_t o; uint64_t lse; uint64_t sinks; ATTENTION_SHAPE

// delta[b, h, t] = sum over d of dout[b, t, h, d] * o[b, t, h, d]; `rows` = B * T * Hq
#define ATTENTION_DELTA_PUSH uint64_t dout; uint64_t o; uint64_t delta; uint rows; uint T; \
  uint heads_q; uint D;

// grad_a (+)= dq, or grad_a (+)= dk and grad_b (+)= dv, from dout, lse and delta: added where
// the kernel's ACCUMULATE constant is set, else written without reading the gradients (dk/dv in
// parts: their f32 partial sums, attention_kv_parts.glsl, which the op adds or writes)
#define ATTENTION_BACKWARD_PUSH uint64_t q; uint64_t k; uint64_t v; uint64_t documents; \
  uint64_t dout; uint64_t lse; uint64_t delta; uint64_t grad_a; uint64_t grad_b; ATTENTION_SHAPE

// dsinks[h] (+)= -sum over b, t of exp(sinks[h] - lse[b, h, t]) * delta[b, h, t]: the sink's
// probability times the row's gradient term, summed per head; added where `accumulate` is set
#define ATTENTION_SINKS_BACKWARD_PUSH uint64_t sinks; uint64_t lse; uint64_t delta; \
  uint64_t dsinks; uint rows; uint T; uint heads_q; uint accumulate;

#ifdef __cplusplus
#include <cstdint>
namespace vktrain::kernels {
using uint = uint32_t;
struct AttentionForwardPush { ATTENTION_FORWARD_PUSH };
struct AttentionDeltaPush { ATTENTION_DELTA_PUSH };
struct AttentionBackwardPush { ATTENTION_BACKWARD_PUSH };
struct AttentionSinksBackwardPush { ATTENTION_SINKS_BACKWARD_PUSH };
static_assert(sizeof(AttentionForwardPush) <= 128, "push constants are limited to 128 bytes");
static_assert(sizeof(AttentionBackwardPush) <= 128, "push constants are limited to 128 bytes");
}  // namespace vktrain::kernels
#endif

#endif
