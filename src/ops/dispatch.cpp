#include "ops/dispatch.hpp"

#include "vk/extensions.hpp"

namespace vktrain::ops {

std::string coopmat_dtype_unavailable(const vk::Capabilities& caps, DType in) {
  if (in == DType::f16) return "";
  if (in != DType::bf16)
    return fmt::format("cooperative matrices take f16 or bf16, not {}", dtype_name(in));
  if (!caps.coopmat_bf16 || !caps.fp16)
    return fmt::format("'{}' lacks bfloat16_t cooperative matrices (VK_KHR_shader_bfloat16) or "
                       "shaderFloat16",
                       caps.name);
  return "";
}

namespace {
VkComponentTypeKHR coopmat_type(DType in) {
  return in == DType::bf16 ? VK_COMPONENT_TYPE_BFLOAT16_KHR : VK_COMPONENT_TYPE_FLOAT16_KHR;
}
}  // namespace

std::string coopmat_khr_unavailable(const vk::Capabilities& caps, DType in) {
  if (auto why = coopmat_dtype_unavailable(caps, in); !why.empty()) return why;
  VkComponentTypeKHR type = coopmat_type(in);
  if (!caps.coopmat_khr || !caps.has_coopmat_khr(type, VK_COMPONENT_TYPE_FLOAT32_KHR, 16, 16, 16))
    return fmt::format("'{}' lacks VK_KHR_cooperative_matrix with 16x16x16 {} -> f32", caps.name,
                       dtype_name(in));
  return "";
}

std::string subgroup_size_unavailable(const vk::Capabilities& caps, uint32_t size) {
  const bool in_range = caps.subgroup_min <= size && size <= caps.subgroup_max;
  if (in_range && (caps.subgroup_size_control || caps.subgroup_min == caps.subgroup_max)) return "";
  if (!in_range)
    return fmt::format("'{}' runs subgroups of {} to {} lanes, not {}", caps.name,
                       caps.subgroup_min, caps.subgroup_max, size);
  return fmt::format("'{}' runs subgroups of {} to {} lanes and cannot require {} (no "
                     "VK_EXT_subgroup_size_control)",
                     caps.name, caps.subgroup_min, caps.subgroup_max, size);
}

CoopmatFragment coopmat_khr_fragment(const vk::Capabilities& caps, DType in) {
  if (!caps.coopmat_khr) return {};
  const VkComponentTypeKHR type = coopmat_type(in), f32 = VK_COMPONENT_TYPE_FLOAT32_KHR;
  if (caps.has_coopmat_khr(type, f32, 16, 16, 16)) return {16, 16, 16};
  auto side = [](uint32_t x) { return x == 8 || x == 16; };
  for (const auto& s : caps.coopmat_khr_shapes)
    if (caps.has_coopmat_khr(type, f32, s.m, s.n, s.k) && side(s.m) && side(s.n) && side(s.k))
      return {s.m, s.n, s.k};
  return {};
}

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

uint32_t vector_head(uint64_t count, DType dtype, const std::vector<uint64_t>& addresses) {
  constexpr uint64_t kVector = 8, kAlign = 16;
  if (dtype != DType::f16 && dtype != DType::bf16) return uint32_t(count);
  for (uint64_t head = 0; head < kVector; ++head) {
    bool aligned = std::all_of(addresses.begin(), addresses.end(),
                               [&](uint64_t address) { return (address + 2 * head) % kAlign == 0; });
    if (aligned) return uint32_t(std::min(head, count));
  }
  return uint32_t(count);
}

uint32_t vector_groups(const vk::Context& context, uint64_t count, uint32_t head) {
  uint64_t steps = (count - head) / 8;
  return stride_groups(context, std::max(steps, count - 8 * steps));
}

void require_loop_budget(const vk::Context& context, const char* op, uint64_t iterations,
                         std::string_view what) {
  const auto& caps = context.caps();
  if (caps.loop_limit && iterations > caps.loop_limit)
    fail("[{}] {} needs about {} loop iterations in one shader invocation, over the {} that "
         "'{}' runs before it silently stops a shader's loops; use a smaller size on this driver",
         op, what, iterations, caps.loop_limit, caps.name);
}

vk::ByteRange piece_range(const Tensor& t, const Location& at, uint64_t count) {
  return vk::range_of(*at.span, at.offset, dtype_bytes(t.dtype, count));
}

void require_same_shape(const char* op, const Tensor& a, const Tensor& b) {
  if (a.shape != b.shape) fail("[{}] {} and {} differ in shape", op, a.describe(), b.describe());
}

void require_float(const char* op, const Tensor& t) {
  if (!dtype_is_float(t.dtype)) fail("[{}] {} must be f32, f16 or bf16", op, t.describe());
}

void require_same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  if (a.dtype != b.dtype) fail("[{}] {} and {} differ in dtype", op, a.describe(), b.describe());
}

}  // namespace vktrain::ops
