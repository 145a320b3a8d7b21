#include "vk/pipelines.hpp"

#include <cstdio>
#include <cstring>
#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "base/env.hpp"
#include "vk/check.hpp"
#include "vk/device.hpp"

namespace vktrain::vk {
namespace {

// A cache blob is only handed to the driver when its header names this very device.
bool header_matches(const std::vector<char>& data, const VkPhysicalDeviceProperties& props) {
  struct Header {
    uint32_t length, version, vendor, device;
    uint8_t uuid[VK_UUID_SIZE];
  } header;
  if (data.size() < sizeof(Header)) return false;
  std::memcpy(&header, data.data(), sizeof header);
  return header.version == VK_PIPELINE_CACHE_HEADER_VERSION_ONE &&
         header.vendor == props.vendorID && header.device == props.deviceID &&
         std::memcmp(header.uuid, props.pipelineCacheUUID, VK_UUID_SIZE) == 0;
}

}  // namespace

std::string default_pipeline_cache_path(const uint8_t (&uuid)[VK_UUID_SIZE]) {
  std::string dir = env::cache_dir();
  if (dir.empty()) return "";
  std::string hex;
  for (uint8_t b : uuid) hex += fmt::format("{:02x}", b);
  return dir + "/pipelines-" + hex + ".bin";
}

Pipelines::Pipelines(Device& device, std::string cache_path)
    : device_(device), cache_path_(std::move(cache_path)) {
  VkPushConstantRange range{VK_SHADER_STAGE_COMPUTE_BIT, 0, kPushConstantBytes};
  VkPipelineLayoutCreateInfo layout_info{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
  layout_info.pushConstantRangeCount = 1;
  layout_info.pPushConstantRanges = &range;
  VK_CHECK(vkCreatePipelineLayout(device_.handle(), &layout_info, nullptr, &layout_));

  std::vector<char> data;
  if (!cache_path_.empty()) {
    std::ifstream in(cache_path_, std::ios::binary);
    data.assign(std::istreambuf_iterator<char>(in), {});
    VkPhysicalDeviceProperties props;
    vkGetPhysicalDeviceProperties(device_.physical(), &props);
    if (!header_matches(data, props)) data.clear();
  }
  VkPipelineCacheCreateInfo cache_info{VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
  cache_info.initialDataSize = data.size();
  cache_info.pInitialData = data.empty() ? nullptr : data.data();
  VK_CHECK(vkCreatePipelineCache(device_.handle(), &cache_info, nullptr, &cache_));
}

Pipelines::~Pipelines() {
  try {
    if (created_) save();
  } catch (...) {
    // A cache that cannot be written only costs compile time on the next run.
  }
  for (auto& [key, pipeline] : pipelines_) vkDestroyPipeline(device_.handle(), pipeline, nullptr);
  vkDestroyPipelineCache(device_.handle(), cache_, nullptr);
  vkDestroyPipelineLayout(device_.handle(), layout_, nullptr);
}

void Pipelines::save() const {
  if (cache_path_.empty()) return;
  size_t size = 0;
  VK_CHECK(vkGetPipelineCacheData(device_.handle(), cache_, &size, nullptr));
  std::vector<char> data(size);
  VK_CHECK(vkGetPipelineCacheData(device_.handle(), cache_, &size, data.data()));
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(fs::path(cache_path_).parent_path(), ec);
  std::string tmp = cache_path_ + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(data.data(), std::streamsize(size));
    if (!out) {
      fs::remove(tmp, ec);
      return;
    }
  }
  fs::rename(tmp, cache_path_, ec);
  if (ec) fs::remove(tmp, ec);
}

VkPipeline Pipelines::get(const PipelineKey& key, std::span<const uint32_t> spirv) {
  if (auto it = pipelines_.find(key); it != pipelines_.end()) return it->second;

  VkShaderModuleCreateInfo module_info{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
  module_info.codeSize = spirv.size_bytes();
  module_info.pCode = spirv.data();
  VkShaderModule module = VK_NULL_HANDLE;
  VK_CHECK(vkCreateShaderModule(device_.handle(), &module_info, nullptr, &module));

  std::vector<VkSpecializationMapEntry> entries;
  for (uint32_t i = 0; i < key.spec.size(); ++i)
    entries.push_back({i, i * uint32_t(sizeof(uint32_t)), sizeof(uint32_t)});
  VkSpecializationInfo spec{uint32_t(entries.size()), entries.data(),
                            key.spec.size() * sizeof(uint32_t), key.spec.data()};

  VkPipelineShaderStageRequiredSubgroupSizeCreateInfo subgroup{
      VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_REQUIRED_SUBGROUP_SIZE_CREATE_INFO};
  subgroup.requiredSubgroupSize = key.subgroup_size;
  VkComputePipelineCreateInfo info{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
  info.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
  info.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  info.stage.module = module;
  info.stage.pName = "main";
  info.stage.pSpecializationInfo = entries.empty() ? nullptr : &spec;
  if (key.subgroup_size && device_.caps().subgroup_size_control) {
    info.stage.pNext = &subgroup;
    info.stage.flags = VK_PIPELINE_SHADER_STAGE_CREATE_REQUIRE_FULL_SUBGROUPS_BIT;
  }
  info.layout = layout_;
  VkPipeline pipeline = VK_NULL_HANDLE;
  VkResult result = vkCreateComputePipelines(device_.handle(), cache_, 1, &info, nullptr, &pipeline);
  vkDestroyShaderModule(device_.handle(), module, nullptr);
  if (result != VK_SUCCESS)
    fail("[pipeline] creating kernel '{}' failed with {} on '{}'", key.kernel,
         result_name(result), device_.caps().name);
  device_.instance().check_validation();
  ++created_;
  pipelines_.emplace(key, pipeline);
  return pipeline;
}

}  // namespace vktrain::vk
