#include "io/gguf_config.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <numbers>

#include "arch/family.hpp"
#include "base/error.hpp"
#include "io/gguf_names.hpp"

namespace vktrain::io {
namespace {

// A config.json decimal that the converter rounded to f32 once: the shortest decimal that rounds
// to the f32 is that decimal again (1e-6f prints as "1e-06").
double widen(float value) { return std::strtod(fmt::format("{}", value).c_str(), nullptr); }

// The "{arch}." keys of one file.
struct Metadata {
  const GgufReader& gguf;
  std::string arch;

  std::string key(std::string_view suffix) const { return arch + "." + std::string(suffix); }
  bool has(std::string_view suffix) const { return gguf.find(key(suffix)) != nullptr; }

  // A size in 1..high (high from io::limits, as for config.json).
  int64_t count(std::string_view suffix, int64_t high) const {
    uint64_t n = gguf.get_unsigned(key(suffix));
    if (n == 0 || n > uint64_t(high))
      fail("[gguf] {}: metadata '{}' = {} is out of range (1..{})", gguf.path(), key(suffix), n,
           high);
    return int64_t(n);
  }
  int64_t count(std::string_view suffix, int64_t high, int64_t fallback) const {
    return has(suffix) ? count(suffix, high) : fallback;
  }
  // A number in (0, high].
  double real(std::string_view suffix, double high) const {
    const std::string k = key(suffix);
    const GgufValue& v = gguf.value(k);
    double x = 0;
    if (v.is<float>()) x = widen(v.as<float>());
    else if (v.is<double>()) x = v.as<double>();
    else
      fail("[gguf] {}: metadata '{}' is a {}, expected a float", gguf.path(), k,
           gguf_type_name(v.type()));
    if (!(x > 0 && x <= high))
      fail("[gguf] {}: metadata '{}' = {} is out of range (a number above 0, at most {})",
           gguf.path(), k, x, high);
    return x;
  }
  double real(std::string_view suffix, double high, double fallback) const {
    return has(suffix) ? real(suffix, high) : fallback;
  }
};

int64_t vocab_size(const GgufReader& gguf) {
  std::optional<int64_t> tokens;
  if (gguf.find("tokenizer.ggml.tokens"))
    tokens = int64_t(gguf.get<GgufArray>("tokenizer.ggml.tokens").items.size());
  if (!gguf.tensors().count("token_embd.weight")) {
    if (tokens) return *tokens;
    fail("[gguf] {}: no vocabulary size: neither a token_embd.weight tensor nor "
         "tokenizer.ggml.tokens",
         gguf.path());
  }
  const auto& dims = gguf.tensor("token_embd.weight").dims;  // {C, V}
  if (dims.size() != 2)
    fail("[gguf] {}: token_embd.weight has {} dimensions, expected 2", gguf.path(), dims.size());
  if (dims[1] == 0 || dims[1] > uint64_t(limits::kVocab))
    fail("[gguf] {}: token_embd.weight has {} rows, out of range (1..{})", gguf.path(), dims[1],
         limits::kVocab);
  const int64_t rows = int64_t(dims[1]);
  if (tokens && *tokens > rows)
    fail("[gguf] {}: tokenizer.ggml.tokens has {} tokens but token_embd.weight only {} rows",
         gguf.path(), *tokens, rows);
  return rows;
}

// The divisors convert_hf_to_gguf.py writes to rope_freqs.weight for Llama 3 scaling
// (LlamaModel.generate_extra_tensors): 1 for wavelengths below context / high_freq_factor,
// `factor` above context / low_freq_factor, and a smooth blend between.
std::vector<double> llama3_rope_divisors(int64_t head_dim, double theta, const RopeScaling& s) {
  const double context = double(s.original_max_position_embeddings);
  const double low_wavelen = context / s.low_freq_factor, high_wavelen = context / s.high_freq_factor;
  std::vector<double> divisors;
  for (int64_t i = 0; i < head_dim / 2; ++i) {
    const double wavelen = 2 * std::numbers::pi * std::pow(theta, double(2 * i) / double(head_dim));
    if (wavelen < high_wavelen) {
      divisors.push_back(1.0);
    } else if (wavelen > low_wavelen) {
      divisors.push_back(s.factor);
    } else {
      double smooth = (context / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
      divisors.push_back(1.0 / ((1 - smooth) / s.factor + smooth));
    }
  }
  return divisors;
}

RopeScaling llama3_scaling(const Metadata& m, int64_t head_dim, double theta) {
  const GgufReader& gguf = m.gguf;
  const auto& info = gguf.tensor("rope_freqs.weight");
  if (info.type != GgmlType::f32 || info.elements() != uint64_t(head_dim / 2))
    fail("[gguf] {}: rope_freqs.weight must be {} f32 values (head_dim / 2), it is {} {} values",
         gguf.path(), head_dim / 2, info.elements(), ggml_type_name(info.type));
  std::vector<float> stored(size_t(head_dim / 2));
  std::memcpy(stored.data(), gguf.data("rope_freqs.weight").data(), stored.size() * sizeof(float));

  RopeScaling s;
  s.factor = widen(*std::max_element(stored.begin(), stored.end()));
  if (s.factor == 1.0) return RopeScaling{};  // every divisor 1: no scaling at all
  s.type = "llama3";
  s.low_freq_factor = 1.0;
  s.high_freq_factor = 4.0;
  s.original_max_position_embeddings =
      m.count("rope.scaling.original_context_length", limits::kPositions, 8192);
  const auto expected = llama3_rope_divisors(head_dim, theta, s);
  for (size_t i = 0; i < stored.size(); ++i)
    if (std::abs(stored[i] - expected[i]) > 1e-4 * expected[i])
      fail("[gguf] {}: rope_freqs.weight[{}] is {}, but Llama 3 rope scaling with factor {}, "
           "low_freq_factor 1, high_freq_factor 4 and original context {} gives {}; vktrain reads "
           "rope_freqs only in that form",
           gguf.path(), i, stored[i], s.factor, s.original_max_position_embeddings, expected[i]);
  return s;
}

// llama.cpp: the type defaults to linear and the factor to none (0 or 1). YaRN, for a family that
// publishes it (gpt-oss), with the factor and original context the converter writes; its ramp
// (betas 32 and 1, truncated or not) is the family's, as transformers computes it.
RopeScaling scaling_from_keys(const Metadata& m, const arch::FamilyDescription& family) {
  std::string type = m.has("rope.scaling.type") ? m.gguf.get<std::string>(m.key("rope.scaling.type"))
                                                : "linear";
  if (type == "none") return RopeScaling{};
  const GgufValue* given = m.gguf.find(m.key("rope.scaling.factor"));
  if (given && ((given->is<float>() && given->as<float>() == 0) ||
                (given->is<double>() && given->as<double>() == 0)))
    return RopeScaling{};  // llama.cpp's "none"
  double factor = given ? m.real("rope.scaling.factor", limits::kRopeFactor)
                        : m.real("rope.scale_linear", limits::kRopeFactor, 1.0);
  if (factor == 1.0) return RopeScaling{};
  if (type == "yarn" && family.published.rope_scaling == "yarn") {
    RopeScaling s;
    s.type = "yarn";
    s.factor = factor;
    s.original_max_position_embeddings = m.count("rope.scaling.original_context_length",
                                                 limits::kPositions,
                                                 family.published.rope_original_context);
    s.truncate = family.published.rope_truncate;
    return s;
  }
  if (type != "linear")
    fail("[gguf] {}: rope scaling '{}' (metadata '{}') is not supported: none or linear (Llama 3 "
         "scaling comes as the rope_freqs.weight tensor)",
         m.gguf.path(), type, m.key("rope.scaling.type"));
  RopeScaling s;
  s.type = "linear";
  s.factor = factor;
  return s;
}

// Per layer, whether it uses the sliding window (SlidingWindow::pattern: gemma3).
std::vector<bool> sliding_layers(const Metadata& m, int64_t layers, int64_t default_period) {
  std::vector<bool> sliding(size_t(layers), false);
  const std::string key = m.key("attention.sliding_window_pattern");
  const GgufValue* pattern = m.gguf.find(key);
  if (pattern && pattern->is<GgufArray>()) {
    const auto& items = pattern->as<GgufArray>().items;
    if (int64_t(items.size()) != layers)
      fail("[gguf] {}: {} has {} entries for {} layers", m.gguf.path(), key, items.size(), layers);
    for (size_t i = 0; i < items.size(); ++i) {
      if (!items[i].is<bool>())
        fail("[gguf] {}: {} must hold one bool per layer", m.gguf.path(), key);
      sliding[i] = items[i].as<bool>();
    }
    return sliding;
  }
  // A period n: layers n-1, 2n-1, ... are global; 0: none is.
  const uint64_t period = pattern ? m.gguf.get_unsigned(key) : uint64_t(default_period);
  for (int64_t i = 0; i < layers; ++i)
    sliding[size_t(i)] = period == 0 || uint64_t(i + 1) % period != 0;
  return sliding;
}

void read_token_ids(const GgufReader& gguf, ModelConfig& c) {
  auto id = [&](const char* key) -> std::optional<int64_t> {
    if (!gguf.find(key)) return std::nullopt;
    const uint64_t id = gguf.get_unsigned(key);
    if (id >= uint64_t(c.vocab_size))
      fail("[gguf] {}: metadata '{}' = {} is not a token id (the vocabulary has {})", gguf.path(),
           key, id, c.vocab_size);
    return int64_t(id);
  };
  c.bos_token_id = id("tokenizer.ggml.bos_token_id");
  if (auto eos = id("tokenizer.ggml.eos_token_id")) c.eos_token_ids.push_back(*eos);
  if (auto eot = id("tokenizer.ggml.eot_token_id"))
    if (std::find(c.eos_token_ids.begin(), c.eos_token_ids.end(), *eot) == c.eos_token_ids.end())
      c.eos_token_ids.push_back(*eot);
}

}  // namespace

ModelConfig model_config_from_gguf(const GgufReader& gguf) {
  const Metadata m{gguf, gguf.get<std::string>("general.architecture")};
  // llama.cpp's llama architecture is Mixtral where the file counts experts.
  const bool experts = m.has("expert_count") && gguf.get_unsigned(m.key("expert_count")) > 0;
  ModelConfig c = family_config(family_from_gguf(m.arch, experts));
  const arch::FamilyDescription& family = arch::describe(c.family);

  c.max_position_embeddings = m.count("context_length", limits::kPositions);
  c.hidden_size = m.count("embedding_length", limits::kHidden);
  c.num_layers = m.count("block_count", limits::kLayers);
  c.intermediate_size = m.count("feed_forward_length", limits::kIntermediate);
  c.num_heads = m.count("attention.head_count", limits::kHeads);
  c.num_kv_heads = m.count("attention.head_count_kv", c.num_heads, c.num_heads);
  c.head_dim = m.count("attention.key_length", limits::kHeadDim, c.hidden_size / c.num_heads);
  if (c.head_dim < 2 || c.head_dim % 2)  // RoPE turns pairs of dimensions
    fail("[gguf] {}: head dimension {} ('{}' or embedding_length / head_count) is not even",
         gguf.path(), c.head_dim, m.key("attention.key_length"));
  c.rms_norm_eps = m.real("attention.layer_norm_rms_epsilon", 1.0);
  if (c.num_heads % c.num_kv_heads)
    fail("[gguf] {}: '{}' {} is not a multiple of '{}' {}", gguf.path(), m.key("attention.head_count"),
         c.num_heads, m.key("attention.head_count_kv"), c.num_kv_heads);
  c.vocab_size = vocab_size(gguf);
  c.tie_word_embeddings = !gguf.tensors().count("output.weight");

  c.rope_theta = m.real("rope.freq_base", limits::kRopeTheta, 10000.0);
  c.rope_scaling = scaling_from_keys(m, family);
  if (gguf.tensors().count("rope_freqs.weight")) {
    if (c.rope_scaling.type != "default")
      fail("[gguf] {}: both rope_freqs.weight and {} scaling; vktrain applies one rope scaling",
           gguf.path(), c.rope_scaling.type);
    c.rope_scaling = llama3_scaling(m, c.head_dim, c.rope_theta);
  }

  c.sliding_layers.assign(size_t(c.num_layers), false);
  if (family.local_rope)
    c.rope_local_theta = m.real("rope.freq_base_swa", limits::kRopeTheta, 10000.0);
  if (family.query_pre_attn_scalar) c.query_pre_attn_scalar = family.query_pre_attn_scalar(c);
  if (family.window == arch::SlidingWindow::pattern && m.has("attention.sliding_window") &&
      gguf.get_unsigned(m.key("attention.sliding_window"))) {
    c.sliding_window = m.count("attention.sliding_window", limits::kPositions);
    c.sliding_layers = sliding_layers(m, c.num_layers, family.sliding_period);
  }
  if (family.mixture_of_experts) {
    c.moe.experts = m.count("expert_count", limits::kExperts);
    c.moe.experts_per_token = m.count("expert_used_count", c.moe.experts);
    const std::string_view size_key = family.experts.gguf_expert_size_key;
    c.moe.intermediate_size =
        size_key.empty() ? c.intermediate_size : m.count(size_key, limits::kIntermediate);
    c.moe.normalize_topk = true;  // llama.cpp's qwen3moe and llama graphs renormalise the top k
    // llama.cpp's gpt-oss graph clamps its SwiGLU at a constant, which no key holds.
    if (family.experts.clamped_swiglu) c.moe.swiglu_limit = family.published.swiglu_limit;
  }
  read_token_ids(gguf, c);
  checked_parameter_count(c, gguf.path(), "gguf");
  return c;
}

}  // namespace vktrain::io
