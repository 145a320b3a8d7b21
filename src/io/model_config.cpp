#include "io/model_config.hpp"

#include <cmath>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "base/error.hpp"

namespace vktrain::io {
namespace {

using nlohmann::json;

struct Reader {
  const json& j;
  const std::string& source;

  bool has(const char* key) const { return j.contains(key) && !j[key].is_null(); }
  template <typename T>
  T need(const char* key) const {
    if (!has(key)) fail("[config] {}: missing field '{}'", source, key);
    return as<T>(key);
  }
  template <typename T>
  T get(const char* key, T fallback) const {
    return has(key) ? as<T>(key) : fallback;
  }
  template <typename T>
  T as(const char* key) const {
    try {
      return j[key].get<T>();
    } catch (const json::exception&) {
      fail("[config] {}: field '{}' has the wrong type ({})", source, key, j[key].dump());
    }
  }
};

Family family_of(const std::string& model_type, const std::string& source,
                 const std::string& architecture) {
  if (model_type == "llama") return Family::llama;
  if (model_type == "mistral") return Family::mistral;
  if (model_type == "qwen2") return Family::qwen2;
  if (model_type == "qwen3") return Family::qwen3;
  if (model_type == "gemma3" || model_type == "gemma3_text") return Family::gemma3;
  fail("[config] {}: unsupported architecture '{}' (model_type '{}'); vktrain supports llama, "
       "mistral, qwen2, qwen3 and gemma3",
       source, architecture, model_type);
}

RopeScaling rope_scaling_of(const json& s, const std::string& source) {
  RopeScaling r;
  Reader in{s, source};
  r.type = in.has("rope_type") ? in.as<std::string>("rope_type") : in.get<std::string>("type", "default");
  r.factor = in.get<double>("factor", 1.0);
  if (r.type == "llama3") {
    r.low_freq_factor = in.need<double>("low_freq_factor");
    r.high_freq_factor = in.need<double>("high_freq_factor");
    r.original_max_position_embeddings = in.need<int64_t>("original_max_position_embeddings");
  } else if (r.type != "default" && r.type != "linear") {
    fail("[config] {}: rope scaling type '{}' is not supported (default, linear, llama3)", source,
         r.type);
  }
  return r;
}

// transformers 5.x: rope_parameters holds rope_theta and the scaling, either directly or per
// layer type ("full_attention", "sliding_attention").
void read_rope_parameters(const json& p, ModelConfig& c, const std::string& source) {
  auto read_one = [&](const json& q, bool local) {
    Reader in{q, source};
    double theta = in.get<double>("rope_theta", local ? c.rope_local_theta : c.rope_theta);
    if (local) {
      c.rope_local_theta = theta;
    } else {
      c.rope_theta = theta;
      c.rope_scaling = rope_scaling_of(q, source);
    }
  };
  if (p.contains("full_attention") || p.contains("sliding_attention")) {
    if (p.contains("full_attention")) read_one(p["full_attention"], false);
    if (p.contains("sliding_attention")) read_one(p["sliding_attention"], true);
  } else {
    read_one(p, false);
  }
}

// Gemma3TextConfig's defaults: multimodal Gemma-3 checkpoints leave most of text_config to them.
const json& gemma3_defaults() {
  static const json defaults = {
      {"vocab_size", 262208},        {"hidden_size", 2304},        {"intermediate_size", 9216},
      {"num_hidden_layers", 26},     {"num_attention_heads", 8},   {"num_key_value_heads", 4},
      {"head_dim", 256},             {"rms_norm_eps", 1e-6},       {"rope_theta", 1000000.0},
      {"rope_local_base_freq", 10000.0}, {"query_pre_attn_scalar", 256},
      {"sliding_window", 4096},      {"max_position_embeddings", 131072},
      {"hidden_activation", "gelu_pytorch_tanh"}};
  return defaults;
}

}  // namespace

std::string_view family_name(Family f) {
  switch (f) {
    case Family::llama: return "llama";
    case Family::mistral: return "mistral";
    case Family::qwen2: return "qwen2";
    case Family::qwen3: return "qwen3";
    case Family::gemma3: return "gemma3";
  }
  return "?";
}

std::string_view causal_lm_architecture(Family f) {
  switch (f) {
    case Family::llama: return "LlamaForCausalLM";
    case Family::mistral: return "MistralForCausalLM";
    case Family::qwen2: return "Qwen2ForCausalLM";
    case Family::qwen3: return "Qwen3ForCausalLM";
    case Family::gemma3: return "Gemma3ForCausalLM";
  }
  return "?";
}

ModelConfig family_config(Family family) {
  ModelConfig c;
  c.family = family;
  c.architecture = causal_lm_architecture(family);
  const bool gemma = family == Family::gemma3;
  c.attention_bias = family == Family::qwen2;
  c.qk_norm = family == Family::qwen3 || gemma;
  c.norm_plus_one = c.sandwich_norms = c.embed_scale = gemma;
  c.activation = gemma ? "gelu_pytorch_tanh" : "silu";
  return c;
}

double ModelConfig::attention_scale() const {
  double d = query_pre_attn_scalar > 0 ? query_pre_attn_scalar : double(head_dim);
  return 1.0 / std::sqrt(d);
}

ModelConfig parse_model_config(const std::string& json_text, const std::string& source) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::exception& e) {
    fail("[config] {}: not valid JSON ({})", source, e.what());
  }
  if (!root.is_object()) fail("[config] {}: not a JSON object", source);

  Reader top{root, source};
  std::string architecture;
  if (top.has("architectures") && root["architectures"].is_array() && !root["architectures"].empty())
    architecture = root["architectures"][0].get<std::string>();
  std::string model_type = top.need<std::string>("model_type");
  ModelConfig c = family_config(family_of(model_type, source, architecture));
  if (!architecture.empty()) c.architecture = architecture;
  // Multimodal Gemma-3 checkpoints keep the language model's config in text_config.
  json merged = root;
  if (model_type == "gemma3") {
    if (!top.has("text_config"))
      fail("[config] {}: model_type 'gemma3' without 'text_config'", source);
    merged = root["text_config"];
    c.weight_prefixes = {"language_model.model.", "model.language_model.", "model."};
  }
  bool gemma = c.family == Family::gemma3;
  if (gemma) {
    json filled = gemma3_defaults();
    for (auto& [key, value] : merged.items())
      if (!value.is_null()) filled[key] = value;
    merged = filled;
  }
  const json* text = &merged;
  Reader in{*text, source};

  c.vocab_size = in.need<int64_t>("vocab_size");
  c.hidden_size = in.need<int64_t>("hidden_size");
  c.intermediate_size = in.need<int64_t>("intermediate_size");
  c.num_layers = in.need<int64_t>("num_hidden_layers");
  c.num_heads = in.need<int64_t>("num_attention_heads");
  c.num_kv_heads = in.get<int64_t>("num_key_value_heads", c.num_heads);
  c.head_dim = in.get<int64_t>("head_dim", c.num_heads ? c.hidden_size / c.num_heads : 0);
  c.max_position_embeddings = in.get<int64_t>("max_position_embeddings", 0);
  c.rms_norm_eps = in.get<double>("rms_norm_eps", 1e-6);
  c.tie_word_embeddings = top.has("tie_word_embeddings")
                              ? top.as<bool>("tie_word_embeddings")
                              : in.get<bool>("tie_word_embeddings", gemma);
  c.attention_bias = c.attention_bias || in.get<bool>("attention_bias", false);
  c.activation =
      in.get<std::string>("hidden_activation", in.get<std::string>("hidden_act", c.activation));
  if (c.activation != "silu" && c.activation != "gelu_pytorch_tanh")
    fail("[config] {}: activation '{}' is not supported (silu, gelu_pytorch_tanh)", source,
         c.activation);
  if (gemma) c.query_pre_attn_scalar = in.get<double>("query_pre_attn_scalar", 256);

  if (gemma) {
    c.rope_theta = 1e6;
    c.rope_local_theta = in.get<double>("rope_local_base_freq", 10000.0);
  }
  c.rope_theta = in.get<double>("rope_theta", c.rope_theta);
  if (in.has("rope_scaling")) c.rope_scaling = rope_scaling_of((*text)["rope_scaling"], source);
  if (in.has("rope_parameters")) read_rope_parameters((*text)["rope_parameters"], c, source);

  bool uses_window = gemma || c.family == Family::mistral || in.get<bool>("use_sliding_window", false);
  if (uses_window && in.has("sliding_window")) c.sliding_window = in.as<int64_t>("sliding_window");
  c.sliding_layers.assign(size_t(c.num_layers), false);
  if (in.has("layer_types")) {
    auto types = in.as<std::vector<std::string>>("layer_types");
    if (int64_t(types.size()) != c.num_layers)
      fail("[config] {}: layer_types has {} entries for {} layers", source, types.size(),
           c.num_layers);
    for (size_t i = 0; i < types.size(); ++i) c.sliding_layers[i] = types[i] == "sliding_attention";
  } else if (gemma) {
    int64_t pattern = in.get<int64_t>("sliding_window_pattern", 6);  // 5 local : 1 global
    for (int64_t i = 0; i < c.num_layers; ++i) c.sliding_layers[size_t(i)] = (i + 1) % pattern != 0;
  } else if (c.sliding_window) {
    c.sliding_layers.assign(size_t(c.num_layers), true);
  }
  if (!c.sliding_window)
    for (bool sliding : c.sliding_layers)
      if (sliding) fail("[config] {}: sliding-window layers but no 'sliding_window'", source);

  auto ids = [&](const Reader& r, const char* key) {
    std::vector<int64_t> out;
    if (!r.has(key)) return out;
    const json& v = r.j[key];
    if (v.is_array()) return r.as<std::vector<int64_t>>(key);
    out.push_back(r.as<int64_t>(key));
    return out;
  };
  auto bos = ids(in, "bos_token_id");
  if (bos.empty()) bos = ids(top, "bos_token_id");
  if (!bos.empty()) c.bos_token_id = bos.front();
  c.eos_token_ids = ids(in, "eos_token_id");
  if (c.eos_token_ids.empty()) c.eos_token_ids = ids(top, "eos_token_id");

  for (auto [value, name] : {std::pair{c.hidden_size, "hidden_size"}, {c.num_layers, "num_hidden_layers"},
                             {c.num_heads, "num_attention_heads"}, {c.num_kv_heads, "num_key_value_heads"},
                             {c.head_dim, "head_dim"}, {c.intermediate_size, "intermediate_size"},
                             {c.vocab_size, "vocab_size"}})
    if (value <= 0) fail("[config] {}: field '{}' must be positive, got {}", source, name, value);
  if (c.num_heads % c.num_kv_heads)
    fail("[config] {}: num_attention_heads {} is not a multiple of num_key_value_heads {}", source,
         c.num_heads, c.num_kv_heads);
  return c;
}

ModelConfig read_model_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("[config] cannot open {}: a model directory needs config.json", path);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  return parse_model_config(text, path);
}

}  // namespace vktrain::io
