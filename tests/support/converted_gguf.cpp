#include "support/converted_gguf.hpp"

#include <cmath>
#include <numbers>

#include <fmt/format.h>

#include "io/gguf_config.hpp"
#include "io/gguf_names.hpp"

namespace vktrain::test {

namespace {

// LlamaModel.generate_extra_tensors' rope_freqs.weight, in f32 as torch computes it.
std::vector<float> converter_rope_freqs(const io::ModelConfig& c) {
  const auto& s = c.rope_scaling;
  const float context = float(s.original_max_position_embeddings);
  const float low = float(s.low_freq_factor), high = float(s.high_freq_factor);
  const float factor = float(s.factor);
  std::vector<float> out;
  for (int64_t i = 0; i < c.head_dim / 2; ++i) {
    float freq = 1.0f / std::pow(float(c.rope_theta), float(2 * i) / float(c.head_dim));
    float wavelen = float(2 * std::numbers::pi) / freq;
    if (wavelen < context / high) {
      out.push_back(1.0f);
    } else if (wavelen > context / low) {
      out.push_back(factor);
    } else {
      float smooth = (context / wavelen - low) / (high - low);
      out.push_back(1.0f / ((1 - smooth) / factor + smooth));
    }
  }
  return out;
}

}  // namespace

ConvertedGguf::Tensor* ConvertedGguf::find(const std::string& name) {
  for (auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

std::string ConvertedGguf::write(const std::string& path) const {
  std::vector<std::vector<std::byte>> bytes;  // owns what `list` points at
  for (const auto& t : tensors)
    bytes.push_back(t.encoded.empty() ? io::quantize(t.values, t.type) : t.encoded);
  std::vector<io::GgufTensor> list;
  for (size_t i = 0; i < tensors.size(); ++i)
    list.push_back({tensors[i].name, tensors[i].type, tensors[i].dims, bytes[i]});
  io::write_gguf(path, list, metadata);
  return path;
}

io::ModelConfig ConvertedGguf::read(const TempDir& dir) const {
  io::GgufReader reader(write(dir.file("model.gguf")));
  return io::model_config_from_gguf(reader);
}

ConvertedGguf converted_gguf(const io::ModelConfig& c) {
  ConvertedGguf f;
  f.arch = std::string(io::gguf_architecture(c.family));
  f.metadata["general.architecture"] = f.arch;
  f["block_count"] = uint32_t(c.num_layers);
  f["context_length"] = uint32_t(c.max_position_embeddings);
  f["embedding_length"] = uint32_t(c.hidden_size);
  f["feed_forward_length"] = uint32_t(c.intermediate_size);
  f["attention.head_count"] = uint32_t(c.num_heads);
  f["attention.head_count_kv"] = uint32_t(c.num_kv_heads);
  f["attention.key_length"] = uint32_t(c.head_dim);
  f["attention.value_length"] = uint32_t(c.head_dim);
  f["attention.layer_norm_rms_epsilon"] = float(c.rms_norm_eps);
  f["rope.freq_base"] = float(c.rope_theta);
  if (c.rope_scaling.type == "linear") {
    f["rope.scaling.type"] = "linear";
    f["rope.scaling.factor"] = float(c.rope_scaling.factor);
  }
  if (c.rope_scaling.type == "llama3")
    f.tensors.push_back({"rope_freqs.weight", {uint64_t(c.head_dim / 2)}, converter_rope_freqs(c)});
  if (c.family == io::Family::gemma3) {
    f["rope.freq_base_swa"] = float(c.rope_local_theta);
    if (c.sliding_window) f["attention.sliding_window"] = uint32_t(*c.sliding_window);
  }
  std::vector<std::string> tokens;
  for (int64_t i = 0; i < c.vocab_size; ++i) tokens.push_back(fmt::format("t{}", i));
  f.metadata["tokenizer.ggml.model"] = "gpt2";
  f.metadata["tokenizer.ggml.tokens"] = io::gguf_array(tokens);
  if (c.bos_token_id) f.metadata["tokenizer.ggml.bos_token_id"] = uint32_t(*c.bos_token_id);
  if (c.eos_token_ids.size() > 0) f.metadata["tokenizer.ggml.eos_token_id"] = uint32_t(c.eos_token_ids[0]);
  if (c.eos_token_ids.size() > 1) f.metadata["tokenizer.ggml.eot_token_id"] = uint32_t(c.eos_token_ids[1]);
  if (!c.tie_word_embeddings)
    f.tensors.push_back({"output.weight", {uint64_t(c.hidden_size), uint64_t(c.vocab_size)},
                         std::vector<float>(size_t(c.hidden_size * c.vocab_size), 0.01f)});
  return f;
}

}  // namespace vktrain::test
