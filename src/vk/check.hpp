#pragma once
// VK_CHECK: every Vulkan call that returns VkResult goes through it; a failure becomes an Error
// carrying the call, the result and the source location.
#include <vulkan/vulkan.h>

#include "base/error.hpp"

namespace vktrain::vk {

const char* result_name(VkResult result);
[[noreturn]] void throw_result(VkResult result, const char* call, const char* file, int line);

}  // namespace vktrain::vk

#define VK_CHECK(call)                                                          \
  do {                                                                          \
    VkResult vk_check_result_ = (call);                                         \
    if (vk_check_result_ != VK_SUCCESS)                                         \
      ::vktrain::vk::throw_result(vk_check_result_, #call, __FILE__, __LINE__); \
  } while (0)
