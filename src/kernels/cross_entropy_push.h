// Push layouts of cross_entropy.comp and cross_entropy_count.comp, shared by C++ and GLSL (see
// push.h for the convention).
#ifndef VKTRAIN_KERNELS_CROSS_ENTROPY_PUSH_H
#define VKTRAIN_KERNELS_CROSS_ENTROPY_PUSH_H

// For each row r < rows of f32 logits [rows, vocab]: losses[r] = logsumexp - logit[labels[r]]
// (0 where labels[r] < 0) and, with GRAD, dlogits[r, :] = (softmax - onehot) * grad_scale[0].
#define CROSS_ENTROPY_PUSH uint64_t logits; uint64_t dlogits; uint64_t labels; uint64_t losses; \
  uint64_t grad_scale; uint rows; uint vocab;
// counter[0] = (first ? 0 : counter[0]) + the number of labels[i] >= 0, i < count; with `last`
// grad_scale[0] = 1 / counter[0] instead (0 when no label counts).
#define CROSS_ENTROPY_COUNT_PUSH uint64_t labels; uint64_t counter; uint64_t grad_scale; \
  uint count; uint first; uint last;

#ifdef __cplusplus
#include <cstdint>
namespace vktrain::kernels {
using uint = uint32_t;
struct CrossEntropyPush { CROSS_ENTROPY_PUSH };
struct CrossEntropyCountPush { CROSS_ENTROPY_COUNT_PUSH };
static_assert(sizeof(CrossEntropyPush) <= 128, "push constants are limited to 128 bytes");
}  // namespace vktrain::kernels
#endif

#endif
