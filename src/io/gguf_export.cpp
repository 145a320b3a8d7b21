#include "io/gguf_export.hpp"

#include <cmath>
#include <numbers>

#include "arch/family.hpp"
#include "base/error.hpp"
#include "io/gguf_names.hpp"

namespace vktrain::io {
namespace {

// LlamaModel.generate_extra_tensors' rope_freqs.weight, in f32 as torch computes it.
std::vector<float> converter_rope_freqs(const ModelConfig& c) {
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

// gguf-py's LlamaFileType for the type of the 2-D weights.
uint32_t llama_file_type(GgmlType type) {
  switch (type) {
    case GgmlType::f32: return 0;
    case GgmlType::f16: return 1;
    case GgmlType::q8_0: return 7;
    default: fail("[gguf] models are written in F32, F16 or Q8_0, not {}", ggml_type_name(type));
  }
}

// Whether llama.cpp's default (every `period`th layer global) already describes the sliding
// layers.
bool default_sliding_pattern(const std::vector<bool>& sliding, int64_t period) {
  for (size_t i = 0; i < sliding.size(); ++i)
    if (sliding[i] != ((i + 1) % size_t(period) != 0)) return false;
  return true;
}

// The local RoPE base and the sliding layers (gemma3).
void add_sliding_keys(GgufModelFile& f, const ModelConfig& c) {
  const arch::FamilyDescription& family = arch::describe(c.family);
  if (family.local_rope) f["rope.freq_base_swa"] = float(c.rope_local_theta);
  if (family.window != arch::SlidingWindow::pattern || !c.sliding_window) return;
  f["attention.sliding_window"] = uint32_t(*c.sliding_window);
  if (!default_sliding_pattern(c.sliding_layers, family.sliding_period))
    f["attention.sliding_window_pattern"] = gguf_array(std::vector<bool>(c.sliding_layers));
}

}  // namespace

GgufModelFile::Tensor* GgufModelFile::find(const std::string& name) {
  for (auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

void GgufModelFile::write(const std::string& path) const {
  std::vector<std::vector<std::byte>> bytes;  // owns what `list` points at when quantized here
  std::vector<GgufTensor> list;
  bytes.reserve(tensors.size());
  for (const auto& t : tensors) {
    if (t.encoded.empty()) bytes.push_back(quantize(t.values, t.type));
    else bytes.emplace_back();
    const std::vector<std::byte>& encoded = t.encoded.empty() ? bytes.back() : t.encoded;
    list.push_back({t.name, t.type, t.dims, encoded});
  }
  write_gguf(path, list, metadata);
}

GgufModelFile gguf_model_file(const ModelConfig& c, GgmlType file_type) {
  GgufModelFile f;
  f.arch = std::string(gguf_architecture(c.family));
  f.metadata["general.architecture"] = f.arch;
  f.metadata["general.file_type"] = llama_file_type(file_type);
  f.metadata["general.quantization_version"] = uint32_t(2);  // GGML_QUANT_VERSION
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
  if (c.rope_scaling.type == "yarn") {
    // llama.cpp keeps the factor and the original context; a reader takes the rest of the ramp
    // from the family (gguf_config.cpp), so only a family's own YaRN can be written.
    const arch::PublishedValues& published = arch::describe(c.family).published;
    const RopeScaling& s = c.rope_scaling;
    if (published.rope_scaling != "yarn" || s.truncate != published.rope_truncate ||
        s.beta_fast != 32 || s.beta_slow != 1 || s.attention_factor != 0)
      fail("[gguf] this {} model's yarn rope scaling cannot be written to GGUF (llama.cpp keeps "
           "only its factor and original context); export --format hf",
           family_name(c.family));
    f["rope.scaling.type"] = "yarn";
    f["rope.scaling.factor"] = float(s.factor);
    f["rope.scaling.original_context_length"] = uint32_t(s.original_max_position_embeddings);
  }
  if (c.rope_scaling.type == "linear") {
    f["rope.scaling.type"] = "linear";
    f["rope.scaling.factor"] = float(c.rope_scaling.factor);
  }
  if (c.rope_scaling.type == "llama3") {
    // Not the converter's, but what the reader takes for the original context when absent
    // (8192) is wrong for any other; llama.cpp reads the key for YaRN only.
    if (c.rope_scaling.original_max_position_embeddings != 8192)
      f["rope.scaling.original_context_length"] =
          uint32_t(c.rope_scaling.original_max_position_embeddings);
    f.tensors.push_back({"rope_freqs.weight", {uint64_t(c.head_dim / 2)}, converter_rope_freqs(c)});
  }
  add_sliding_keys(f, c);
  if (const arch::FamilyDescription& family = arch::describe(c.family);
      family.mixture_of_experts) {
    f["expert_count"] = uint32_t(c.moe.experts);
    f["expert_used_count"] = uint32_t(c.moe.experts_per_token);
    if (const std::string_view key = family.experts.gguf_expert_size_key; !key.empty())
      f[std::string(key)] = uint32_t(c.moe.intermediate_size);
    // No key holds the clamp: llama.cpp's graph has its own constant, and a reader takes that.
    if (family.experts.clamped_swiglu && c.moe.swiglu_limit != family.published.swiglu_limit)
      fail("[gguf] swiglu_limit {} cannot be written to GGUF: llama.cpp's {} graph clamps the "
           "experts at {}; export --format hf",
           c.moe.swiglu_limit, family.gguf_architecture, family.published.swiglu_limit);
  }
  if (c.bos_token_id) f.metadata["tokenizer.ggml.bos_token_id"] = uint32_t(*c.bos_token_id);
  if (c.eos_token_ids.size() > 0) f.metadata["tokenizer.ggml.eos_token_id"] = uint32_t(c.eos_token_ids[0]);
  if (c.eos_token_ids.size() > 1) f.metadata["tokenizer.ggml.eot_token_id"] = uint32_t(c.eos_token_ids[1]);
  return f;
}

GgmlType gguf_matrix_type(GgmlType wanted, int64_t row) {
  if (wanted == GgmlType::q8_0 && row % int64_t(ggml_block(GgmlType::q8_0).elements) != 0)
    return GgmlType::f16;
  return wanted;
}

void add_hf_weight(GgufModelFile& file, const ModelConfig& c, const std::string& hf_name,
                   const std::vector<int64_t>& shape, std::span<const float> values,
                   GgmlType matrix_type) {
  std::vector<float> stored(values.begin(), values.end());
  if (const int64_t heads = qk_permuted_heads(c, hf_name)) {
    permute_qk_rows(std::as_writable_bytes(std::span(stored)), std::as_bytes(values), heads,
                    size_t(shape.back()) * sizeof(float));
  }
  if (shifts_norm(c.family, hf_name)) norm_to_gguf(stored);
  GgufModelFile::Tensor t;
  t.name = hf_to_gguf_name(c.family, hf_name);
  t.dims.assign(shape.rbegin(), shape.rend());
  t.type = shape.size() >= 2 ? gguf_matrix_type(matrix_type, shape.back()) : GgmlType::f32;
  t.encoded = quantize(stored, t.type);
  file.tensors.push_back(std::move(t));
}

}  // namespace vktrain::io
