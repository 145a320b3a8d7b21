#include "model/layout.hpp"

#include <cmath>

#include "arch/tensor_names.hpp"
#include "base/error.hpp"

namespace vktrain::model {

std::string layer_name(int64_t layer, const std::string& suffix) {
  return "model.layers." + std::to_string(layer) + "." + suffix;
}

std::string module_path(const std::string& module) {
  bool attention = module == "q_proj" || module == "k_proj" || module == "v_proj" ||
                   module == "o_proj";
  return (attention ? "self_attn." : "mlp.") + module;
}

std::pair<int64_t, int64_t> projection_shape(const io::ModelConfig& c, const std::string& module) {
  int64_t q = c.num_heads * c.head_dim, kv = c.num_kv_heads * c.head_dim;
  if (module == "q_proj") return {q, c.hidden_size};
  if (module == "k_proj" || module == "v_proj") return {kv, c.hidden_size};
  if (module == "o_proj") return {c.hidden_size, q};
  if (module == "gate_proj" || module == "up_proj") return {c.intermediate_size, c.hidden_size};
  if (module == "down_proj") return {c.hidden_size, c.intermediate_size};
  fail("[model] unknown projection '{}'", module);
}

std::vector<ParameterSpec> base_parameters(const io::ModelConfig& c) {
  // Its sinks, the o_proj bias and the experts' biases have no place here until the attention
  // op has sinks: refused, never run without them.
  if (c.attention_sinks)
    fail("[model] {}: attention sinks are not supported yet, so this model cannot be loaded, "
         "initialised or trained",
         io::family_name(c.family));
  const int64_t C = c.hidden_size, D = c.head_dim;
  std::vector<ParameterSpec> specs;
  specs.push_back({arch::hf::kEmbedTokens, {c.vocab_size, C}});
  for (int64_t l = 0; l < c.num_layers; ++l) {
    specs.push_back({layer_name(l, arch::hf::kInputNorm), {C}});
    for (const char* m : {"q_proj", "k_proj", "v_proj", "o_proj"}) {
      auto [out, in] = projection_shape(c, m);
      specs.push_back({layer_name(l, module_path(m) + ".weight"), {out, in}});
      if (c.attention_bias && std::string(m) != "o_proj")
        specs.push_back({layer_name(l, module_path(m) + ".bias"), {out}});
    }
    if (c.qk_norm) {
      specs.push_back({layer_name(l, arch::hf::kQNorm), {D}});
      specs.push_back({layer_name(l, arch::hf::kKNorm), {D}});
    }
    specs.push_back({layer_name(l, arch::hf::kPostAttentionNorm), {C}});
    if (c.sandwich_norms) {
      specs.push_back({layer_name(l, arch::hf::kPreFeedforwardNorm), {C}});
      specs.push_back({layer_name(l, arch::hf::kPostFeedforwardNorm), {C}});
    }
    if (c.moe_layer(l)) {
      const int64_t E = c.moe.experts, F = c.moe.intermediate_size;
      specs.push_back({layer_name(l, arch::hf::kRouter), {E, C}});
      specs.push_back({layer_name(l, arch::hf::kExpertsGateUp), {E, 2 * F, C}});
      specs.push_back({layer_name(l, arch::hf::kExpertsDown), {E, C, F}});
      continue;
    }
    for (const char* m : {"gate_proj", "up_proj", "down_proj"}) {
      auto [out, in] = projection_shape(c, m);
      specs.push_back({layer_name(l, module_path(m) + ".weight"), {out, in}});
    }
  }
  specs.push_back({arch::hf::kFinalNorm, {C}});
  if (!c.tie_word_embeddings) specs.push_back({arch::hf::kLmHead, {c.vocab_size, C}});
  return specs;
}

std::vector<std::string> parse_lora_targets(const std::string& list) {
  std::vector<std::string> targets;
  auto add = [&](const std::string& name) {
    for (const auto& t : targets)
      if (t == name) return;
    targets.push_back(name);
  };
  std::string word;
  auto flush = [&] {
    if (word.empty()) return;
    if (word == "all-linear" || word == "all_linear") {
      for (const char* m : kLinearModules) add(m);
    } else if (word == "experts" || word == "gate_up_proj" || word == "router") {
      fail("[lora] --lora-targets: '{}': adapters on a mixture of experts' weights (PEFT's "
           "target_parameters) are not supported yet; target the attention projections "
           "(q,k,v,o), the experts and router stay frozen",
           word);
    } else {
      std::string module = word.ends_with("_proj") ? word : word + "_proj";
      bool known = false;
      for (const char* m : kLinearModules) known = known || module == m;
      if (!known)
        fail("[lora] --lora-targets: unknown module '{}'; use q,k,v,o,gate,up,down or all-linear",
             word);
      add(module);
    }
    word.clear();
  };
  for (char ch : list) {
    if (ch == ',' || ch == ' ') flush();
    else word += ch;
  }
  flush();
  if (targets.empty()) fail("[lora] --lora-targets is empty; use q,k,v,o,gate,up,down or all-linear");
  return targets;
}

std::vector<ParameterSpec> lora_parameters(const io::ModelConfig& c, const LoraConfig& lora) {
  std::vector<ParameterSpec> specs;
  if (lora.rank <= 0) return specs;
  for (int64_t l = 0; l < c.num_layers; ++l)
    for (const char* m : kLinearModules) {
      bool targeted = false;
      for (const auto& t : lora.targets) targeted = targeted || t == m;
      // A mixture-of-experts layer has no gate/up/down projection: as PEFT's target_modules,
      // a name finds the modules that exist.
      if (!targeted || (c.moe_layer(l) && module_path(m).starts_with("mlp."))) continue;
      auto [out, in] = projection_shape(c, m);
      std::string base = layer_name(l, module_path(m));
      specs.push_back({base + ".lora_A.weight", {lora.rank, in}});
      specs.push_back({base + ".lora_B.weight", {out, lora.rank}});
    }
  if (specs.empty())
    fail("[lora] --lora-targets {} name no module of this {} model: its mixture-of-experts "
         "layers have no gate/up/down projection and adapters on the experts are not supported "
         "yet; target q,k,v,o",
         fmt::join(lora.targets, ","), io::family_name(c.family));
  return specs;
}

bool is_lora_parameter(const std::string& name) {
  return name.ends_with(".lora_A.weight") || name.ends_with(".lora_B.weight");
}

bool is_moe_block_parameter(const std::string& name) {
  return name.ends_with(arch::hf::kRouter) || name.ends_with(arch::hf::kExpertsGateUp) ||
         name.ends_with(arch::hf::kExpertsDown);
}

}  // namespace vktrain::model
