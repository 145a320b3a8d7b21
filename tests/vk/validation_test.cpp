#include <gtest/gtest.h>

#include "base/error.hpp"
#include "vk/context.hpp"

using namespace vktrain;

// With validation on, a usage error reported by the Khronos layer becomes an Error at the next
// check instead of passing silently.
TEST(Validation, LayerMessagesBecomeErrors) {
  vk::ContextOptions options = vk::ContextOptions::from_env();
  options.validate = true;
  vk::Context ctx(options);
  ASSERT_TRUE(ctx.instance.validating());
  EXPECT_NO_THROW(ctx.instance.check_validation());

  VkBufferCreateInfo info{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  info.size = 256;
  info.usage = 0;  // invalid: a buffer needs at least one usage flag
  VkBuffer buffer = VK_NULL_HANDLE;
  vkCreateBuffer(ctx.device.handle(), &info, nullptr, &buffer);
  if (buffer) vkDestroyBuffer(ctx.device.handle(), buffer, nullptr);
  try {
    ctx.instance.check_validation();
    FAIL() << "the validation layer reported nothing";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[vulkan validation]"), std::string::npos);
  }
}
