#include "io/checkpoint.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "base/error.hpp"
#include "io/json_file.hpp"

namespace vktrain::io {

namespace {

namespace fs = std::filesystem;

// The two ways a directory holds its weights: an index of shards, or one file.
fs::path checkpoint_index(const std::string& dir) {
  return fs::path(dir) / "model.safetensors.index.json";
}
fs::path checkpoint_file(const std::string& dir) { return fs::path(dir) / "model.safetensors"; }

}  // namespace

bool Checkpoint::present(const std::string& dir) {
  return fs::exists(checkpoint_index(dir)) || fs::exists(checkpoint_file(dir));
}

Checkpoint::Checkpoint(const std::string& dir) : dir_(dir) {
  fs::path index = checkpoint_index(dir);
  fs::path single = checkpoint_file(dir);
  if (fs::exists(index)) {
    const nlohmann::json j = read_json_file(index.string(), "checkpoint");
    if (!j.contains("weight_map") || !j["weight_map"].is_object())
      fail("[checkpoint] {}: missing field 'weight_map'", index.string());
    std::map<std::string, size_t> shard_index;
    for (auto& [name, file] : j["weight_map"].items()) {
      if (!file.is_string())
        fail("[checkpoint] {}: weight_map entry '{}' is not a file name", index.string(), name);
      std::string shard = file.get<std::string>();
      if (shard.find('/') != std::string::npos || shard.find("..") != std::string::npos)
        fail("[checkpoint] {}: shard '{}' is not a file in the model directory", index.string(), shard);
      auto [it, added] = shard_index.emplace(shard, shards_.size());
      if (added) {
        fs::path path = fs::path(dir) / shard;
        if (!fs::exists(path))
          fail("[checkpoint] {} names shard {}, which does not exist", index.string(), path.string());
        shards_.push_back(std::make_unique<SafetensorsReader>(path.string()));
      }
      if (!shards_[it->second]->tensors().count(name))
        fail("[checkpoint] {} puts tensor '{}' in {}, which does not hold it", index.string(), name,
             shard);
      where_[name] = it->second;
    }
  } else if (fs::exists(single)) {
    shards_.push_back(std::make_unique<SafetensorsReader>(single.string()));
    for (const auto& [name, entry] : shards_.front()->tensors()) where_[name] = 0;
  } else {
    fail("[checkpoint] {} has neither model.safetensors nor model.safetensors.index.json", dir);
  }
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> all;
  for (const auto& [name, shard] : where_) all.push_back(name);
  return all;
}

const SafetensorsReader& Checkpoint::shard_of(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) fail("[checkpoint] {} has no tensor '{}'", dir_, name);
  return *shards_[it->second];
}

const SafetensorsEntry& Checkpoint::entry(const std::string& name) const {
  return shard_of(name).entry(name);
}

std::span<const std::byte> Checkpoint::data(const std::string& name) const {
  return shard_of(name).data(name);
}

}  // namespace vktrain::io
