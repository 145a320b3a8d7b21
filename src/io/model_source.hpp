#pragma once
// A run's model, opened once (--model): a Hugging Face directory or a GGUF file, told apart one
// way, by the file's first bytes ("GGUF"), never by its name. Everything that reads the model
// asks this object (the config, the tokenizer and chat template in data/model_text, the
// quantized-base choice and the weights in model/), so a GGUF file is parsed once per run and
// every reader sees the same bytes, even if the path changes on disk meanwhile.
//  - A GGUF file: its parsed header and memory-mapped tensors (GgufReader), read at open.
//  - A directory: its path; its weights (model.safetensors or the shards of its index) open the
//    first time they are asked for, so a tokenizer-only directory serves the text side.
#include <memory>
#include <string>

#include "io/checkpoint.hpp"
#include "io/gguf.hpp"
#include "io/model_config.hpp"

namespace vktrain::io {

class ModelSource {
 public:
  // Fails naming `path` when it is neither a directory nor a GGUF file.
  explicit ModelSource(const std::string& path);
  ModelSource(const ModelSource&) = delete;
  ModelSource& operator=(const ModelSource&) = delete;

  const std::string& path() const { return path_; }
  bool is_gguf() const { return gguf_ != nullptr; }
  // The parsed GGUF file; fails for a directory.
  const GgufReader& gguf() const;
  // The directory's weights, opened on the first call; fails for a GGUF file.
  const Checkpoint& checkpoint() const;
  // The model's configuration: the GGUF metadata, or the directory's config.json.
  ModelConfig config() const;

 private:
  std::string path_;
  std::unique_ptr<GgufReader> gguf_;
  mutable std::unique_ptr<Checkpoint> checkpoint_;  // a directory's, once asked for
};

}  // namespace vktrain::io
