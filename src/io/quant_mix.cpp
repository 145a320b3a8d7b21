#include "io/quant_mix.hpp"

#include <charconv>

#include "base/error.hpp"
#include "io/gguf_names.hpp"

namespace vktrain::io {
namespace {

struct MixInfo {
  QuantizeMix mix;
  std::string_view name;
  GgmlType type;
  std::string_view llama_name;  // llama-quantize's name of the mix
};

constexpr MixInfo kMixes[] = {
    {QuantizeMix::q8_0, "q8_0", GgmlType::q8_0, "Q8_0"},
    {QuantizeMix::q6_k, "q6_k", GgmlType::q6_k, "Q6_K"},
    {QuantizeMix::q5_k_m, "q5_k", GgmlType::q5_k, "Q5_K_M"},
    {QuantizeMix::q4_k_m, "q4_k", GgmlType::q4_k, "Q4_K_M"},
    {QuantizeMix::q4_k_s, "q4_k_s", GgmlType::q4_k, "Q4_K_S"},
    {QuantizeMix::q4_k_pure, "q4_k_pure", GgmlType::q4_k, "Q4_K --pure --output-tensor-type q6_k"},
    {QuantizeMix::q4_0, "q4_0", GgmlType::q4_0, "Q4_0"},
};

const MixInfo& info(QuantizeMix mix) {
  for (const auto& m : kMixes)
    if (m.mix == mix) return m;
  fail("[quantize] unknown mix {}", int(mix));
}

bool is_gguf_name(std::string_view name) {
  return name.starts_with("blk.") || name == "token_embd.weight" || name == "output.weight" ||
         name == "output_norm.weight" || name == "rope_freqs.weight";
}

// N of "blk.N.", or -1 for a tensor outside the layers.
int64_t layer_of(std::string_view gguf_name) {
  if (!gguf_name.starts_with("blk.")) return -1;
  gguf_name.remove_prefix(4);
  int64_t layer = -1;
  auto [end, error] = std::from_chars(gguf_name.data(), gguf_name.data() + gguf_name.size(), layer);
  if (error != std::errc() || end == gguf_name.data() + gguf_name.size() || *end != '.') return -1;
  return layer;
}

// llama-quant.cpp's use_more_bits: the first and last eighth of the layers and every third
// layer between them.
bool use_more_bits(int64_t layer, int64_t layers) {
  return layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;
}

// llama.cpp's LLM_TYPE_70B, the one model size its rules single out.
bool is_70b(const ModelConfig& c) {
  if (c.num_layers != 80) return false;
  if (c.family == Family::qwen2) return true;
  return (c.family == Family::llama || c.family == Family::mistral) &&
         c.num_heads != c.num_kv_heads;
}

bool fits(GgmlType type, int64_t row) { return row % int64_t(ggml_block(type).elements) == 0; }

// llama-quant.cpp's tensor_type_fallback.
GgmlType fallback(GgmlType type, int64_t row, std::string& reason) {
  if (fits(type, row)) return type;
  GgmlType smaller = type;
  if (type == GgmlType::q4_k)
    smaller = GgmlType::q5_0;
  else if (type == GgmlType::q5_k)
    smaller = GgmlType::q5_1;
  else if (type == GgmlType::q6_k)
    smaller = GgmlType::q8_0;
  if (!fits(smaller, row)) smaller = GgmlType::f16;
  reason = fmt::format("rows of {} values are not a whole number of {}-value {} blocks", row,
                       ggml_block(type).elements, ggml_type_name(type));
  return smaller;
}

}  // namespace

QuantizeMix parse_quantize_mix(std::string_view name) {
  for (const auto& m : kMixes)
    if (m.name == name) return m.mix;
  fail(
      "[quantize] unknown type '{}': --quantize takes q8_0, q6_k, q5_k (llama-quantize's "
      "Q5_K_M), q4_k (Q4_K_M), q4_k_s (Q4_K_S), q4_k_pure (Q4_K, the output Q6_K) or q4_0",
      name);
}

std::string_view quantize_mix_name(QuantizeMix mix) { return info(mix).name; }
GgmlType quantize_mix_type(QuantizeMix mix) { return info(mix).type; }

TensorQuantization tensor_quantization(QuantizeMix mix, const ModelConfig& config,
                                       std::string_view name, std::span<const int64_t> shape) {
  const MixInfo& m = info(mix);
  TensorQuantization result;
  if (shape.size() < 2) {
    result.reason = "1-D tensors (norms, biases) stay f32";
    return result;
  }
  const std::string gguf =
      is_gguf_name(name) ? std::string(name) : hf_to_gguf_name(config.family, name);
  const int64_t row = shape.back(), layer = layer_of(gguf);
  const bool output =
      gguf == "output.weight" || (config.tie_word_embeddings && gguf == "token_embd.weight");
  const bool attn_v = gguf.find("attn_v.weight") != std::string::npos;
  const bool ffn_down = gguf.find("ffn_down") != std::string::npos;
  if ((attn_v || ffn_down) && (layer < 0 || layer >= config.num_layers))
    fail("[quantize] tensor {} is not in one of the model's {} layers", gguf, config.num_layers);

  GgmlType type = m.type;
  std::string reason;
  const bool medium = mix == QuantizeMix::q4_k_m || mix == QuantizeMix::q5_k_m;
  if (output) {
    if (!fits(type, row)) {
      type = GgmlType::q8_0;
      reason = fmt::format(
          "the output projection's rows of {} values are not a whole number "
          "of {} blocks; llama-quantize stores it as Q8_0",
          row, ggml_type_name(m.type));
    } else if (type != GgmlType::q8_0) {
      type = GgmlType::q6_k;
      reason =
          fmt::format("llama-quantize's {} stores the output projection as Q6_K", m.llama_name);
    }
  } else if ((attn_v || ffn_down) && medium && use_more_bits(layer, config.num_layers)) {
    type = GgmlType::q6_k;
    reason = fmt::format("llama-quantize's {} gives {} of layer {} (of {}) Q6_K", m.llama_name,
                         attn_v ? "attn_v" : "ffn_down", layer, config.num_layers);
  } else if (mix == QuantizeMix::q4_k_s && ((attn_v && layer < 4) ||
                                             (ffn_down && layer < config.num_layers / 8))) {
    type = GgmlType::q5_k;
    reason = fmt::format("llama-quantize's Q4_K_S gives {} of layer {} (of {}) Q5_K",
                         attn_v ? "attn_v" : "ffn_down", layer, config.num_layers);
  } else if (attn_v && is_70b(config) && type == GgmlType::q4_k &&
             mix != QuantizeMix::q4_k_pure) {
    type = GgmlType::q5_k;
    reason = "llama-quantize gives a 70B model's attn_v Q5_K (its KV heads are shared)";
  }
  std::string fallback_reason;
  type = fallback(type, row, fallback_reason);
  if (!fallback_reason.empty())
    reason = reason.empty() ? fallback_reason : reason + "; " + fallback_reason;
  if (type != m.type) result.reason = std::move(reason);
  result.type = type;
  return result;
}

}  // namespace vktrain::io
