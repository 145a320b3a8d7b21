// Push layout of column_sum.comp, shared by C++ and GLSL (see push.h for the convention).
#ifndef VKTRAIN_KERNELS_COLUMN_SUM_PUSH_H
#define VKTRAIN_KERNELS_COLUMN_SUM_PUSH_H

// dst[chunk * cols + c] = (accumulate ? dst[...] : 0) + sum of src[r * cols + c] over the rows
// r of `chunk` (rows_per_chunk of them, chunk = workgroup y).
#define COLUMN_SUM_PUSH uint64_t src; uint64_t dst; uint rows; uint cols; uint rows_per_chunk; \
  uint accumulate;

#ifdef __cplusplus
#include <cstdint>
namespace vktrain::kernels {
using uint = uint32_t;
struct ColumnSumPush { COLUMN_SUM_PUSH };
}  // namespace vktrain::kernels
#endif

#endif
