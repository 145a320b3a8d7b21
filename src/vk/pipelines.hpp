#pragma once
// Compute pipelines, created on first use from embedded SPIR-V and specialization constants,
// and kept in a VkPipelineCache that is loaded from and saved to disk
// ($XDG_CACHE_HOME/vktrain/pipelines-<device uuid>.bin), so later runs skip driver compilation.
// Every pipeline shares one layout: no descriptor sets, 128 bytes of push constants that carry
// buffer device addresses and sizes (DESIGN.md decision 2).
#include <vulkan/vulkan.h>

#include <map>
#include <span>
#include <string>
#include <tuple>
#include <vector>

namespace vktrain::vk {

class Device;

inline constexpr uint32_t kPushConstantBytes = 128;

struct PipelineKey {
  std::string kernel;
  std::vector<uint32_t> spec;  // specialization constants, ids 0..n-1
  uint32_t subgroup_size = 0;  // required subgroup size, 0 for the driver's choice
  auto operator<=>(const PipelineKey&) const = default;
};

class Pipelines {
 public:
  Pipelines(Device& device, std::string cache_path);
  ~Pipelines();
  Pipelines(const Pipelines&) = delete;
  Pipelines& operator=(const Pipelines&) = delete;

  VkPipeline get(const PipelineKey& key, std::span<const uint32_t> spirv);
  VkPipelineLayout layout() const { return layout_; }
  size_t created() const { return created_; }
  void save() const;  // writes the cache file atomically; also done by the destructor

 private:
  Device& device_;
  std::string cache_path_;
  VkPipelineLayout layout_ = VK_NULL_HANDLE;
  VkPipelineCache cache_ = VK_NULL_HANDLE;
  std::map<PipelineKey, VkPipeline> pipelines_;
  size_t created_ = 0;
};

// The default cache file for a device, or "" when no cache folder is known.
std::string default_pipeline_cache_path(const uint8_t (&uuid)[VK_UUID_SIZE]);

}  // namespace vktrain::vk
