// Push layout of adamw.comp, shared by C++ and GLSL (see push.h for the convention).
#ifndef VKTRAIN_KERNELS_ADAMW_PUSH_H
#define VKTRAIN_KERNELS_ADAMW_PUSH_H

// One contiguous range of the arenas: params, grads, m, v at the same element. `step` points at
// the per-step values (f32: decay factor 1 - lr wd, step size lr / (1 - beta1^t),
// sqrt(1 - beta2^t)), `norm_sq`
// at the squared global gradient norm (0: no clipping). 1 - beta is rounded from double, as
// torch rounds its Python-float scalars.
#define ADAMW_PUSH                                                          \
  uint64_t params; uint64_t grads; uint64_t m; uint64_t v;                 \
  uint64_t step; uint64_t norm_sq;                                         \
  uint count; uint decay; float one_minus_beta1; float beta2; float one_minus_beta2; float eps;  \
  float max_norm;

#ifdef __cplusplus
#include <cstdint>
namespace vktrain::kernels {
using uint = uint32_t;
struct AdamwPush { ADAMW_PUSH };
static_assert(sizeof(AdamwPush) <= 128, "push constants are limited to 128 bytes");
}  // namespace vktrain::kernels
#endif

#endif
