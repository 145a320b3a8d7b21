#pragma once
// The parts of ops::matmul that its products share (matmul.cpp: whole, split-K and span-cut
// products; matmul_slabs.cpp: products on a quantized weight decoded a slab at a time): the
// kernel picked for a product, what the kernels may assume of it, and the split-K sum.
// Internal to ops/.
#include <optional>
#include <string>
#include <vector>

#include "kernels/push.h"
#include "ops/matmul.hpp"

namespace vktrain::ops::matmul_parts {

// A kernel variant with its launch geometry.
struct Kernel {
  std::string name;
  std::vector<uint32_t> spec;  // after the two transpose flags
  uint32_t tile_m, tile_n, tile_k;
  uint32_t subgroup_size = 0;
};

// VKTRAIN_MATMUL_TILE, read once: a forced cooperative-matrix tile and features switched off
// (tuning only).
struct TileOverride {
  uint32_t bm = 0, bn = 0, bk = 0, threads = 0;  // 0: the shape's choice
  bool clamped = false, unfused = false;
};
const std::optional<TileOverride>& tile_override();

// `weight`: B's dtype when B is block-quantized (the kernels' BLOCK variants), else `in`.
Kernel pick_kernel(const vk::Context& ctx, MatmulVariant variant, DType in, DType out,
                   uint64_t M, uint64_t N, uint64_t K, DType weight);

// "BMxBNxBK" and "NT", for profiles.
std::string tile_name(const Kernel& k);
std::string transposes(const MatmulOptions& o);

// The K one dispatch of `kernel` may walk under the driver's loop limit (UINT64_MAX: any).
uint64_t max_k_per_dispatch(const vk::Context& ctx, const Kernel& kernel);

// Whether the cooperative-matrix kernels may load and store interior tiles unclamped: 16-byte
// aligned operands, rows and batch strides, and K a multiple of the K step (the promise of
// MatmulPush::aligned). in_bytes: an A or B element; out_bytes: a C element. A block-quantized B
// is decoded value by value, so its alignment does not matter.
uint32_t is_aligned(const kernels::MatmulPush& p, uint64_t in_bytes, uint64_t out_bytes,
                    uint32_t tile_k, bool b_quantized);

// Fills the push fields and spec constant of an addend added in the same pass, for C's columns
// from n0 on (B2's rows from n0 where it is transposed), and returns what the addend reads.
std::vector<vk::ByteRange> fuse_addend_push(const MatmulAddend& addend, uint64_t n0,
                                            kernels::MatmulPush& push, std::vector<uint32_t>& spec);

// C = alpha * (the sum of `parts` f32 [M, N] partial products at `partials`, in order) + beta C:
// the second half of a product cut along K. C is one matrix in one allocation.
void sum_partials(vk::Recorder& rec, const vk::Span& partials, uint32_t parts, Tensor& c,
                  uint64_t M, uint64_t N, float alpha, float beta);

// Whether the kernels have fused variants that read block type `weight` (their BLOCK builds).
// MXFP4 has none: it is read through slabs only, so its 17-byte blocks cost one decode kernel per
// float type instead of every matmul variant's.
bool has_fused_kernels(DType weight);

// Whether a product on a quantized B goes through slabs (MatmulOptions::quantized_read); a
// forced slabs that cannot run here fails, and so does any product on a B without fused kernels
// that slabs cannot take.
bool takes_slabs(const vk::Context& ctx, const MatmulOptions& options, const Tensor& a,
                 const Tensor& b, const Tensor& c, uint64_t M, uint64_t K, uint64_t batch,
                 MatmulVariant variant);

// C = alpha op(A) W(^T) + beta C (+ the addend) on a quantized W decoded a slab at a time
// (matmul_slabs.cpp).
void slab_product(vk::Recorder& rec, MatmulVariant variant, Tensor& c, const Tensor& a,
                  const Tensor& w, const MatmulOptions& options, uint64_t M, uint64_t N,
                  uint64_t K);

}  // namespace vktrain::ops::matmul_parts
