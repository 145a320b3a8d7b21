#pragma once
// The weights of a Hugging Face model directory: model.safetensors, or the shards that
// model.safetensors.index.json names. Every tensor is found by name in whichever shard holds
// it; an index that names a missing shard or a tensor its shard lacks is an error naming both.
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "io/safetensors.hpp"

namespace vktrain::io {

class Checkpoint {
 public:
  explicit Checkpoint(const std::string& dir);
  // Whether `dir` holds weights the constructor opens (model.safetensors or its index).
  static bool present(const std::string& dir);

  std::vector<std::string> names() const;
  bool contains(const std::string& name) const { return where_.count(name) != 0; }
  const SafetensorsEntry& entry(const std::string& name) const;
  std::span<const std::byte> data(const std::string& name) const;
  size_t shard_count() const { return shards_.size(); }

 private:
  const SafetensorsReader& shard_of(const std::string& name) const;

  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsReader>> shards_;
  std::map<std::string, size_t> where_;  // tensor name -> shard index
};

}  // namespace vktrain::io
