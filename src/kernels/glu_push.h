// Push layout of glu.comp, shared by C++ and GLSL (see push.h for the convention).
#ifndef VKTRAIN_KERNELS_GLU_PUSH_H
#define VKTRAIN_KERNELS_GLU_PUSH_H

// Forward: h[i] = act(gate[i]) * up[i]. Backward (h is then dh): dgate[i] (+)= dh[i] * up[i] *
// act'(gate[i]), dup[i] (+)= dh[i] * act(gate[i]), added when accumulate != 0, else written.
// i < count; head: the elements before the first 16-byte vector step (ops::vector_head).
#define GLU_PUSH uint64_t gate; uint64_t up; uint64_t h; uint64_t dgate; uint64_t dup; uint count; \
  uint head; uint accumulate;

#ifdef __cplusplus
#include <cstdint>
namespace vktrain::kernels {
using uint = uint32_t;
struct GluPush { GLU_PUSH };
static_assert(sizeof(GluPush) <= 128, "push constants are limited to 128 bytes");
}  // namespace vktrain::kernels
#endif

#endif
