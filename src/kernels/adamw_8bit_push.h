// Push layout of adamw_8bit.comp, shared by C++ and GLSL (see push.h for the convention).
#ifndef VKTRAIN_KERNELS_ADAMW_8BIT_PUSH_H
#define VKTRAIN_KERNELS_ADAMW_8BIT_PUSH_H

// `blocks` whole blocks of 256 values from the same element on: params and grads (f32), the
// moments' codes (4 a 32-bit word, the first in the low byte) and their absmax (f32, one a
// block). `tables` points at f32 [4, 256]: the signed map, its midpoints, the unsigned map, its
// midpoints (ops::adamw_8bit_tables). `step` and `norm_sq` as in adamw_push.h.
#define ADAMW_8BIT_PUSH                                                     \
  uint64_t params; uint64_t grads; uint64_t m_codes; uint64_t v_codes;      \
  uint64_t m_absmax; uint64_t v_absmax; uint64_t tables;                    \
  uint64_t step; uint64_t norm_sq;                                          \
  uint blocks; uint decay; float one_minus_beta1; float beta2; float one_minus_beta2; float eps; \
  float max_norm;

#ifdef __cplusplus
#include <cstdint>
namespace vktrain::kernels {
using uint = uint32_t;
struct Adamw8bitPush { ADAMW_8BIT_PUSH };
static_assert(sizeof(Adamw8bitPush) <= 128, "push constants are limited to 128 bytes");
}  // namespace vktrain::kernels
#endif

#endif
