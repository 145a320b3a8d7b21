#pragma once
// The experts' products over tokens grouped by expert (ops/moe_group.hpp): for every expert e at
// once, one dispatch, whatever E. Letters: S grouped rows (T * k), E experts; expert e's rows are
// [offsets[e], offsets[e + 1]); rows past offsets[E] are left as they are.
// The expert weight w is [E, R, Q]: expert e's matrix is w[e], R x Q (transformers' layout,
// e.g. gate_up_proj [E, 2F, C], down_proj [E, C, F]); a band of its rows (gate or up of a fused
// gate_up_proj) may be used instead of all R. Inputs f32, f16 or bf16 (x and w the same); the
// output f32 or the input dtype. Variants: a portable shared-memory kernel (every device), one on
// KHR cooperative matrices and one on GL_NV_cooperative_matrix2 workgroup-scope matrices loaded
// through tensor layouts (both f16, and bf16 where the device has bf16 cooperative matrices);
// `automatic` takes coopmat2, else coopmat, else portable, as the device and this build have them.
// w may instead be a frozen weight in a ggml block type (q8_0 ... q6_k; w [E, R, Q], blocks along
// Q, each row whole blocks) in both orientations a LoRA step needs, with x f32, f16 or bf16. It
// is read by slabs, as ops::matmul reads a dense one (matmul.hpp): a range of experts (where one
// expert's band is larger than the bound, a piece of it: band rows for x w^T, whole-block columns
// for x w) at a time, at most kMatmulSlabBytes, is decoded by the dequantize kernels into the
// recording's workspace in x's dtype, and the float kernel runs over only those experts. A piece
// splits N, never K, so every output sums its products in the float kernel's order: the product
// equals moe_matmul on io::dequantize's floats (in x's dtype) bit for bit on the same variant.
// A generation step's x w^T (at most as many grouped rows as experts, moe_matmul_vector.cpp says
// why) instead reads only the experts that own rows: a matrix-vector kernel decodes each of their
// blocks where it multiplies it, at most kMatmulVectorRows of an expert's rows at a time, like
// ops::matmul's vector variant (its sums in another order, so equal to the slabs' within
// rounding, not bit for bit); where the device lacks subgroup arithmetic, slabs.
// moe_matmul_weight never takes a block type: a quantized base is frozen.
#include <string>
#include <string_view>

#include "ops/tensor.hpp"
#include "vk/recorder.hpp"

namespace vktrain::ops {

enum class MoeMatmulVariant { automatic, portable, coopmat, coopmat2 };

std::string_view moe_matmul_variant_name(MoeMatmulVariant variant);
MoeMatmulVariant moe_matmul_variant_from_name(std::string_view name);

// Empty when `variant` can run in -> out products here; otherwise why not, in words.
std::string moe_matmul_unavailable(const vk::Context& context, MoeMatmulVariant variant, DType in,
                                   DType out);

struct MoeWeightBand {
  uint64_t first = 0, rows = 0;  // rows [first, first + rows) of each expert's R; rows 0: all R
};

// A forced tile of the coopmat2 kernel (tuning: bench_moe --tiles): BM x BN outputs, BK per step,
// `threads` invocations; all zero: the shape's choice (moe_matmul.cpp says why). Other variants
// ignore it.
struct MoeTile {
  uint32_t bm = 0, bn = 0, bk = 0, threads = 0;
};

struct MoeMatmulOptions {
  // y = x w[e]^T: x [S, Q] -> y [S, band rows] (a linear layer's forward). false: y = x w[e]:
  // x [S, band rows] -> y [S, Q] (its input gradient).
  bool trans_w = true;
  float alpha = 1.0f;
  float beta = 0.0f;  // 0 writes y without reading it
  MoeWeightBand band;
  MoeMatmulVariant variant = MoeMatmulVariant::automatic;
  MoeTile tile;
  // A block-quantized w: the largest slab decoded at once (0: kMatmulSlabBytes; tests force
  // small slabs).
  uint64_t slab_bytes = 0;
  // A block-quantized w: slabs even where the vector kernel would read only the routed experts
  // (tests compare the two).
  bool force_slabs = false;
};

// The workspace moe_matmul takes on a w of dtype `weight` ([E, R, Q], its band of `band_rows`
// rows) with `in` activations, in the orientation `trans_w`: its largest decoded slab, 0 for a
// float w. The memory plan asks.
uint64_t moe_matmul_slab_scratch_bytes(DType in, DType weight, uint64_t experts,
                                       uint64_t band_rows, uint64_t cols, bool trans_w,
                                       uint64_t slab_bytes = 0);

// y = alpha * x op(w[e]) + beta * y over the rows of each expert e.
void moe_matmul(vk::Recorder& rec, Tensor& y, const Tensor& x, const Tensor& w,
                const Tensor& offsets, const MoeMatmulOptions& options = {});

// dw[e] (band rows) = alpha * dy_e^T x_e + beta * dw[e] (beta 1 adds): the weight gradient, with
// dy [S, band rows] and x [S, Q] over each expert's rows; dw [E, R, Q], f32 or the input dtype.
void moe_matmul_weight(vk::Recorder& rec, Tensor& dw, const Tensor& dy, const Tensor& x,
                       const Tensor& offsets, float alpha = 1.0f, float beta = 1.0f,
                       MoeWeightBand band = {},
                       MoeMatmulVariant variant = MoeMatmulVariant::automatic,
                       MoeTile tile = {});

}  // namespace vktrain::ops
