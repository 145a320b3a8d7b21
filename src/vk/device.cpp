#include "vk/device.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "vk/check.hpp"

namespace vktrain::vk {
namespace {

int type_rank(VkPhysicalDeviceType type) {
  switch (type) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 3;
    default: return 4;
  }
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string list_devices(const std::vector<Capabilities>& devices) {
  std::string text;
  for (size_t i = 0; i < devices.size(); ++i)
    text += fmt::format("{}{}: {}", i ? ", " : "", i, devices[i].name);
  return text.empty() ? "none" : text;
}

void require_usable(const Capabilities& caps) {
  auto missing = caps.missing_required();
  if (!missing.empty())
    fail("[device] '{}' lacks {}, which vktrain needs; pick another device with VKTRAIN_DEVICE "
         "or update its driver",
         caps.name, missing);
}

}  // namespace

size_t select_device(const std::vector<Capabilities>& devices,
                     const std::optional<std::string>& request) {
  if (devices.empty())
    fail("[device] no Vulkan device found: install your GPU's Vulkan driver, or "
         "mesa-vulkan-drivers for the CPU driver (lavapipe)");
  if (request) {
    size_t index = 0;
    const char* end = request->data() + request->size();
    auto [ptr, ec] = std::from_chars(request->data(), end, index);
    if (ec == std::errc() && ptr == end) {
      if (index >= devices.size())
        fail("[device] VKTRAIN_DEVICE={} but there {} only {} Vulkan device{} ({}); run "
             "'vktrain devices' to list them",
             *request, devices.size() == 1 ? "is" : "are", devices.size(),
             devices.size() == 1 ? "" : "s", list_devices(devices));
      require_usable(devices[index]);
      return index;
    }
    for (size_t i = 0; i < devices.size(); ++i) {
      if (lower(devices[i].name).find(lower(*request)) != std::string::npos) {
        require_usable(devices[i]);
        return i;
      }
    }
    fail("[device] VKTRAIN_DEVICE='{}' matches no Vulkan device ({}); run 'vktrain devices' to "
         "list them",
         *request, list_devices(devices));
  }
  std::optional<size_t> best;
  for (size_t i = 0; i < devices.size(); ++i) {
    if (!devices[i].missing_required().empty()) continue;
    if (!best || type_rank(devices[i].type) < type_rank(devices[*best].type)) best = i;
  }
  if (!best) require_usable(devices.front());  // throws, naming what the first device lacks
  return *best;
}

Device::Device(Instance& instance, PhysicalDevice physical)
    : instance_(instance), physical_(physical.handle), caps_(std::move(physical.caps)) {
  require_usable(caps_);

  uint32_t family_count = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(physical_, &family_count, nullptr);
  std::vector<VkQueueFamilyProperties> families(family_count);
  vkGetPhysicalDeviceQueueFamilyProperties(physical_, &family_count, families.data());
  std::optional<uint32_t> family;
  for (uint32_t i = 0; i < family_count; ++i) {
    if (!(families[i].queueFlags & VK_QUEUE_COMPUTE_BIT)) continue;
    // Prefer a compute queue that also does graphics: it is the one with timestamps everywhere.
    if (!family || (families[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)) family = i;
    if (families[i].queueFlags & VK_QUEUE_GRAPHICS_BIT) break;
  }
  if (!family) fail("[device] '{}' has no compute queue", caps_.name);
  queue_family_ = *family;
  caps_.timestamps = caps_.timestamps || families[queue_family_].timestampValidBits > 0;

  float priority = 1.0f;
  VkDeviceQueueCreateInfo queue_info{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  queue_info.queueFamilyIndex = queue_family_;
  queue_info.queueCount = 1;
  queue_info.pQueuePriorities = &priority;

  std::vector<const char*> extensions;
  VkPhysicalDeviceFeatures2 features{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  features.features.shaderInt64 = VK_TRUE;
  features.features.shaderInt16 = caps_.int16;
  VkPhysicalDeviceVulkan11Features v11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
  v11.storageBuffer16BitAccess = VK_TRUE;
  VkPhysicalDeviceVulkan12Features v12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  v12.bufferDeviceAddress = VK_TRUE;
  v12.shaderFloat16 = caps_.fp16;
  v12.shaderInt8 = caps_.int8;
  v12.storageBuffer8BitAccess = caps_.storage8;
  v12.vulkanMemoryModel = caps_.coopmat_khr;
  v12.vulkanMemoryModelDeviceScope = caps_.coopmat_khr;
  VkPhysicalDeviceVulkan13Features v13{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES};
  v13.subgroupSizeControl = caps_.subgroup_size_control;
  v13.computeFullSubgroups = caps_.subgroup_size_control;
  // Kernels sized by specialization constants (local_size_x_id) declare LocalSizeId, which needs
  // maintenance4 (core in 1.3, where v13 is linked); newer validation layers say so.
  v13.maintenance4 = VK_TRUE;
  VkPhysicalDeviceCooperativeMatrixFeaturesKHR coopmat{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR};
  coopmat.cooperativeMatrix = VK_TRUE;
  VkPhysicalDeviceCooperativeMatrix2FeaturesNV coopmat2{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_2_FEATURES_NV};
  coopmat2.cooperativeMatrixWorkgroupScope = VK_TRUE;
  coopmat2.cooperativeMatrixFlexibleDimensions = VK_TRUE;
  coopmat2.cooperativeMatrixTensorAddressing = VK_TRUE;
  coopmat2.cooperativeMatrixReductions = caps_.coopmat2_nv_element_ops;
  coopmat2.cooperativeMatrixConversions = caps_.coopmat2_nv_element_ops;
  coopmat2.cooperativeMatrixPerElementOperations = caps_.coopmat2_nv_element_ops;
  VkPhysicalDeviceShaderBfloat16FeaturesKHR bf16{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_BFLOAT16_FEATURES_KHR};
  bf16.shaderBFloat16Type = VK_TRUE;
  bf16.shaderBFloat16CooperativeMatrix = caps_.coopmat_bf16;

  void** tail = &features.pNext;
  auto link = [&](auto& s) { *tail = &s; tail = &s.pNext; };
  link(v11);
  link(v12);
  if (caps_.api_version >= VK_API_VERSION_1_3) link(v13);
  if (caps_.memory_budget) extensions.push_back(VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
  if (caps_.coopmat_khr) {
    extensions.push_back(VK_KHR_COOPERATIVE_MATRIX_EXTENSION_NAME);
    link(coopmat);
  }
  if (caps_.coopmat2_nv) {
    extensions.push_back(VK_NV_COOPERATIVE_MATRIX_2_EXTENSION_NAME);
    link(coopmat2);
  }
  if (caps_.bf16) {
    extensions.push_back(VK_KHR_SHADER_BFLOAT16_EXTENSION_NAME);
    link(bf16);
  }

  VkDeviceCreateInfo info{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
  info.pNext = &features;
  info.queueCreateInfoCount = 1;
  info.pQueueCreateInfos = &queue_info;
  info.enabledExtensionCount = uint32_t(extensions.size());
  info.ppEnabledExtensionNames = extensions.data();
  VK_CHECK(vkCreateDevice(physical_, &info, nullptr, &device_));
  vkGetDeviceQueue(device_, queue_family_, 0, &queue_);

  VkCommandPoolCreateInfo pool_info{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  pool_info.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  pool_info.queueFamilyIndex = queue_family_;
  VK_CHECK(vkCreateCommandPool(device_, &pool_info, nullptr, &pool_));
  instance_.check_validation();
}

Device::~Device() {
  if (!device_) return;
  vkDeviceWaitIdle(device_);
  vkDestroyCommandPool(device_, pool_, nullptr);
  vkDestroyDevice(device_, nullptr);
}

VkCommandBuffer Device::allocate_command_buffer() {
  VkCommandBufferAllocateInfo info{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
  info.commandPool = pool_;
  info.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  info.commandBufferCount = 1;
  VkCommandBuffer cb = VK_NULL_HANDLE;
  VK_CHECK(vkAllocateCommandBuffers(device_, &info, &cb));
  return cb;
}

void Device::free_command_buffer(VkCommandBuffer cb) {
  vkFreeCommandBuffers(device_, pool_, 1, &cb);
}

VkFence Device::create_fence() {
  VkFenceCreateInfo info{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  VkFence fence = VK_NULL_HANDLE;
  VK_CHECK(vkCreateFence(device_, &info, nullptr, &fence));
  return fence;
}

void Device::destroy_fence(VkFence fence) { vkDestroyFence(device_, fence, nullptr); }

void Device::submit(VkCommandBuffer cb, VkFence fence) {
  VkSubmitInfo submit{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  submit.commandBufferCount = 1;
  submit.pCommandBuffers = &cb;
  VK_CHECK(vkResetFences(device_, 1, &fence));
  VK_CHECK(vkQueueSubmit(queue_, 1, &submit, fence));
}

void Device::wait(VkFence fence) {
  VK_CHECK(vkWaitForFences(device_, 1, &fence, VK_TRUE, UINT64_MAX));
  instance_.check_validation();
}

bool Device::wait_for(VkFence fence, uint64_t timeout_ns) {
  const VkResult result = vkWaitForFences(device_, 1, &fence, VK_TRUE, timeout_ns);
  if (result == VK_TIMEOUT) return false;
  VK_CHECK(result);
  instance_.check_validation();
  return true;
}

}  // namespace vktrain::vk
