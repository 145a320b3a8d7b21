#pragma once
// The Vulkan instance: loader, optional Khronos validation (VKTRAIN_VALIDATE=1) whose messages
// are collected and turned into an Error at the next check, and physical-device enumeration.
#include <vulkan/vulkan.h>

#include <mutex>
#include <string>
#include <vector>

namespace vktrain::vk {

class Instance {
 public:
  explicit Instance(bool validate);
  ~Instance();
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  VkInstance handle() const { return instance_; }
  bool validating() const { return messenger_ != VK_NULL_HANDLE; }
  std::vector<VkPhysicalDevice> physical_devices() const;

  // Throws an Error holding the first validation message seen since the last check.
  void check_validation();

 private:
  static VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT,
                                                   VkDebugUtilsMessageTypeFlagsEXT,
                                                   const VkDebugUtilsMessengerCallbackDataEXT*,
                                                   void* self);

  VkInstance instance_ = VK_NULL_HANDLE;
  VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
  uint32_t api_version_ = VK_API_VERSION_1_2;
  std::mutex messages_mutex_;
  std::vector<std::string> messages_;
};

}  // namespace vktrain::vk
