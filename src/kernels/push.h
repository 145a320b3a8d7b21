// Push-constant layouts, shared by the C++ ops (which fill them) and the GLSL kernels (which read
// them). Each layout is a field list macro: C++ wraps it in a struct, GLSL in the push_constant
// block. 64-bit buffer addresses come first so std430 and C++ agree on every offset.
#ifndef VKTRAIN_KERNELS_PUSH_H
#define VKTRAIN_KERNELS_PUSH_H

// dst[i] = bits, for i < count (16- or 32-bit elements); head: 16-bit elements before the first
// 4-byte boundary (0 for 32-bit)
#define FILL_PUSH uint64_t dst; uint count; uint bits; uint head;
// dst[i] = convert(src[i])
#define CONVERT_PUSH uint64_t src; uint64_t dst; uint count;
// dst[i] = a[i] + b[i] | a[i] * b[i] | scale * a[i]; head: the elements before the first 16-byte
// vector step (ops::vector_head)
#define ELEMENTWISE_PUSH uint64_t a; uint64_t b; uint64_t dst; uint count; float scale; uint head;
// partials[group] = sum over the group's slice of src[i] (or src[i]^2)
#define REDUCE_PUSH uint64_t src; uint64_t partials; uint count;
// dst[r * dst_ld + c] = src[r * src_ld + c]
#define COPY2D_PUSH uint64_t src; uint64_t dst; uint rows; uint cols; uint src_ld; uint dst_ld;
// dst[r * cols + c] = value c of the block-quantized row at src + r * src_stride (dequantize.comp)
#define DEQUANTIZE_PUSH uint64_t src; uint64_t dst; uint64_t src_stride; uint rows; uint cols;
// C = alpha * op(A) op(B) + beta * C, row-major, batched by strides (elements). aligned != 0
// promises 16-byte aligned A, B and C (every batch's start and every row) and K a multiple of
// the kernel's K step, so the cooperative-matrix kernels may load (coopmat2: and store) interior
// tiles unclamped.
// K2 != 0 (coopmat2, one matrix): also + alpha2 * A2 op(B2) with A2 [M, K2] (lda2) and B2
// [K2, N] or [N, K2] (ldb2) in the same pass: a LoRA branch beside its base product.
// A block-quantized B (every variant's BLOCK build): ldb is its row length in values
// and stride_b counts bytes.
#define MATMUL_PUSH                                            \
  uint64_t a; uint64_t b; uint64_t c;                          \
  uint64_t stride_a; uint64_t stride_b; uint64_t stride_c;     \
  uint M; uint N; uint K; uint lda; uint ldb; uint ldc;        \
  float alpha; float beta; uint aligned;                       \
  uint64_t a2; uint64_t b2; uint K2; uint lda2; uint ldb2; float alpha2;
// c[m * ldc + n] = alpha * sum over s < splits of partials[(s * M + m) * N + n] + beta * c[...]
#define MATMUL_REDUCE_PUSH uint64_t partials; uint64_t c; uint M; uint N; uint ldc; \
  uint splits; float alpha; float beta;

#ifdef __cplusplus
#include <cstdint>
namespace vktrain::kernels {
using uint = uint32_t;
struct FillPush { FILL_PUSH };
struct ConvertPush { CONVERT_PUSH };
struct ElementwisePush { ELEMENTWISE_PUSH };
struct ReducePush { REDUCE_PUSH };
struct Copy2dPush { COPY2D_PUSH };
struct DequantizePush { DEQUANTIZE_PUSH };
struct MatmulPush { MATMUL_PUSH };
struct MatmulReducePush { MATMUL_REDUCE_PUSH };
static_assert(sizeof(MatmulPush) <= 128, "push constants are limited to 128 bytes");
}  // namespace vktrain::kernels
#endif

#endif
