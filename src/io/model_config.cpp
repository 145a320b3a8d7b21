#include "io/model_config.hpp"

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "arch/family.hpp"
#include "base/error.hpp"
#include "io/json_file.hpp"

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
      wrong_type(key, j[key]);
    }
  }
  [[noreturn]] void wrong_type(const char* key, const json& value) const {
    fail("[config] {}: field '{}' has the wrong type ({})", source, key,
         value.dump().substr(0, 80));
  }

  // A whole number in [low, high]: nlohmann would turn 1e30 or 2.5 into some integer.
  int64_t integer(const char* key, int64_t low, int64_t high) const {
    if (!has(key)) fail("[config] {}: missing field '{}'", source, key);
    return integer_of(key, j[key], low, high);
  }
  int64_t integer(const char* key, int64_t low, int64_t high, int64_t fallback) const {
    return has(key) ? integer_of(key, j[key], low, high) : fallback;
  }
  int64_t integer_of(const char* key, const json& value, int64_t low, int64_t high) const {
    if (value.is_number_unsigned() && value.get<uint64_t>() > uint64_t(high))
      out_of_range(key, value.dump(), low, high);
    if (!value.is_number_integer()) wrong_type(key, value);
    const int64_t n = value.get<int64_t>();
    if (n < low || n > high) out_of_range(key, value.dump(), low, high);
    return n;
  }
  // A finite number in (0, high].
  double positive(const char* key, double fallback, double high) const {
    if (!has(key)) return fallback;
    const double x = as<double>(key);
    if (!(x > 0 && x <= high))
      fail("[config] {}: field '{}' = {} is out of range (a number above 0, at most {})", source,
           key, j[key].dump(), high);
    return x;
  }
  template <typename Value>
  [[noreturn]] void out_of_range(const char* key, const std::string& value, Value low,
                                 Value high) const {
    fail("[config] {}: field '{}' = {} is out of range ({}..{})", source, key, value, low, high);
  }
};

const arch::FamilyDescription& family_of(const std::string& model_type, const std::string& source,
                                         const std::string& architecture) {
  if (const arch::FamilyDescription* d = arch::family_of_model_type(model_type)) return *d;
  fail("[config] {}: unsupported architecture '{}' (model_type '{}'); vktrain supports {}", source,
       architecture, model_type, arch::supported_families());
}

// transformers' _compute_yarn_parameters reads these; DeepSeek's mscale pair it also reads is
// refused rather than left out.
void yarn_scaling_of(const Reader& in, RopeScaling& r) {
  for (const char* key : {"factor", "original_max_position_embeddings"})
    if (!in.has(key)) fail("[config] {}: missing field '{}' (yarn rope scaling)", in.source, key);
  for (const char* key : {"mscale", "mscale_all_dim"})
    if (in.has(key))
      fail("[config] {}: yarn rope scaling field '{}' is not supported", in.source, key);
  r.original_max_position_embeddings =
      in.integer("original_max_position_embeddings", 1, limits::kPositions);
  // transformers takes `beta_fast or 32`: a 0 is the default too.
  auto beta = [&](const char* key, double fallback) {
    return in.has(key) && in.as<double>(key) == 0 ? fallback : in.positive(key, fallback, 1e6);
  };
  r.beta_fast = beta("beta_fast", 32);
  r.beta_slow = beta("beta_slow", 1);
  r.truncate = in.get<bool>("truncate", true);
  r.attention_factor = in.positive("attention_factor", 0, 1e3);
}

RopeScaling rope_scaling_of(const json& s, const std::string& source) {
  RopeScaling r;
  Reader in{s, source};
  r.type = in.has("rope_type") ? in.as<std::string>("rope_type") : in.get<std::string>("type", "default");
  r.factor = in.positive("factor", 1.0, limits::kRopeFactor);
  if (r.type == "llama3") {
    for (const char* key : {"low_freq_factor", "high_freq_factor"})
      if (!in.has(key)) fail("[config] {}: missing field '{}'", source, key);
    r.low_freq_factor = in.positive("low_freq_factor", 0, limits::kRopeFactor);
    r.high_freq_factor = in.positive("high_freq_factor", 0, limits::kRopeFactor);
    if (r.high_freq_factor <= r.low_freq_factor)  // the smoothing divides by their difference
      fail("[config] {}: rope scaling high_freq_factor {} must be above low_freq_factor {}",
           source, r.high_freq_factor, r.low_freq_factor);
    r.original_max_position_embeddings =
        in.integer("original_max_position_embeddings", 1, limits::kPositions);
  } else if (r.type == "yarn") {
    yarn_scaling_of(in, r);
  } else if (r.type != "default" && r.type != "linear") {
    fail("[config] {}: rope scaling type '{}' is not supported (default, linear, llama3, yarn)",
         source, r.type);
  }
  return r;
}

