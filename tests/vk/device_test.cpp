#include <gtest/gtest.h>

#include "base/error.hpp"
#include "support/support.hpp"
#include "vk/device.hpp"

using namespace vktrain;

namespace {

vk::Capabilities usable(const char* name, VkPhysicalDeviceType type) {
  vk::Capabilities c;
  c.name = name;
  c.type = type;
  c.api_version = VK_API_VERSION_1_3;
  c.buffer_device_address = c.int64 = c.storage16 = true;
  return c;
}

std::string error_of(const std::vector<vk::Capabilities>& devices,
                     std::optional<std::string> request) {
  return test::error_message([&] { vk::select_device(devices, request); });
}

}  // namespace

TEST(DeviceSelection, PrefersDiscreteThenIntegratedThenCpu) {
  std::vector<vk::Capabilities> all = {usable("cpu", VK_PHYSICAL_DEVICE_TYPE_CPU),
                                       usable("igpu", VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU),
                                       usable("dgpu", VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU)};
  EXPECT_EQ(vk::select_device(all, std::nullopt), 2u);
  all.pop_back();
  EXPECT_EQ(vk::select_device(all, std::nullopt), 1u);
}

TEST(DeviceSelection, ByIndexOrNameSubstring) {
  std::vector<vk::Capabilities> all = {usable("llvmpipe (LLVM 15)", VK_PHYSICAL_DEVICE_TYPE_CPU),
                                       usable("AMD Radeon 8060S", VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU)};
  EXPECT_EQ(vk::select_device(all, "0"), 0u);
  EXPECT_EQ(vk::select_device(all, "radeon"), 1u);
  EXPECT_EQ(vk::select_device(all, "LLVMPIPE"), 0u);
}

TEST(DeviceSelection, MissingIndexNamesTheRequestAndTheDevices) {
  std::vector<vk::Capabilities> all = {usable("llvmpipe", VK_PHYSICAL_DEVICE_TYPE_CPU)};
  auto message = error_of(all, "7");
  EXPECT_NE(message.find("VKTRAIN_DEVICE=7"), std::string::npos) << message;
  EXPECT_NE(message.find("only 1 Vulkan device"), std::string::npos) << message;
  EXPECT_NE(message.find("0: llvmpipe"), std::string::npos) << message;
  EXPECT_NE(error_of(all, "nvidia").find("matches no Vulkan device"), std::string::npos);
}

TEST(DeviceSelection, DeviceWithoutRequiredFeatureIsRefusedByName) {
  auto old = usable("old gpu", VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU);
  old.buffer_device_address = false;
  auto message = error_of({old}, "0");
  EXPECT_NE(message.find("'old gpu' lacks bufferDeviceAddress"), std::string::npos) << message;
  // Without a request, a usable device is preferred over a faster unusable one.
  EXPECT_EQ(vk::select_device({old, usable("cpu", VK_PHYSICAL_DEVICE_TYPE_CPU)}, std::nullopt), 1u);
  EXPECT_NE(error_of({old}, std::nullopt).find("lacks"), std::string::npos);
}

TEST(DeviceSelection, NoDevices) {
  EXPECT_NE(error_of({}, std::nullopt).find("no Vulkan device"), std::string::npos);
}

TEST(Capabilities, RealDeviceReportsWhatKernelsNeed) {
  const auto& caps = test::context().caps();
  EXPECT_TRUE(caps.missing_required().empty());
  EXPECT_GT(caps.subgroup_size, 0u);
  EXPECT_GE(caps.max_push_constants, 128u);
  EXPECT_GT(caps.max_allocation, 0u);
  ASSERT_FALSE(caps.heaps.empty());
  EXPECT_GT(caps.heaps[0].budget, 0u);
}

namespace {

// A device with every capability VKTRAIN_DISABLE can hide.
vk::Capabilities everything() {
  vk::Capabilities c;
  c.fp16 = c.bf16 = c.coopmat_khr = c.coopmat2_nv = c.coopmat2_nv_element_ops = c.coopmat_bf16 = true;
  c.subgroup_size_control = true;
  c.coopmat_khr_shapes.resize(2);
  c.coopmat2_nv_shapes.resize(3);
  return c;
}

}  // namespace

TEST(HiddenCapabilities, EachNameHidesItsPathAndWhatDependsOnIt) {
  vk::Capabilities c = everything();
  vk::hide_capabilities(c, "coopmat2");
  EXPECT_FALSE(c.coopmat2_nv || c.coopmat2_nv_element_ops);
  EXPECT_TRUE(c.coopmat2_nv_shapes.empty());
  EXPECT_TRUE(c.coopmat_khr && c.coopmat_bf16 && c.bf16 && c.fp16 && c.subgroup_size_control);
  EXPECT_EQ(c.hidden, (std::vector<std::string>{"coopmat2"}));

  c = everything();
  vk::hide_capabilities(c, " coopmat , subgroup-size-control,");  // spaces, an empty item
  EXPECT_FALSE(c.coopmat_khr || c.coopmat2_nv || c.coopmat_bf16 || c.subgroup_size_control);
  EXPECT_TRUE(c.coopmat_khr_shapes.empty() && c.coopmat2_nv_shapes.empty());
  EXPECT_TRUE(c.bf16 && c.fp16);
  EXPECT_EQ(c.hidden, (std::vector<std::string>{"coopmat", "subgroup-size-control"}));

  c = everything();
  vk::hide_capabilities(c, "bf16,fp16");
  EXPECT_FALSE(c.bf16 || c.coopmat_bf16 || c.fp16);
  EXPECT_TRUE(c.coopmat_khr && c.coopmat2_nv);
}

TEST(HiddenCapabilities, UnknownNamesAreErrors) {
  vk::Capabilities c = everything();
  auto message = test::error_message([&] { vk::hide_capabilities(c, "coopmat2,tensorcores"); });
  EXPECT_NE(message.find("[VKTRAIN_DISABLE] unknown capability 'tensorcores'; it hides coopmat2, "
                         "coopmat, bf16, fp16, subgroup-size-control"),
            std::string::npos) << message;
}
