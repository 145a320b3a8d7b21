#pragma once
// What every op wrapper shares: finding a kernel's pipeline, sizing grid-stride dispatches, and
// walking element ranges over which every operand is contiguous.
#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"
#include "kernels/registry.hpp"
#include "ops/tensor.hpp"
#include "vk/context.hpp"
#include "vk/recorder.hpp"

namespace vktrain::ops {

inline constexpr uint32_t kGroupSize = 256;  // local size of the element-wise kernels
// Elements per dispatch, so 32-bit indices in kernels never overflow.
inline constexpr uint64_t kMaxDispatchElements = 1ull << 30;

constexpr uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

VkPipeline pipeline(vk::Context& context, const std::string& kernel,
                    std::vector<uint32_t> spec = {}, uint32_t subgroup_size = 0);

// Empty when the device multiplies `in` on cooperative matrices: f16, or bf16 where it has
// bfloat16_t cooperative matrices (VK_KHR_shader_bfloat16) and shaderFloat16 (glslang declares
// Float16 for bfloat16_t kernels); otherwise why not, in words.
std::string coopmat_dtype_unavailable(const vk::Capabilities& caps, DType in);
// The same, and VK_KHR_cooperative_matrix's 16x16x16 subgroup shape for `in` x `in` -> f32.
std::string coopmat_khr_unavailable(const vk::Capabilities& caps, DType in);

// Kernels written for subgroups of exactly `size` lanes (the cooperative-matrix ones: each
// subgroup owns a block of the tile) run where the pipeline can require that size
// (VK_EXT_subgroup_size_control, the size within the device's range) or where the device runs
// that one size only. Every other kernel works at any subgroup size. Empty, or why not.
std::string subgroup_size_unavailable(const vk::Capabilities& caps, uint32_t size);

// A VK_KHR_cooperative_matrix subgroup shape, M x N x K; m == 0: none.
struct CoopmatFragment {
  uint32_t m = 0, n = 0, k = 0;
};
// The shape for `in` x `in` -> f32 that matmul_coopmat.comp builds its tiles of: 16x16x16 where
// the device lists it (NVIDIA, AMD RDNA3), else a listed one whose sides are 8 or 16, which
// divide the kernel's subgroup tiles and K step (lavapipe lists only 8x8x8).
CoopmatFragment coopmat_khr_fragment(const vk::Capabilities& caps, DType in);

// Workgroups for a grid-stride loop over `count` elements, within the device's limit.
uint32_t stride_groups(const vk::Context& context, uint64_t count, uint32_t cap = 65535);

// For kernels with vector steps (kernels/common.glsl): the elements before the first one at which
// every operand's address is 16-byte aligned, below 8; or `count` (no vector steps) for f32
// elements, which are faster one per thread (bench/RESULTS.md), or where the addresses never
// align together.
uint32_t vector_head(uint64_t count, DType dtype, const std::vector<uint64_t>& addresses);
// Workgroups for such a kernel: a thread per vector step, or per element outside them where more.
uint32_t vector_groups(const vk::Context& context, uint64_t count, uint32_t head);

struct Piece {
  uint64_t first = 0, count = 0;
  std::vector<Location> at;  // one per tensor, at element `first`
};

// Calls visit(piece) for consecutive element ranges covering [0, count) where each tensor is
// contiguous (one span) and no range exceeds kMaxDispatchElements.
template <typename Visit>
void for_each_piece(uint64_t count, const std::vector<const Tensor*>& tensors, Visit visit) {
  for (uint64_t first = 0; first < count;) {
    Piece piece;
    piece.first = first;
    piece.count = std::min(count - first, kMaxDispatchElements);
    for (const Tensor* t : tensors) {
      piece.at.push_back(locate(*t, first));
      piece.count = std::min(piece.count, piece.at.back().contiguous);
    }
    visit(piece);
    first += piece.count;
  }
}

// Calls visit(first, count, at) for consecutive row ranges covering [0, rows), at most max_rows
// each, over which every tensor is contiguous; at[i] locates tensors[i] (which holds `per_row`
// elements a row) at row `first`. Null tensors are skipped (their Location is empty).
template <typename Visit>
void for_each_rows(uint64_t rows, uint64_t max_rows,
                   const std::vector<std::pair<const Tensor*, uint64_t>>& tensors, Visit visit) {
  for (uint64_t first = 0; first < rows;) {
    uint64_t count = std::min(rows - first, max_rows);
    std::vector<Location> at(tensors.size(), Location{nullptr, 0, 0});
    for (size_t i = 0; i < tensors.size(); ++i) {
      auto [tensor, per_row] = tensors[i];
      if (!tensor) continue;
      at[i] = locate(*tensor, first * per_row);
      count = std::min(count, at[i].contiguous / per_row);
    }
    visit(first, count, at);
    first += count;
  }
}

// Fails, naming the op and what to shorten, when one invocation of a dispatch would run more
// loop iterations (an estimate from above) than the device's driver lets it (caps.loop_limit):
// there its loops would stop early with no error and the results would be wrong.
void require_loop_budget(const vk::Context& context, const char* op, uint64_t iterations,
                         std::string_view what);

// The bytes of `t` that a piece covers, for the recorder's hazard tracking.
vk::ByteRange piece_range(const Tensor& t, const Location& at, uint64_t count);

void require_same_shape(const char* op, const Tensor& a, const Tensor& b);
void require_float(const char* op, const Tensor& t);  // f32, f16 or bf16: not i32, no blocks
void require_same_dtype(const char* op, const Tensor& a, const Tensor& b);

}  // namespace vktrain::ops
