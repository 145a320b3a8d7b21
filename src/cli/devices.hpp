#pragma once
#include <string>

#include "vk/capabilities.hpp"

namespace vktrain::cli {

// `vktrain devices`: every Vulkan device with its capabilities and memory.
int run_devices();
// The capability report of one device, as `devices` and `doctor` print it.
std::string describe_device(const vk::Capabilities& caps);

}  // namespace vktrain::cli
