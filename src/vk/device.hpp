#pragma once
// Device selection (VKTRAIN_DEVICE = index or name substring; default discrete, then integrated,
// then CPU) and the logical device: one compute queue, a command pool, submissions that signal
// a fence, and waits on it.
#include <vulkan/vulkan.h>

#include <optional>
#include <string>
#include <vector>

#include "vk/capabilities.hpp"
#include "vk/instance.hpp"

namespace vktrain::vk {

struct PhysicalDevice {
  VkPhysicalDevice handle = VK_NULL_HANDLE;
  Capabilities caps;
};

// Index into `devices` chosen by `request` (an index or a case-insensitive name substring), or
// by type when there is no request. Throws an Error naming the request when nothing fits.
size_t select_device(const std::vector<Capabilities>& devices,
                     const std::optional<std::string>& request);

class Device {
 public:
  Device(Instance& instance, PhysicalDevice physical);
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  VkDevice handle() const { return device_; }
  VkPhysicalDevice physical() const { return physical_; }
  VkQueue queue() const { return queue_; }
  uint32_t queue_family() const { return queue_family_; }
  const Capabilities& caps() const { return caps_; }
  Instance& instance() const { return instance_; }

  VkCommandBuffer allocate_command_buffer();
  void free_command_buffer(VkCommandBuffer cb);
  VkFence create_fence();
  void destroy_fence(VkFence fence);
  // Submits `cb`; `fence` (reset here) signals when it has finished. Submitting without waiting
  // lets the host prepare the next submission while the device works.
  void submit(VkCommandBuffer cb, VkFence fence);
  // Waits for `fence`, then surfaces any validation message as an Error.
  void wait(VkFence fence);
  // Waits at most `timeout_ns` for `fence`; whether it signalled (then as wait()).
  bool wait_for(VkFence fence, uint64_t timeout_ns);

 private:
  Instance& instance_;
  VkPhysicalDevice physical_;
  Capabilities caps_;
  VkDevice device_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  uint32_t queue_family_ = 0;
  VkCommandPool pool_ = VK_NULL_HANDLE;
};

}  // namespace vktrain::vk
