#pragma once
// A GGUF file as llama.cpp's convert_hf_to_gguf.py writes one for a config: the keys of
// TextModel.set_gguf_parameters and Gemma3Model's, counts as u32 and floats as f32,
// tokenizer.ggml.tokens, and of the tensors only those that carry config: output.weight (a
// stand-in of 0.01s) when the embeddings are untied and, for Llama 3 scaling,
// rope_freqs.weight. Tests add or change keys and tensors before writing it.
#include <map>
#include <string>
#include <vector>

#include "io/gguf.hpp"
#include "io/model_config.hpp"
#include "support/support.hpp"

namespace vktrain::test {

struct ConvertedGguf {
  std::string arch;
  std::map<std::string, io::GgufValue> metadata;
  struct Tensor {
    std::string name;
    std::vector<uint64_t> dims;  // ggml order
    std::vector<float> values;
    io::GgmlType type = io::GgmlType::f32;  // `values` are quantized to it when written
    std::vector<std::byte> encoded;         // else, when not empty, the bytes as they are
  };
  std::vector<Tensor> tensors;

  io::GgufValue& operator[](const std::string& suffix) { return metadata[arch + "." + suffix]; }
  void erase(const std::string& suffix) { metadata.erase(arch + "." + suffix); }
  Tensor* find(const std::string& name);  // nullptr when absent
  std::string write(const std::string& path) const;  // -> path
  // Writes dir/model.gguf and reads its config back.
  io::ModelConfig read(const TempDir& dir) const;
};

ConvertedGguf converted_gguf(const io::ModelConfig& config);

}  // namespace vktrain::test
