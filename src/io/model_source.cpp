#include "io/model_source.hpp"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "base/error.hpp"
#include "io/gguf_config.hpp"

namespace vktrain::io {

namespace fs = std::filesystem;

namespace {

// By the magic, so that any file name works.
bool is_gguf_file(const std::string& path) {
  if (fs::is_directory(path)) return false;
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  return in && std::memcmp(magic, "GGUF", 4) == 0;
}

}  // namespace

ModelSource::ModelSource(const std::string& path) : path_(path) {
  if (is_gguf_file(path)) gguf_ = std::make_unique<GgufReader>(path);
  else if (!fs::is_directory(path))
    fail("[model] {} is neither a Hugging Face model directory nor a GGUF file", path);
}

const GgufReader& ModelSource::gguf() const {
  if (!gguf_) fail("[model] {} is a Hugging Face directory, not a GGUF file", path_);
  return *gguf_;
}

const Checkpoint& ModelSource::checkpoint() const {
  if (gguf_) fail("[model] {} is a GGUF file, not a Hugging Face directory", path_);
  if (!checkpoint_) checkpoint_ = std::make_unique<Checkpoint>(path_);
  return *checkpoint_;
}

ModelConfig ModelSource::config() const {
  if (gguf_) return model_config_from_gguf(*gguf_);
  return read_model_config((fs::path(path_) / "config.json").string());
}

}  // namespace vktrain::io
