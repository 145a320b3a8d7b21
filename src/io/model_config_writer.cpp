#include "io/model_config_writer.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "arch/family.hpp"
#include "base/error.hpp"
#include "io/file.hpp"

namespace vktrain::io {
namespace {

using nlohmann::json;

std::string_view torch_dtype(DType dtype) {
  switch (dtype) {
    case DType::f32: return "float32";
    case DType::f16: return "float16";
    case DType::bf16: return "bfloat16";
    default: break;  // i32 and the block formats
  }
  fail("[config] weights cannot be stored as {}; use f32, f16 or bf16", dtype_name(dtype));
}

// A whole number as JSON's integer (256, as transformers writes query_pre_attn_scalar), else as is.
json number(double value) {
  return value == std::floor(value) && std::abs(value) < 1e15 ? json(int64_t(value)) : json(value);
}

json rope_parameters(double theta, const RopeScaling& s) {
  json p = {{"rope_theta", theta}, {"rope_type", s.type}};
  if (s.type == "linear" || s.type == "llama3") p["factor"] = s.factor;
  if (s.type == "llama3") {
    p["low_freq_factor"] = s.low_freq_factor;
    p["high_freq_factor"] = s.high_freq_factor;
    p["original_max_position_embeddings"] = s.original_max_position_embeddings;
  }
  if (s.type == "yarn") {
    p["factor"] = s.factor;
    p["original_max_position_embeddings"] = s.original_max_position_embeddings;
    p["beta_fast"] = s.beta_fast;
    p["beta_slow"] = s.beta_slow;
    p["truncate"] = s.truncate;
    if (s.attention_factor > 0) p["attention_factor"] = s.attention_factor;
  }
  return p;
}

json token_ids(const std::vector<int64_t>& ids) {
  if (ids.empty()) return nullptr;
  return ids.size() == 1 ? json(ids.front()) : json(ids);
}

// Checks that the family's config can say which layers slide, and sets the fields that say it.
void write_sliding_layers(json& j, const ModelConfig& c, const std::string& path) {
  const auto& layers = c.sliding_layers;
  const bool any = std::find(layers.begin(), layers.end(), true) != layers.end();
  const bool all = std::find(layers.begin(), layers.end(), false) == layers.end();
  if (any && !c.sliding_window)
    fail("[config] {}: sliding-window layers but no sliding_window", path);
  const json window = c.sliding_window ? json(*c.sliding_window) : json(nullptr);
  const std::string_view name = family_name(c.family);
  switch (arch::describe(c.family).window) {
    case arch::SlidingWindow::none:
      if (any) fail("[config] {}: a {} config cannot have sliding-window layers", path, name);
      return;
    case arch::SlidingWindow::every_layer:
      if (any && !all)
        fail("[config] {}: a {} config slides every layer or none, not some", path, name);
      j["sliding_window"] = any ? window : json(nullptr);
      return;
    case arch::SlidingWindow::flagged:
      j["sliding_window"] = window;
      // transformers derives layer_types from these two when layer_types is absent.
      j["use_sliding_window"] = any;
      j["max_window_layers"] = std::find(layers.begin(), layers.end(), true) - layers.begin();
      break;
    case arch::SlidingWindow::pattern:  // always has a window; layer_types say who uses it
      j["sliding_window"] = window;
      break;
  }
  json types = json::array();
  for (bool sliding : layers) types.push_back(sliding ? "sliding_attention" : "full_attention");
  j["layer_types"] = types;
}

json config_json(const ModelConfig& c, DType dtype, const std::string& path) {
  const arch::FamilyDescription& family = arch::describe(c.family);
  if (int64_t(c.sliding_layers.size()) != c.num_layers)
    fail("[config] {}: {} sliding-layer flags for {} layers", path, c.sliding_layers.size(),
         c.num_layers);
  json j = {
      {"architectures", json::array({std::string(family.architecture)})},
      {"model_type", std::string(family.written_model_type)},
      {"vocab_size", c.vocab_size},
      {"hidden_size", c.hidden_size},
      {"intermediate_size", c.intermediate_size},
      {"num_hidden_layers", c.num_layers},
      {"num_attention_heads", c.num_heads},
      {"num_key_value_heads", c.num_kv_heads},
      {"head_dim", c.head_dim},
      {"max_position_embeddings", c.max_position_embeddings},
      {"rms_norm_eps", c.rms_norm_eps},
      {std::string(family.activation_key), c.activation},
      {"attention_bias", c.attention_bias},
      {"attention_dropout", 0.0},
      {"tie_word_embeddings", c.tie_word_embeddings},
      {"initializer_range", 0.02},
      {"use_cache", true},
      {"bos_token_id", c.bos_token_id ? json(*c.bos_token_id) : json(nullptr)},
      {"eos_token_id", token_ids(c.eos_token_ids)},
      {"dtype", std::string(torch_dtype(dtype))},
      {"torch_dtype", std::string(torch_dtype(dtype))},
  };
  if (family.local_rope) {
    RopeScaling local;  // sliding layers rotate with their own theta and no scaling
    j["rope_parameters"] = {{"full_attention", rope_parameters(c.rope_theta, c.rope_scaling)},
                            {"sliding_attention", rope_parameters(c.rope_local_theta, local)}};
  } else {
    j["rope_parameters"] = rope_parameters(c.rope_theta, c.rope_scaling);
  }
  if (family.query_pre_attn_scalar) j["query_pre_attn_scalar"] = number(c.query_pre_attn_scalar);
  if (family.mixture_of_experts) {
    const arch::MoeNames& names = family.experts;
    j[std::string(names.experts_key)] = c.moe.experts;
    j["num_experts_per_tok"] = c.moe.experts_per_token;
    j["output_router_logits"] = c.moe.aux_loss;
    j["router_aux_loss_coef"] = c.moe.aux_loss_coef;
    if (names.expert_size_key.empty() && c.moe.intermediate_size != c.intermediate_size)
      fail("[config] {}: a {} model's experts are intermediate_size ({}) wide, not {}", path,
           family.name, c.intermediate_size, c.moe.intermediate_size);
    if (!names.expert_size_key.empty())
      j[std::string(names.expert_size_key)] = c.moe.intermediate_size;
    if (names.clamped_swiglu) {
      j["swiglu_alpha"] = c.moe.swiglu_alpha;
      j["swiglu_limit"] = c.moe.swiglu_limit;
    }
    if (names.sparse_layer_keys) {
      j["norm_topk_prob"] = c.moe.normalize_topk;
      j["decoder_sparse_step"] = c.moe.sparse_step;
      j["mlp_only_layers"] = c.moe.dense_layers;
    }
  }
  j.update(json::parse(family.written_constants));
  write_sliding_layers(j, c, path);
  return j;
}

}  // namespace

void write_model_config(const std::string& path, const ModelConfig& config, DType dtype) {
  const std::string text = config_json(config, dtype, path).dump(2) + "\n";
  write_file_atomically(path, "config", [&](std::ofstream& out) { out << text; });
}

}  // namespace vktrain::io
