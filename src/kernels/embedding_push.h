// Push layouts of embedding_forward.comp and embedding_backward.comp, shared by C++ and GLSL
// (see push.h for the convention).
#ifndef VKTRAIN_KERNELS_EMBEDDING_PUSH_H
#define VKTRAIN_KERNELS_EMBEDDING_PUSH_H

// dst[t, c] = scale * table[id - first_row, c] for the tokens t < tokens whose id (clamped to
// [0, vocab)) lies in this span of the table, rows first_row .. first_row + span_rows.
#define EMBEDDING_FORWARD_PUSH uint64_t dst; uint64_t table; uint64_t ids; uint tokens; \
  uint cols; uint vocab; uint first_row; uint span_rows; float scale;
// For each run of equal ids in `order` (token indices sorted stably by id; all `tokens` of
// them) whose id lies in this span of dtable: dtable[id - first_row, c] += scale * the sum, in
// order, of dout[t - first_token, c] over the run's tokens t in first_token .. + piece_tokens.
#define EMBEDDING_BACKWARD_PUSH uint64_t dtable; uint64_t dout; uint64_t ids; uint64_t order; \
  uint tokens; uint cols; uint vocab; uint first_row; uint span_rows; uint first_token;      \
  uint piece_tokens; float scale;

#ifdef __cplusplus
#include <cstdint>
namespace vktrain::kernels {
using uint = uint32_t;
struct EmbeddingForwardPush { EMBEDDING_FORWARD_PUSH };
struct EmbeddingBackwardPush { EMBEDDING_BACKWARD_PUSH };
static_assert(sizeof(EmbeddingBackwardPush) <= 128, "push constants are limited to 128 bytes");
}  // namespace vktrain::kernels
#endif

#endif
