#pragma once
// What the mixture-of-experts ops share: their index tensors and checks. The moe kernels address
// each operand as one buffer, so every operand must lie in one allocation (a [T, C] activation
// does unless it is larger than maxMemoryAllocationSize; the ops say so instead of misreading).
#include <vector>

#include "ops/tensor.hpp"
#include "vk/recorder.hpp"

namespace vktrain::ops::moe {

struct Whole {
  uint64_t address = 0;
  vk::ByteRange range;
};
// The address and bytes of `t`; fails, naming op and tensor, where t spans allocations.
Whole whole(const char* op, const Tensor& t);

void require_dtype(const char* op, const Tensor& t, DType dtype);
void require_shape(const char* op, const Tensor& t, const std::vector<int64_t>& shape);
// Fails unless `count` fits the kernels' 32-bit indices.
void require_index_range(const char* op, uint64_t count, const char* what);

// Workgroups for `count` items, `per_group` a workgroup, within the device's x limit.
uint32_t groups(const vk::Context& context, const char* op, uint64_t count, uint64_t per_group);

}  // namespace vktrain::ops::moe
