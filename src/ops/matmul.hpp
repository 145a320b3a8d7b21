#pragma once
// C = alpha * op(A) * op(B) + beta * C for row-major (batched) matrices with f32 accumulation.
// A: [..., M, K] ([..., K, M] with trans_a), B: [..., K, N] ([..., N, K] with trans_b, the
// layout of a linear layer's weight), C: [..., M, N]. B may have batch 1 (shared by every
// batch). Inputs f32, f16 or bf16 (both the same); C f32 or the input dtype. Variants: the
// portable shared-memory kernel (every device), GL_KHR_cooperative_matrix and
// GL_NV_cooperative_matrix2 (f16 inputs, and bf16 where the device has bf16 cooperative
// matrices; where the device and this build have them).
// B may instead be a frozen weight in a ggml block format (DType q8_0 ... q6_k, mxfp4): one
// [rows, cols] matrix whose rows are whole blocks, with A f32, f16 or bf16 and C f32 or A's
// dtype. Both orientations a LoRA step needs: y = x W^T (trans_b, B = W [N, K], blocks along K)
// and dx = dy W (B = W [K, N], blocks along N). B is decoded to exactly io::dequantize's floats
// (the portable kernel keeps them in f32; 16-bit A rounds them once to A's dtype, as a 16-bit
// weight is), in one of two ways (MatmulOptions::quantized_read), never into a whole copy of W:
// - fused: every kernel decodes B's blocks tile by tile in its loads;
// - slabs: a slab of W's rows (x W^T) or whole-block columns (dy W) at a time, at most
//   kMatmulSlabBytes, is decoded into the recording's workspace in A's dtype and multiplied by
//   the float kernel. Decoding costs a pass over the slab's bytes, while the fused loads decode
//   each value once per tile of M; on an H100 the fused coopmat2 product ran at 60-89 TFLOP/s,
//   the float one at 240-260 (bench/RESULTS.md), so GPUs take slabs for 16-bit A.
// MXFP4 (gpt-oss's experts; its blocks are 17 bytes) has no fused kernels: it always takes slabs,
// decoded in A's type (f32 too), at any M (the generation step's as well: the vector kernel has
// no MXFP4 build), which needs one unbatched matrix per operand in one allocation.
// automatic picks a cooperative-matrix variant where the device has one; for M <= 8 (generation)
// the vector kernel (x W^T, where the device has subgroup arithmetic) or the portable one.
// alpha, beta, split-K (parts of whole blocks along K) and an addend work as for float B.
#include <string>
#include <string_view>

#include "ops/tensor.hpp"
#include "vk/capabilities.hpp"
#include "vk/recorder.hpp"

namespace vktrain::ops {

// vector: the decode step's product on a block-quantized B, x W^T with at most
// kMatmulVectorRows rows of x (a matrix-vector kernel reading each block once).
enum class MatmulVariant { automatic, portable, coopmat, coopmat2, vector };
inline constexpr uint64_t kMatmulVectorRows = 8;
// The largest slab of a quantized weight decoded at once (MatmulOptions::quantized_read).
inline constexpr uint64_t kMatmulSlabBytes = 64ull << 20;
enum class QuantizedRead { automatic, fused, slabs };

std::string_view matmul_variant_name(MatmulVariant v);
MatmulVariant matmul_variant_from_name(std::string_view name);

// A second product added into the same C: + alpha * A2 op(B2), with A2 [M, K2] and B2 [K2, N]
// ([N, K2] with trans_b). The coopmat2 variant adds it in the same pass (a LoRA branch beside
// its base product: C is written once); the others run it as a second product.
struct MatmulAddend {
  const Tensor* a = nullptr;  // null: none
  const Tensor* b = nullptr;
  bool trans_b = false;
  float alpha = 1.0f;
};

struct MatmulOptions {
  bool trans_a = false;
  bool trans_b = false;
  float alpha = 1.0f;
  float beta = 0.0f;
  MatmulVariant variant = MatmulVariant::automatic;
  // Split-K: 0 lets the shape decide (on GPUs, products with few output tiles and a long K);
  // n > 1 forces n parts (tests). Needs one unbatched matrix per operand in one allocation.
  uint32_t split_k = 0;
  MatmulAddend addend;
  // A block-quantized B, more than kMatmulVectorRows rows of A: automatic takes slabs on GPUs
  // for 16-bit A and one matrix in one allocation per operand, fused otherwise. slab_bytes: the
  // slab's bound (0: kMatmulSlabBytes; tests force small slabs).
  QuantizedRead quantized_read = QuantizedRead::automatic;
  uint64_t slab_bytes = 0;
};

// Empty when `variant` can run these dtypes here; otherwise why not, in words. `weight`: B's
// block type where B is block-quantized; a float type: B has A's dtype.
std::string matmul_unavailable(const vk::Context& context, MatmulVariant variant, DType in,
                               DType out, DType weight = DType::f32);
// The subgroup size the KHR cooperative-matrix kernel runs at here (its subgroups own tiles, so
// the pipeline requires the size): 32 where it can be had, else the device's own; 0: none can.
uint32_t matmul_coopmat_subgroup(const vk::Capabilities& caps);
// The variant `automatic` resolves to (for a block-quantized B, where M > kMatmulVectorRows).
MatmulVariant matmul_choose(const vk::Context& context, DType in, DType out,
                            DType weight = DType::f32);

// The workspace a product on a quantized weight of type `weight` with `in` activations takes
// here (automatic's slabs): kMatmulSlabBytes or 0. The memory plan asks.
uint64_t matmul_slab_scratch_bytes(const vk::Capabilities& caps, DType in, DType weight);

void matmul(vk::Recorder& rec, Tensor& c, const Tensor& a, const Tensor& b,
            const MatmulOptions& options = {});

}  // namespace vktrain::ops
