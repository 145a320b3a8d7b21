#pragma once
// What one physical device can do, read once from Vulkan: the facts `vktrain devices` prints and
// every op consults when it picks a kernel variant.
#include <vulkan/vulkan.h>

#include <string>
#include <string_view>
#include <vector>

#include "vk/extensions.hpp"

namespace vktrain::vk {

// One cooperative-matrix multiply the device supports. For VK_NV_cooperative_matrix2's flexible
// dimensions, m, n and k are granularities (any multiple works) and `workgroup` is the workgroup
// size the shape needs; for VK_KHR_cooperative_matrix they are the exact shape and `workgroup` 0.
struct CoopMatShape {
  uint32_t m, n, k;
  VkComponentTypeKHR a, b, c, result;
  VkScopeKHR scope;
  uint32_t workgroup = 0;
};

struct MemoryHeap {
  uint64_t size = 0;
  uint64_t budget = 0;  // VK_EXT_memory_budget, else the heap size
  uint64_t usage = 0;
  bool device_local = false;
};

struct Capabilities {
  std::string name;
  std::string driver;
  VkPhysicalDeviceType type = VK_PHYSICAL_DEVICE_TYPE_OTHER;
  // A discrete or integrated GPU (not a CPU driver such as lavapipe): ops pick their GPU
  // tilings and paths by this.
  bool is_gpu() const {
    return type == VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU ||
           type == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU;
  }
  uint32_t vendor_id = 0;
  uint32_t api_version = 0;
  uint8_t uuid[VK_UUID_SIZE] = {};

  bool buffer_device_address = false;
  bool int64 = false;
  bool int16 = false;
  bool int8 = false;
  bool fp16 = false;          // shaderFloat16 arithmetic
  bool bf16 = false;          // VK_KHR_shader_bfloat16 (else bf16 is converted in-shader)
  bool storage16 = false;     // storageBuffer16BitAccess
  bool storage8 = false;      // storageBuffer8BitAccess
  bool subgroup_arithmetic = false;
  bool subgroup_size_control = false;
  uint32_t subgroup_size = 0, subgroup_min = 0, subgroup_max = 0;
  bool memory_budget = false;      // VK_EXT_memory_budget
  bool coopmat_khr = false;        // VK_KHR_cooperative_matrix enabled and usable
  std::vector<CoopMatShape> coopmat_khr_shapes;
  bool coopmat2_nv = false;        // VK_NV_cooperative_matrix2 with tensor addressing
  std::vector<CoopMatShape> coopmat2_nv_shapes;  // its flexible-dimension (workgroup) shapes
  bool coopmat2_nv_element_ops = false;  // and its reductions, conversions, per-element operations
  bool coopmat_bf16 = false;       // shaderBFloat16CooperativeMatrix: bfloat16_t coopmats
  bool unified_memory = false;     // every device-local heap also host-visible (APUs, ReBAR)
  std::vector<std::string> hidden;  // what VKTRAIN_DISABLE hid (vk::hide_capabilities)

  uint64_t max_allocation = 0;          // maxMemoryAllocationSize
  // Loop iterations one shader invocation may run in all, every loop of the shader counted
  // together, before the driver silently stops looping (no error, wrong results); 0: no limit.
  // Mesa's llvmpipe (lavapipe) counts every loop back-edge against one limiter of 65535
  // (gallivm's LP_MAX_TGSI_LOOP_ITERATIONS); GPU drivers have none. Ops with data-dependent
  // loops keep each dispatch's count under it (ops/dispatch.hpp: require_loop_budget).
  uint32_t loop_limit = 0;
  uint64_t max_storage_buffer_range = 0;
  uint32_t max_shared_memory = 0;
  uint32_t max_workgroup_invocations = 0;
  uint32_t max_workgroup_count[3] = {};
  uint32_t max_push_constants = 0;
  float timestamp_period_ns = 0;
  bool timestamps = false;
  std::vector<MemoryHeap> heaps;

  std::string type_name() const;
  bool has_coopmat_khr(VkComponentTypeKHR ab, VkComponentTypeKHR c, uint32_t m, uint32_t n,
                       uint32_t k) const;
  // The features vktrain cannot run without, or an empty string when all are present.
  std::string missing_required() const;
};

// The device's capabilities, less those VKTRAIN_DISABLE names (hide_capabilities).
Capabilities query_capabilities(VkInstance instance, VkPhysicalDevice device);

// Hides the capabilities a comma-separated list names, so that ops take the paths of a device
// without them: "coopmat2" (VK_NV_cooperative_matrix2), "coopmat" (VK_KHR_cooperative_matrix,
// and so coopmat2 too), "bf16" (VK_KHR_shader_bfloat16: bf16 stays 16-bit words), "fp16"
// (shaderFloat16, and so the f16 cooperative-matrix kernels), "subgroup-size-control". An
// unknown name is an error naming it and the known ones.
void hide_capabilities(Capabilities& caps, std::string_view list);
std::vector<std::string> device_extensions(VkPhysicalDevice device);
// Refreshes heap budgets and usage (VK_EXT_memory_budget) in `caps`.
void refresh_budgets(VkPhysicalDevice device, Capabilities& caps);

}  // namespace vktrain::vk
