#pragma once
// What differs between two model configs, field by field ("vocab_size: 1000 != 1024"), for the
// round-trip tests of config.json and GGUF. `architecture` and `weight_prefixes` are left out:
// they say which checkpoint a config came from (a multimodal Gemma-3, a GGUF), not which model.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <string>
#include <vector>

#include "io/model_config.hpp"

namespace vktrain::test {

inline std::vector<std::string> config_differences(const io::ModelConfig& a,
                                                   const io::ModelConfig& b) {
  std::vector<std::string> out;
  auto check = [&](const char* name, const auto& x, const auto& y) {
    if (!(x == y)) out.push_back(fmt::format("{}: {} != {}", name, x, y));
  };
  auto ids = [](const std::vector<int64_t>& v) { return fmt::format("[{}]", fmt::join(v, ",")); };
  auto flags = [](const std::vector<bool>& v) {
    std::string s;
    for (bool f : v) s += f ? 'S' : 'F';
    return s;
  };
  check("family", io::family_name(a.family), io::family_name(b.family));
  check("vocab_size", a.vocab_size, b.vocab_size);
  check("hidden_size", a.hidden_size, b.hidden_size);
  check("intermediate_size", a.intermediate_size, b.intermediate_size);
  check("num_layers", a.num_layers, b.num_layers);
  check("num_heads", a.num_heads, b.num_heads);
  check("num_kv_heads", a.num_kv_heads, b.num_kv_heads);
  check("head_dim", a.head_dim, b.head_dim);
  check("max_position_embeddings", a.max_position_embeddings, b.max_position_embeddings);
  check("rms_norm_eps", a.rms_norm_eps, b.rms_norm_eps);
  check("rope_theta", a.rope_theta, b.rope_theta);
  check("rope_local_theta", a.rope_local_theta, b.rope_local_theta);
  check("rope_scaling.type", a.rope_scaling.type, b.rope_scaling.type);
  check("rope_scaling.factor", a.rope_scaling.factor, b.rope_scaling.factor);
  check("rope_scaling.low_freq_factor", a.rope_scaling.low_freq_factor,
        b.rope_scaling.low_freq_factor);
  check("rope_scaling.high_freq_factor", a.rope_scaling.high_freq_factor,
        b.rope_scaling.high_freq_factor);
  check("rope_scaling.original_max_position_embeddings",
        a.rope_scaling.original_max_position_embeddings,
        b.rope_scaling.original_max_position_embeddings);
  check("rope_scaling.beta_fast", a.rope_scaling.beta_fast, b.rope_scaling.beta_fast);
  check("rope_scaling.beta_slow", a.rope_scaling.beta_slow, b.rope_scaling.beta_slow);
  check("rope_scaling.truncate", a.rope_scaling.truncate, b.rope_scaling.truncate);
  check("rope_scaling.attention_factor", a.rope_scaling.attention_factor,
        b.rope_scaling.attention_factor);
  check("tie_word_embeddings", a.tie_word_embeddings, b.tie_word_embeddings);
  check("attention_bias", a.attention_bias, b.attention_bias);
  check("qk_norm", a.qk_norm, b.qk_norm);
  check("norm_plus_one", a.norm_plus_one, b.norm_plus_one);
  check("sandwich_norms", a.sandwich_norms, b.sandwich_norms);
  check("embed_scale", a.embed_scale, b.embed_scale);
  check("activation", a.activation, b.activation);
  check("attention_sinks", a.attention_sinks, b.attention_sinks);
  check("query_pre_attn_scalar", a.query_pre_attn_scalar, b.query_pre_attn_scalar);
  check("sliding_window", a.sliding_window.value_or(-1), b.sliding_window.value_or(-1));
  check("sliding_layers", flags(a.sliding_layers), flags(b.sliding_layers));
  check("bos_token_id", a.bos_token_id.value_or(-1), b.bos_token_id.value_or(-1));
  check("eos_token_ids", ids(a.eos_token_ids), ids(b.eos_token_ids));
  check("moe.experts", a.moe.experts, b.moe.experts);
  check("moe.experts_per_token", a.moe.experts_per_token, b.moe.experts_per_token);
  check("moe.intermediate_size", a.moe.intermediate_size, b.moe.intermediate_size);
  check("moe.normalize_topk", a.moe.normalize_topk, b.moe.normalize_topk);
  check("moe.aux_loss_coef", a.moe.aux_loss_coef, b.moe.aux_loss_coef);
  check("moe.aux_loss", a.moe.aux_loss, b.moe.aux_loss);
  check("moe.sparse_step", a.moe.sparse_step, b.moe.sparse_step);
  check("moe.dense_layers", ids(a.moe.dense_layers), ids(b.moe.dense_layers));
  check("moe.swiglu_alpha", a.moe.swiglu_alpha, b.moe.swiglu_alpha);
  check("moe.swiglu_limit", a.moe.swiglu_limit, b.moe.swiglu_limit);
  return out;
}

}  // namespace vktrain::test
