#pragma once
// What every op wrapper shares: finding a kernel's pipeline, sizing grid-stride dispatches, and
// walking element ranges over which every operand is contiguous.
#include <algorithm>
#include <string>
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

VkPipeline pipeline(vk::Context& context, const std::string& kernel,
                    std::vector<uint32_t> spec = {}, uint32_t subgroup_size = 0);

// Workgroups for a grid-stride loop over `count` elements, within the device's limit.
uint32_t stride_groups(const vk::Context& context, uint64_t count, uint32_t cap = 65535);

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

// The bytes of `t` that a piece covers, for the recorder's hazard tracking.
vk::ByteRange piece_range(const Tensor& t, const Location& at, uint64_t count);

void require_same_shape(const char* op, const Tensor& a, const Tensor& b);
void require_same_dtype(const char* op, const Tensor& a, const Tensor& b);

}  // namespace vktrain::ops
