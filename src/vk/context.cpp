#include "vk/context.hpp"

#include "base/env.hpp"

namespace vktrain::vk {

ContextOptions ContextOptions::from_env() {
  ContextOptions options;
  options.device = env::get(env::kDevice);
  options.validate = env::flag(env::kValidate);
  options.profile = env::flag(env::kProfile);
  return options;
}

std::vector<Capabilities> list_devices(Instance& instance) {
  std::vector<Capabilities> all;
  for (VkPhysicalDevice physical : instance.physical_devices())
    all.push_back(query_capabilities(instance.handle(), physical));
  return all;
}

static std::string cache_path(const ContextOptions& options, const Capabilities& caps) {
  if (options.pipeline_cache == "-") return "";
  if (!options.pipeline_cache.empty()) return options.pipeline_cache;
  return default_pipeline_cache_path(caps.uuid);
}

static PhysicalDevice choose(Instance& instance, const ContextOptions& options) {
  auto physical = instance.physical_devices();
  auto all = list_devices(instance);
  size_t index = select_device(all, options.device);
  return {physical[index], all[index]};
}

Context::Context(const ContextOptions& options)
    : instance(options.validate),
      device(instance, choose(instance, options)),
      allocator(device, options.memory),
      pipelines(device, cache_path(options, device.caps())),
      profile(options.profile) {}

}  // namespace vktrain::vk