// transformers 5.x: rope_parameters holds rope_theta and the scaling, either directly or per
// layer type ("full_attention", "sliding_attention").
void read_rope_parameters(const json& p, ModelConfig& c, const std::string& source) {
  auto read_one = [&](const json& q, bool local) {
    Reader in{q, source};
    double theta =
        in.positive("rope_theta", local ? c.rope_local_theta : c.rope_theta, limits::kRopeTheta);
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

// A mixture-of-experts family's fields (arch::MoeConfig) under its names (arch::MoeNames); its
// config_defaults fill the absent.
MoeConfig moe_config_of(const Reader& in, const arch::MoeNames& names, const ModelConfig& c) {
  MoeConfig m;
  const char* experts_key = in.has("num_experts") ? "num_experts" : "num_local_experts";
  m.experts = in.integer(experts_key, 1, limits::kExperts);
  // OpenAI's gpt-oss files also name it experts_per_token (the family's default does).
  const char* k_key = in.has("num_experts_per_tok") || !in.has("experts_per_token")
                          ? "num_experts_per_tok"
                          : "experts_per_token";
  m.experts_per_token = in.integer(k_key, 1, m.experts);
  m.intermediate_size = names.expert_size_key.empty()
      ? c.intermediate_size
      : in.integer(std::string(names.expert_size_key).c_str(), 1, limits::kIntermediate);
  m.aux_loss = in.get<bool>("output_router_logits", false);
  if (in.has("router_aux_loss_coef")) {
    m.aux_loss_coef = in.as<double>("router_aux_loss_coef");
    if (!(m.aux_loss_coef >= 0 && m.aux_loss_coef <= 1e3))
      in.out_of_range("router_aux_loss_coef", in.j["router_aux_loss_coef"].dump(), 0, 1000);
  }
  // Mixtral's training-time noise on the router's input: random, so no run could match it.
  if (in.has("router_jitter_noise") && in.as<double>("router_jitter_noise") != 0)
    fail("[config] {}: field 'router_jitter_noise' = {} is not supported; set it to 0",
         in.source, in.j["router_jitter_noise"].dump());
  if (names.clamped_swiglu) {
    m.swiglu_alpha = in.positive("swiglu_alpha", m.swiglu_alpha, 1e3);
    m.swiglu_limit = in.positive("swiglu_limit", 7.0, 1e6);
  }
  if (!names.sparse_layer_keys) {  // every layer sparse, the k weights renormalised
    m.normalize_topk = true;
    return m;
  }
  m.normalize_topk = in.get<bool>("norm_topk_prob", false);
  m.sparse_step = in.integer("decoder_sparse_step", 1, limits::kLayers, 1);
  if (in.has("mlp_only_layers")) {
    const json& dense = in.j["mlp_only_layers"];
    if (!dense.is_array()) in.wrong_type("mlp_only_layers", dense);
    if (int64_t(dense.size()) > c.num_layers)
      fail("[config] {}: field 'mlp_only_layers' lists {} layers of {}", in.source, dense.size(),
           c.num_layers);
    for (const json& layer : dense)
      m.dense_layers.push_back(in.integer_of("mlp_only_layers", layer, 0, c.num_layers - 1));
  }
  return m;
}

}  // namespace

ModelConfig parse_model_config(const std::string& json_text, const std::string& source) {
  const json root = parse_json(json_text, source, "config");
  if (!root.is_object()) fail("[config] {}: not a JSON object", source);

  Reader top{root, source};
  std::string architecture;
  if (top.has("architectures") && root["architectures"].is_array() &&
      !root["architectures"].empty()) {
    if (!root["architectures"][0].is_string())
      fail("[config] {}: field 'architectures' must list class names, not {}", source,
           root["architectures"][0].dump().substr(0, 80));
    architecture = root["architectures"][0].get<std::string>();
  }
  std::string model_type = top.need<std::string>("model_type");
  const arch::FamilyDescription& family = family_of(model_type, source, architecture);
  ModelConfig c = family_config(family.family);
  if (!architecture.empty()) c.architecture = architecture;
  // Multimodal checkpoints (Gemma-3) keep the language model's config in text_config.
  json merged = root;
  if (model_type == family.wrapper_model_type) {
    if (!top.has("text_config") || !root["text_config"].is_object())
      fail("[config] {}: model_type '{}' without an object 'text_config'", source, model_type);
    merged = root["text_config"];
    c.weight_prefixes.assign(family.wrapper_weight_prefixes.begin(),
                             family.wrapper_weight_prefixes.end());
  }
  if (!family.config_defaults.empty()) {
    json filled = json::parse(family.config_defaults);
    for (auto& [key, value] : merged.items())
      if (!value.is_null()) filled[key] = value;
    merged = filled;
  }
  const json* text = &merged;
  Reader in{*text, source};

  c.vocab_size = in.integer("vocab_size", 1, limits::kVocab);
  c.hidden_size = in.integer("hidden_size", 1, limits::kHidden);
  c.intermediate_size = in.integer("intermediate_size", 1, limits::kIntermediate);
  c.num_layers = in.integer("num_hidden_layers", 1, limits::kLayers);
  c.num_heads = in.integer("num_attention_heads", 1, limits::kHeads);
  c.num_kv_heads = in.integer("num_key_value_heads", 1, c.num_heads, c.num_heads);
  c.head_dim = in.integer("head_dim", 1, limits::kHeadDim, c.hidden_size / c.num_heads);
  if (c.head_dim < 2 || c.head_dim % 2)  // RoPE turns pairs of dimensions
    fail("[config] {}: head dimension {} ('head_dim' or hidden_size / num_attention_heads) is "
         "not even",
         source, c.head_dim);
  c.max_position_embeddings = in.integer("max_position_embeddings", 0, limits::kPositions, 0);
  c.rms_norm_eps = in.positive("rms_norm_eps", 1e-6, 1.0);
  c.tie_word_embeddings = top.has("tie_word_embeddings")
                              ? top.as<bool>("tie_word_embeddings")
                              : in.get<bool>("tie_word_embeddings", false);
  c.attention_bias = c.attention_bias || in.get<bool>("attention_bias", false);
  c.activation =
      in.get<std::string>("hidden_activation", in.get<std::string>("hidden_act", c.activation));
  if (c.activation != "silu" && c.activation != "gelu_pytorch_tanh")
    fail("[config] {}: activation '{}' is not supported (silu, gelu_pytorch_tanh)", source,
         c.activation);
  if (family.query_pre_attn_scalar)
    c.query_pre_attn_scalar = in.positive("query_pre_attn_scalar", 0, 1e9);

  if (family.local_rope)
    c.rope_local_theta = in.positive("rope_local_base_freq", 10000.0, limits::kRopeTheta);
  c.rope_theta = in.positive("rope_theta", c.rope_theta, limits::kRopeTheta);
  if (in.has("rope_scaling")) c.rope_scaling = rope_scaling_of((*text)["rope_scaling"], source);
  if (in.has("rope_parameters")) read_rope_parameters((*text)["rope_parameters"], c, source);

  const bool uses_window = family.window == arch::SlidingWindow::every_layer ||
                           family.window == arch::SlidingWindow::pattern ||
                           in.get<bool>("use_sliding_window", false);
  if (uses_window && in.has("sliding_window"))
    c.sliding_window = in.integer("sliding_window", 1, limits::kPositions);
  c.sliding_layers.assign(size_t(c.num_layers), false);
  if (in.has("layer_types")) {
    auto types = in.as<std::vector<std::string>>("layer_types");
    if (int64_t(types.size()) != c.num_layers)
      fail("[config] {}: layer_types has {} entries for {} layers", source, types.size(),
           c.num_layers);
    for (size_t i = 0; i < types.size(); ++i) c.sliding_layers[i] = types[i] == "sliding_attention";
  } else if (family.window == arch::SlidingWindow::pattern) {
    // Gemma-3: 5 local : 1 global; a period past the layers makes every layer local
    int64_t pattern = in.integer("sliding_window_pattern", 1, limits::kLayers, family.sliding_period);
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
    for (const json& id : v.is_array() ? v : json::array({v}))
      out.push_back(r.integer_of(key, id, 0, c.vocab_size - 1));
    return out;
  };
  auto bos = ids(in, "bos_token_id");
  if (bos.empty()) bos = ids(top, "bos_token_id");
  if (!bos.empty()) c.bos_token_id = bos.front();
  c.eos_token_ids = ids(in, "eos_token_id");
  if (c.eos_token_ids.empty()) c.eos_token_ids = ids(top, "eos_token_id");

  if (family.mixture_of_experts) c.moe = moe_config_of(in, family.experts, c);

  checked_parameter_count(c, source, "config");
  if (c.num_heads % c.num_kv_heads)
    fail("[config] {}: num_attention_heads {} is not a multiple of num_key_value_heads {}", source,
         c.num_heads, c.num_kv_heads);
  return c;
}

int64_t checked_parameter_count(const ModelConfig& c, const std::string& source,
                                const char* format) {
  // Each factor is within limits::, so every product fits in int64 before the comparison.
  const int64_t attention = c.hidden_size * c.head_dim * (2 * c.num_heads + 2 * c.num_kv_heads);
  const int64_t ffn = 3 * c.hidden_size * c.intermediate_size;
  // A layer of experts: E x 3 x C x F (each factor within limits, the product below 2^57) and
  // the router.
  const int64_t experts = c.moe.experts * (3 * c.hidden_size * c.moe.intermediate_size + c.hidden_size);
  int64_t count = 2 * c.vocab_size * c.hidden_size;
  for (int64_t l = 0; l < c.num_layers; ++l) {
    count += attention + (c.moe_layer(l) ? experts : ffn);
    if (count > limits::kParameters) break;  // stays far from int64's end
  }
  if (count > limits::kParameters)
    fail("[{}] {}: the sizes give {} parameters, more than the {} vktrain accepts", format, source,
         count, limits::kParameters);
  return count;
}

ModelConfig read_model_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("[config] cannot open {}: a model directory needs config.json", path);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  return parse_model_config(text, path);
}

}  // namespace vktrain::io
