#include "ops/dispatch.hpp"

namespace vktrain::ops {

VkPipeline pipeline(vk::Context& context, const std::string& kernel, std::vector<uint32_t> spec,
                    uint32_t subgroup_size) {
  const auto& spirv = kernels::get(kernel);
  return context.pipelines.get({kernel, std::move(spec), subgroup_size}, spirv.code());
}

uint32_t stride_groups(const vk::Context& context, uint64_t count, uint32_t cap) {
  uint64_t groups = (count + kGroupSize - 1) / kGroupSize;
  groups = std::min<uint64_t>({groups, cap, context.caps().max_workgroup_count[0]});
  return uint32_t(std::max<uint64_t>(groups, 1));
}

vk::ByteRange piece_range(const Tensor& t, const Location& at, uint64_t count) {
  return vk::range_of(*at.span, at.offset, count * dtype_size(t.dtype));
}

void require_same_shape(const char* op, const Tensor& a, const Tensor& b) {
  if (a.shape != b.shape) fail("[{}] {} and {} differ in shape", op, a.describe(), b.describe());
}

void require_float(const char* op, const Tensor& t) {
  if (t.dtype == DType::i32) fail("[{}] {} must be f32, f16 or bf16", op, t.describe());
}

void require_same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  if (a.dtype != b.dtype) fail("[{}] {} and {} differ in dtype", op, a.describe(), b.describe());
}

}  // namespace vktrain::ops
