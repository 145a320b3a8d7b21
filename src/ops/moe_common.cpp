#include "ops/moe_common.hpp"

#include <algorithm>

#include <fmt/ranges.h>

#include "base/error.hpp"
#include "ops/dispatch.hpp"
#include "vk/context.hpp"

namespace vktrain::ops::moe {

Whole whole(const char* op, const Tensor& t) {
  if (t.numel() == 0) fail("[{}] {} is empty", op, t.describe());
  Location at = locate(t, 0);
  if (at.contiguous < t.numel())
    fail(
        "[{}] {} spans several allocations; the mixture-of-experts kernels need it in one "
        "(use fewer tokens per step)",
        op, t.describe());
  return {at.address(), vk::range_of(*at.span, at.offset, t.bytes())};
}

void require_dtype(const char* op, const Tensor& t, DType dtype) {
  if (t.dtype != dtype) fail("[{}] {} must be {}", op, t.describe(), dtype_name(dtype));
}

void require_shape(const char* op, const Tensor& t, const std::vector<int64_t>& shape) {
  if (t.shape != shape)
    fail("[{}] {} must have shape [{}]", op, t.describe(), fmt::join(shape, ", "));
}

void require_index_range(const char* op, uint64_t count, const char* what) {
  if (count >= (1ull << 31))
    fail("[{}] {} has {} elements, over the kernels' 2^31", op, what, count);
}

uint32_t groups(const vk::Context& context, const char* op, uint64_t count, uint64_t per_group) {
  uint64_t n = std::max<uint64_t>(ceil_div(count, per_group), 1);
  if (n > context.caps().max_workgroup_count[0])
    fail("[{}] {} items need {} workgroups, over the device's {}", op, count, n,
         context.caps().max_workgroup_count[0]);
  return uint32_t(n);
}

}  // namespace vktrain::ops::moe
