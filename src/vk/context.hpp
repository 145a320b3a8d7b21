#pragma once
// Everything a program needs to run kernels on one device, passed explicitly to every op:
// instance, device, allocator and pipelines. No global state.
#include <optional>
#include <string>
#include <vector>

#include "vk/capabilities.hpp"
#include "vk/device.hpp"
#include "vk/instance.hpp"
#include "vk/memory.hpp"
#include "vk/pipelines.hpp"

namespace vktrain::vk {

struct ContextOptions {
  std::optional<std::string> device;  // index or name substring; VKTRAIN_DEVICE by default
  bool validate = false;              // VKTRAIN_VALIDATE
  bool profile = false;               // VKTRAIN_PROFILE
  std::string pipeline_cache;         // "" = the default file; "-" = no cache on disk
  AllocatorOptions memory;

  static ContextOptions from_env();
};

// Every Vulkan device on the system, in the loader's order.
std::vector<Capabilities> list_devices(Instance& instance);

class Context {
 public:
  explicit Context(const ContextOptions& options = ContextOptions::from_env());
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  const Capabilities& caps() const { return device.caps(); }

  Instance instance;
  Device device;
  Allocator allocator;
  Pipelines pipelines;
  bool profile = false;
};

}  // namespace vktrain::vk
