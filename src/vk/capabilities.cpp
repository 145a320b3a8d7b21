#include "vk/capabilities.hpp"

#include <algorithm>

#include "base/env.hpp"
#include "base/error.hpp"
#include "vk/check.hpp"

namespace vktrain::vk {

std::vector<std::string> device_extensions(VkPhysicalDevice device) {
  uint32_t count = 0;
  VK_CHECK(vkEnumerateDeviceExtensionProperties(device, nullptr, &count, nullptr));
  std::vector<VkExtensionProperties> properties(count);
  VK_CHECK(vkEnumerateDeviceExtensionProperties(device, nullptr, &count, properties.data()));
  std::vector<std::string> names;
  for (const auto& p : properties) names.emplace_back(p.extensionName);
  return names;
}

void refresh_budgets(VkPhysicalDevice device, Capabilities& caps) {
  VkPhysicalDeviceMemoryBudgetPropertiesEXT budget{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT};
  VkPhysicalDeviceMemoryProperties2 memory{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2};
  if (caps.memory_budget) memory.pNext = &budget;
  vkGetPhysicalDeviceMemoryProperties2(device, &memory);
  const auto& props = memory.memoryProperties;
  caps.heaps.assign(props.memoryHeapCount, {});
  for (uint32_t i = 0; i < props.memoryHeapCount; ++i) {
    auto& heap = caps.heaps[i];
    heap.size = props.memoryHeaps[i].size;
    heap.device_local = props.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT;
    heap.budget = caps.memory_budget ? budget.heapBudget[i] : heap.size;
    heap.usage = caps.memory_budget ? budget.heapUsage[i] : 0;
  }
  // Unified memory: every device-local memory type is also host-visible.
  bool any_local = false, all_visible = true;
  for (uint32_t i = 0; i < props.memoryTypeCount; ++i) {
    auto flags = props.memoryTypes[i].propertyFlags;
    if (!(flags & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT)) continue;
    any_local = true;
    all_visible = all_visible && (flags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT);
  }
  caps.unified_memory = any_local && all_visible;
}

// The list a vkGetPhysicalDevice*Properties* query of extension `Function` returns, each entry
// of structure type `type`; empty when the loader does not know the function.
template <typename Function, typename Properties>
static std::vector<Properties> query_list(VkInstance instance, VkPhysicalDevice device,
                                          const char* name, VkStructureType type) {
  auto get = reinterpret_cast<Function>(vkGetInstanceProcAddr(instance, name));
  if (!get) return {};
  uint32_t count = 0;
  VK_CHECK(get(device, &count, nullptr));
  std::vector<Properties> props(count, Properties{type});
  VK_CHECK(get(device, &count, props.data()));
  props.resize(count);
  return props;
}

static std::vector<CoopMatShape> coopmat_shapes(VkInstance instance, VkPhysicalDevice device) {
  std::vector<CoopMatShape> shapes;
  for (const auto& p : query_list<PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR,
                                  VkCooperativeMatrixPropertiesKHR>(
           instance, device, "vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR",
           VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_KHR))
    shapes.push_back({p.MSize, p.NSize, p.KSize, p.AType, p.BType, p.CType, p.ResultType,
                      p.scope});
  return shapes;
}

static std::vector<CoopMatShape> coopmat2_shapes(VkInstance instance, VkPhysicalDevice device) {
  std::vector<CoopMatShape> shapes;
  for (const auto& p :
       query_list<PFN_vkGetPhysicalDeviceCooperativeMatrixFlexibleDimensionsPropertiesNV,
                  VkCooperativeMatrixFlexibleDimensionsPropertiesNV>(
           instance, device, "vkGetPhysicalDeviceCooperativeMatrixFlexibleDimensionsPropertiesNV",
           VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_FLEXIBLE_DIMENSIONS_PROPERTIES_NV))
    shapes.push_back({p.MGranularity, p.NGranularity, p.KGranularity, p.AType, p.BType, p.CType,
                      p.ResultType, p.scope, p.workgroupInvocations});
  return shapes;
}

Capabilities query_capabilities(VkInstance instance, VkPhysicalDevice device) {
  Capabilities caps;
  auto extensions = device_extensions(device);
  auto has = [&](const char* name) {
    return std::find(extensions.begin(), extensions.end(), name) != extensions.end();
  };

  VkPhysicalDeviceSubgroupSizeControlProperties subgroup_control{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES};
  VkPhysicalDeviceVulkan11Properties v11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_PROPERTIES};
  v11.pNext = &subgroup_control;
  VkPhysicalDeviceDriverProperties driver{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
  driver.pNext = &v11;
  VkPhysicalDeviceProperties2 props{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
  props.pNext = &driver;
  vkGetPhysicalDeviceProperties2(device, &props);
  const auto& p = props.properties;

  caps.name = p.deviceName;
  caps.driver = std::string(driver.driverName) + " " + driver.driverInfo;
  caps.type = p.deviceType;
  caps.vendor_id = p.vendorID;
  caps.api_version = p.apiVersion;
  std::copy(std::begin(p.pipelineCacheUUID), std::end(p.pipelineCacheUUID), caps.uuid);
  caps.subgroup_size = v11.subgroupSize;
  caps.subgroup_min = subgroup_control.minSubgroupSize ? subgroup_control.minSubgroupSize
                                                       : v11.subgroupSize;
  caps.subgroup_max = subgroup_control.maxSubgroupSize ? subgroup_control.maxSubgroupSize
                                                       : v11.subgroupSize;
  caps.subgroup_arithmetic = (v11.subgroupSupportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT) &&
                             (v11.subgroupSupportedStages & VK_SHADER_STAGE_COMPUTE_BIT);
  caps.max_storage_buffer_range = p.limits.maxStorageBufferRange;
  caps.max_shared_memory = p.limits.maxComputeSharedMemorySize;
  caps.max_workgroup_invocations = p.limits.maxComputeWorkGroupInvocations;
  std::copy(std::begin(p.limits.maxComputeWorkGroupCount),
            std::end(p.limits.maxComputeWorkGroupCount), caps.max_workgroup_count);
  caps.max_push_constants = p.limits.maxPushConstantsSize;
  caps.timestamp_period_ns = p.limits.timestampPeriod;
  caps.timestamps = p.limits.timestampComputeAndGraphics;
  caps.max_allocation = v11.maxMemoryAllocationSize;
  if (driver.driverID == VK_DRIVER_ID_MESA_LLVMPIPE) caps.loop_limit = 65535;

  VkPhysicalDeviceCooperativeMatrix2FeaturesNV coopmat2{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_2_FEATURES_NV};
  VkPhysicalDeviceCooperativeMatrixFeaturesKHR coopmat{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR};
  VkPhysicalDeviceShaderBfloat16FeaturesKHR bf16{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_BFLOAT16_FEATURES_KHR};
  VkPhysicalDeviceVulkan13Features v13{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES};
  VkPhysicalDeviceVulkan12Features v12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  VkPhysicalDeviceVulkan11Features v11f{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
  VkPhysicalDeviceFeatures2 features{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  // Chain only structures the device knows: unknown sTypes in a query chain are invalid usage.
  void** tail = &features.pNext;
  auto link = [&](auto& s) { *tail = &s; tail = &s.pNext; };
  link(v11f);
  link(v12);
  if (caps.api_version >= VK_API_VERSION_1_3) link(v13);
  bool khr_coopmat = has(VK_KHR_COOPERATIVE_MATRIX_EXTENSION_NAME);
  bool nv_coopmat2 = has(VK_NV_COOPERATIVE_MATRIX_2_EXTENSION_NAME);
  bool khr_bf16 = has(VK_KHR_SHADER_BFLOAT16_EXTENSION_NAME);
  if (khr_coopmat) link(coopmat);
  if (nv_coopmat2) link(coopmat2);
  if (khr_bf16) link(bf16);
  vkGetPhysicalDeviceFeatures2(device, &features);

  caps.buffer_device_address = v12.bufferDeviceAddress;
  caps.int64 = features.features.shaderInt64;
  caps.int16 = features.features.shaderInt16;
  caps.int8 = v12.shaderInt8;
  caps.fp16 = v12.shaderFloat16;
  caps.storage16 = v11f.storageBuffer16BitAccess;
  caps.storage8 = v12.storageBuffer8BitAccess;
  caps.subgroup_size_control = v13.subgroupSizeControl && v13.computeFullSubgroups;
  caps.memory_budget = has(VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
  caps.bf16 = khr_bf16 && bf16.shaderBFloat16Type;
  caps.coopmat_khr = khr_coopmat && coopmat.cooperativeMatrix &&
                     caps.api_version >= VK_API_VERSION_1_3 && v12.vulkanMemoryModel;
  if (caps.coopmat_khr) caps.coopmat_khr_shapes = coopmat_shapes(instance, device);
  caps.coopmat2_nv = caps.coopmat_khr && nv_coopmat2 && coopmat2.cooperativeMatrixTensorAddressing &&
                     coopmat2.cooperativeMatrixWorkgroupScope &&
                     coopmat2.cooperativeMatrixFlexibleDimensions;
  if (caps.coopmat2_nv) caps.coopmat2_nv_shapes = coopmat2_shapes(instance, device);
  caps.coopmat2_nv_element_ops = caps.coopmat2_nv && coopmat2.cooperativeMatrixReductions &&
                                 coopmat2.cooperativeMatrixConversions &&
                                 coopmat2.cooperativeMatrixPerElementOperations;
  caps.coopmat_bf16 = caps.bf16 && caps.coopmat_khr && bf16.shaderBFloat16CooperativeMatrix;
  if (auto list = env::get(env::kDisable)) hide_capabilities(caps, *list);
  refresh_budgets(device, caps);
  return caps;
}

void hide_capabilities(Capabilities& caps, std::string_view list) {
  static constexpr std::string_view kKnown = "coopmat2, coopmat, bf16, fp16, subgroup-size-control";
  while (!list.empty()) {
    const size_t comma = list.find(',');
    std::string_view name = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
    if (name.empty()) continue;
    if (name == "coopmat" || name == "coopmat2") {
      caps.coopmat2_nv = caps.coopmat2_nv_element_ops = false;
      caps.coopmat2_nv_shapes.clear();
    }
    if (name == "coopmat") {
      caps.coopmat_khr = false;
      caps.coopmat_khr_shapes.clear();
      caps.coopmat_bf16 = false;
    } else if (name == "bf16") {
      caps.bf16 = caps.coopmat_bf16 = false;
    } else if (name == "fp16") {
      caps.fp16 = false;
    } else if (name == "subgroup-size-control") {
      caps.subgroup_size_control = false;
    } else if (name != "coopmat2") {
      fail("[{}] unknown capability '{}'; it hides {}", env::kDisable, name, kKnown);
    }
    caps.hidden.emplace_back(name);
  }
}

std::string Capabilities::type_name() const {
  switch (type) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete GPU";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated GPU";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual GPU";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "CPU";
    default: return "other";
  }
}

bool Capabilities::has_coopmat_khr(VkComponentTypeKHR ab, VkComponentTypeKHR c, uint32_t m,
                                   uint32_t n, uint32_t k) const {
  return std::any_of(coopmat_khr_shapes.begin(), coopmat_khr_shapes.end(), [&](const auto& s) {
    return s.a == ab && s.b == ab && s.c == c && s.result == c && s.m == m && s.n == n &&
           s.k == k && s.scope == VK_SCOPE_SUBGROUP_KHR;
  });
}

std::string Capabilities::missing_required() const {
  std::string missing;
  auto need = [&](bool present, const char* what) {
    if (present) return;
    if (!missing.empty()) missing += ", ";
    missing += what;
  };
  need(api_version >= VK_API_VERSION_1_2, "Vulkan 1.2");
  need(buffer_device_address, "bufferDeviceAddress");
  need(int64, "shaderInt64");
  need(storage16, "storageBuffer16BitAccess");
  return missing;
}

}  // namespace vktrain::vk
