// Push layout of rope.comp, shared by C++ and GLSL (see push.h for the convention).
#ifndef VKTRAIN_KERNELS_ROPE_PUSH_H
#define VKTRAIN_KERNELS_ROPE_PUSH_H

// Forward: dst = src rotated by positions[t] * inv_freq[i]; backward: dst (+)= src rotated back,
// added when accumulate != 0, else written. src, dst: `rows` head rows of 2 * pairs elements, the
// first being head `first_head` of token 0; positions: i32, one per token touched; inv_freq: f32
// [pairs].
#define ROPE_PUSH uint64_t src; uint64_t positions; uint64_t inv_freq; uint64_t dst; uint rows; \
  uint heads; uint first_head; uint pairs; uint accumulate;

#ifdef __cplusplus
#include <cstdint>
namespace vktrain::kernels {
using uint = uint32_t;
struct RopePush { ROPE_PUSH };
static_assert(sizeof(RopePush) <= 128, "push constants are limited to 128 bytes");
}  // namespace vktrain::kernels
#endif

#endif
