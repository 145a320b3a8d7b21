#pragma once
// A GGUF model's tensors under their Hugging Face names, with what llama.cpp's
// convert_hf_to_gguf.py changed undone as the family's description says (arch/family.hpp,
// io/gguf_names.hpp): names mapped back; Q and K rows put back from ggml's interleaved pairs to
// Hugging Face's "rotate half" order, on the rows as encoded (whole rows move and decoding is row
// by row, so kept blocks and decoded values both come out in order); gemma3's 1 + w norms
// shifted back to w after decoding. rope_freqs.weight (llama3 scaling, recomputed from the
// config) is no model tensor. One object per run, on the run's GgufReader (io/model_source.hpp).
#include <map>
#include <span>
#include <string>
#include <vector>

#include "io/gguf.hpp"
#include "io/model_config.hpp"

namespace vktrain::io {

// One tensor as the file encodes it, its rows in Hugging Face's order.
struct GgufEncodedTensor {
  std::string gguf_name;
  GgmlType type = GgmlType::f32;
  std::vector<int64_t> shape;  // Hugging Face's order: rows first
  std::span<const std::byte> file_bytes;
  std::vector<std::byte> reordered;  // the rows moved, when the family permutes this tensor

  std::span<const std::byte> bytes() const { return reordered.empty() ? file_bytes : reordered; }
};

class GgufModelTensors {
 public:
  // `gguf` and `config` must outlive this object.
  GgufModelTensors(const GgufReader& gguf, const ModelConfig& config);

  // The file's tensor that holds `hf_name`, or nullptr.
  const GgufTensorInfo* find(const std::string& hf_name) const;
  // The tensor `hf_name`, which the config says has `shape` (Hugging Face's order). Fails naming
  // the file and the tensor when the file lacks it or holds another shape.
  GgufEncodedTensor encoded(const std::string& hf_name, const std::vector<int64_t>& shape) const;
  // The tensor's values as Hugging Face holds them; fails naming the tensor when vktrain cannot
  // decode its type.
  std::vector<float> values(const std::string& hf_name, const GgufEncodedTensor& tensor) const;

 private:
  const GgufReader& gguf_;
  const ModelConfig& config_;
  std::map<std::string, std::string> by_hf_;  // Hugging Face name -> GGUF name
};

}  // namespace vktrain::io
