#pragma once
// A model as a GGUF file the way llama.cpp's convert_hf_to_gguf.py writes one, for the llama,
// mistral, qwen2, qwen3 and gemma3 families; model_config_from_gguf (gguf_config.hpp) reads it
// back to the same config.
//  - Metadata: general.architecture, general.file_type, general.quantization_version, and the
//    keys of TextModel.set_gguf_parameters / Gemma3Model's: {arch}.block_count, .context_length,
//    .embedding_length, .feed_forward_length, .attention.head_count, .head_count_kv,
//    .key_length, .value_length, .layer_norm_rms_epsilon, .rope.freq_base, linear rope scaling
//    (.rope.scaling.type / .factor), gemma3's .rope.freq_base_swa, .attention.sliding_window
//    and, only where the layers do not follow llama.cpp's default of every 6th layer global,
//    .attention.sliding_window_pattern as one bool per layer. Counts are u32, reals f32, as the
//    converter writes them. tokenizer.ggml.bos/eos(/eot)_token_id from the config; the rest of
//    the vocabulary is the caller's (tokenizer.ggml.*).
//  - Llama 3 rope scaling is the tensor rope_freqs.weight [D/2] (LlamaModel.generate_extra_tensors).
//  - Weights (add_hf_weight): the GGUF name (hf_to_gguf_name), llama/mistral Q and K rows
//    permuted to ggml's interleaved RoPE pairs, gemma3 norm weights stored as 1 + w; 1-D tensors
//    stay F32 and 2-D ones take the requested type (F32, F16 or Q8_0), with Q8_0 falling back to
//    F16 for rows that are not a whole number of 32-value blocks, as the converter does.
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "io/gguf.hpp"
#include "io/model_config.hpp"

namespace vktrain::io {

struct GgufModelFile {
  std::string arch;  // general.architecture
  std::map<std::string, GgufValue> metadata;
  struct Tensor {
    std::string name;
    std::vector<uint64_t> dims;  // ggml order
    std::vector<float> values;
    GgmlType type = GgmlType::f32;  // `values` are quantized to it when written
    std::vector<std::byte> encoded;  // else, when not empty, the bytes as they are
  };
  std::vector<Tensor> tensors;

  GgufValue& operator[](const std::string& suffix) { return metadata[arch + "." + suffix]; }
  void erase(const std::string& suffix) { metadata.erase(arch + "." + suffix); }
  Tensor* find(const std::string& name);  // nullptr when absent
  void write(const std::string& path) const;
};

// The metadata of `config` and its rope_freqs.weight, if any; no weights, no vocabulary.
// file_type: the type of the 2-D weights (general.file_type: F32 0, F16 1, Q8_0 7).
GgufModelFile gguf_model_file(const ModelConfig& config, GgmlType file_type = GgmlType::f32);

// Adds the Hugging Face tensor `hf_name` of shape [out, in] (or [n]) with row-major `values`,
// converted as the header says; `matrix_type` is F32, F16 or Q8_0.
void add_hf_weight(GgufModelFile& file, const ModelConfig& config, const std::string& hf_name,
                   const std::vector<int64_t>& shape, std::span<const float> values,
                   GgmlType matrix_type);

// A 2-D weight's type in the file: `wanted`, or F16 where Q8_0 cannot hold rows of `row` values.
GgmlType gguf_matrix_type(GgmlType wanted, int64_t row);

}  // namespace vktrain::io
