// Push layouts of rmsnorm.comp, shared by C++ and GLSL (see push.h for the convention).
#ifndef VKTRAIN_KERNELS_RMSNORM_PUSH_H
#define VKTRAIN_KERNELS_RMSNORM_PUSH_H

// y[r, c] = x[r, c] * rstd[r] * (offset + w[c]), rstd[r] = 1 / sqrt(mean_c x[r, c]^2 + eps);
// rstd == 0: not saved.
#define RMSNORM_FORWARD_PUSH uint64_t x; uint64_t w; uint64_t y; uint64_t rstd; uint rows; \
  uint cols; float eps; float offset;
// dx[r, c] (+)= d/dx of sum(dy * y), added when accumulate != 0, else written; partials[chunk,
// c] = sum over the chunk's rows (rows_per_chunk of them, chunk = workgroup) of dy * x * rstd, by
// the kernel built with WEIGHT_GRADIENT.
#define RMSNORM_BACKWARD_PUSH uint64_t dy; uint64_t x; uint64_t w; uint64_t rstd; uint64_t dx; \
  uint64_t partials; uint rows; uint cols; uint rows_per_chunk; float offset; uint accumulate;

#ifdef __cplusplus
#include <cstdint>
namespace vktrain::kernels {
using uint = uint32_t;
struct RmsnormForwardPush { RMSNORM_FORWARD_PUSH };
struct RmsnormBackwardPush { RMSNORM_BACKWARD_PUSH };
static_assert(sizeof(RmsnormBackwardPush) <= 128, "push constants are limited to 128 bytes");
}  // namespace vktrain::kernels
#endif

#endif
