#include "model/layout.hpp"

#include <algorithm>
#include <cmath>
#include <span>

#include "arch/family.hpp"
#include "arch/tensor_names.hpp"
#include "base/error.hpp"
#include "ops/moe_lora.hpp"

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
  const int64_t C = c.hidden_size, D = c.head_dim;
  const arch::MoeNames& moe = arch::describe(c.family).experts;
  std::vector<ParameterSpec> specs;
  specs.push_back({arch::hf::kEmbedTokens, {c.vocab_size, C}});
  for (int64_t l = 0; l < c.num_layers; ++l) {
    specs.push_back({layer_name(l, arch::hf::kInputNorm), {C}});
    for (const char* m : {"q_proj", "k_proj", "v_proj", "o_proj"}) {
      auto [out, in] = projection_shape(c, m);
      specs.push_back({layer_name(l, module_path(m) + ".weight"), {out, in}});
      if (std::string(m) == "o_proj" ? c.output_bias : c.attention_bias)
        specs.push_back({layer_name(l, module_path(m) + ".bias"), {out}});
    }
    if (c.attention_sinks) specs.push_back({layer_name(l, arch::hf::kSinks), {c.num_heads}});
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
      specs.push_back({layer_name(l, std::string(moe.device_router)), {E, C}});
      if (!moe.router_bias.empty())
        specs.push_back({layer_name(l, std::string(moe.router_bias)), {E}});
      specs.push_back({layer_name(l, arch::hf::kExpertsGateUp), {E, 2 * F, C}});
      if (moe.expert_biases)
        specs.push_back({layer_name(l, arch::hf::kExpertsGateUpBias), {E, 2 * F}});
      specs.push_back({layer_name(l, arch::hf::kExpertsDown), {E, C, F}});
      if (moe.expert_biases)
        specs.push_back({layer_name(l, arch::hf::kExpertsDownBias), {E, C}});
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
    std::string expert = word.starts_with(io::kExpertTargetPrefix)
                             ? word.substr(std::string_view(io::kExpertTargetPrefix).size())
                             : word;
    if (word == "all-linear" || word == "all_linear") {
      for (const char* m : kLinearModules) add(m);
    } else if (expert == "experts") {
      for (const char* t : io::kExpertTargets) add(t);
    } else if (expert == "gate_up" || expert == "gate_up_proj" ||
               expert == "experts.gate_up_proj") {
      add(io::kExpertTargets[0]);
    } else if (expert == "experts.down_proj") {
      add(io::kExpertTargets[1]);
    } else if (word == "router") {
      fail("[lora] --lora-targets: 'router': the router stays frozen (PEFT adapts linear "
           "modules and expert weights); use q,k,v,o,gate,up,down, all-linear or experts");
    } else {
      std::string module = word.ends_with("_proj") ? word : word + "_proj";
      bool known = false;
      for (const char* m : kLinearModules) known = known || module == m;
      if (!known)
        fail("[lora] --lora-targets: unknown module '{}'; use q,k,v,o,gate,up,down, all-linear "
             "or experts (gate_up_proj, experts.down_proj)",
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
  if (targets.empty())
    fail("[lora] --lora-targets is empty; use q,k,v,o,gate,up,down, all-linear or experts");
  return targets;
}

bool targets_expert(const LoraConfig& lora, const std::string& expert_target) {
  for (const auto& t : lora.targets)
    if (t == expert_target) return true;
  return false;
}

std::string expert_adapter_path(int64_t layer, const std::string& expert_target,
                                const LoraConfig& lora) {
  const bool nested = expert_target == io::kExpertTargets[0] &&
                      targets_expert(lora, io::kExpertTargets[1]);
  return layer_name(layer, nested ? "mlp.experts.base_layer" : "mlp.experts");
}

namespace {

// Per layer, the targets that exist there: projections (a mixture-of-experts layer has no
// gate/up/down projection: as PEFT's target_modules, a name finds the modules that exist) and
// expert weights (MoE layers only).
std::vector<std::string> layer_targets(const io::ModelConfig& c, const LoraConfig& lora,
                                       int64_t l) {
  std::vector<std::string> found;
  for (const char* m : kLinearModules)
    if (targets_expert(lora, m) && !(c.moe_layer(l) && module_path(m).starts_with("mlp.")))
      found.push_back(m);
  if (c.moe_layer(l))
    for (const char* t : io::kExpertTargets)
      if (targets_expert(lora, t)) found.push_back(t);
  return found;
}

}  // namespace

bool is_expert_target(const std::string& target) {
  return target == io::kExpertTargets[0] || target == io::kExpertTargets[1];
}

std::vector<std::string> applied_lora_targets(const io::ModelConfig& c, const LoraConfig& lora) {
  std::vector<std::string> applied;
  for (const auto& target : lora.targets)
    for (int64_t l = 0; l < c.num_layers; ++l) {
      auto here = layer_targets(c, lora, l);
      if (std::ranges::find(here, target) != here.end()) {
        applied.push_back(target);
        break;
      }
    }
  return applied;
}

std::vector<ParameterSpec> lora_parameters(const io::ModelConfig& c, const LoraConfig& lora) {
  std::vector<ParameterSpec> specs;
  if (lora.rank <= 0) return specs;
  const bool experts = std::ranges::any_of(lora.targets, is_expert_target);
  if (experts && lora.dropout > 0)
    fail("[lora] --lora-dropout {} with adapters on the experts' weights: PEFT's ParamWrapper "
         "(target_parameters) does not work with lora_dropout != 0; set it to 0 or target "
         "q,k,v,o only",
         lora.dropout);
  bool any_moe = false;
  for (int64_t l = 0; l < c.num_layers; ++l) {
    any_moe = any_moe || c.moe_layer(l);
    for (const std::string& target : layer_targets(c, lora, l)) {
      if (is_expert_target(target)) {
        const int64_t E = c.moe.experts, C = c.hidden_size, F = c.moe.intermediate_size;
        const bool gate_up = target == io::kExpertTargets[0];
        const int64_t out = gate_up ? 2 * F : C, in = gate_up ? C : F;
        const std::string base = expert_adapter_path(l, target, lora);
        specs.push_back({base + ".lora_A.weight", {E, lora.rank, in}});
        specs.push_back({base + ".lora_B.weight", {E, out, lora.rank},
                         gate_up && arch::describe(c.family).experts.interleaved_gate_up});
        continue;
      }
      auto [out, in] = projection_shape(c, target);
      std::string base = layer_name(l, module_path(target));
      specs.push_back({base + ".lora_A.weight", {lora.rank, in}});
      specs.push_back({base + ".lora_B.weight", {out, lora.rank}});
    }
  }
  if (experts && !any_moe)
    fail("[lora] --lora-targets {}: this {} model has no mixture-of-experts layers; target its "
         "projections (q,k,v,o,gate,up,down)",
         fmt::join(lora.targets, ","), io::family_name(c.family));
  if (specs.empty())
    fail("[lora] --lora-targets {} name no module of this {} model: its mixture-of-experts "
         "layers have no gate/up/down projection; target q,k,v,o or experts",
         fmt::join(lora.targets, ","), io::family_name(c.family));
  return specs;
}

namespace {

bool is_expert_lora_b(const ParameterSpec& spec) {
  return spec.shape.size() == 3 && spec.name.ends_with(".lora_B.weight");
}

}  // namespace

std::vector<int64_t> peft_shape(const ParameterSpec& spec) {
  if (spec.shape.size() != 3) return spec.shape;
  const int64_t E = spec.shape[0];
  if (is_expert_lora_b(spec)) return {spec.shape[1], spec.shape[2] * E};
  return {E * spec.shape[1], spec.shape[2]};
}

namespace {

// PEFT's lora_B [out, width] of an interleaved gate_up (deinterleaved_gate_up_row). `to_peft`
// picks the direction.
std::vector<float> interleave_rows(std::span<const float> values, int64_t out, int64_t width,
                                   bool to_peft) {
  std::vector<float> moved(values.size());
  for (int64_t o = 0; o < out; ++o) {
    const int64_t here = deinterleaved_gate_up_row(o, out);
    const int64_t from = to_peft ? here : o, to = to_peft ? o : here;
    std::copy_n(values.begin() + from * width, width, moved.begin() + to * width);
  }
  return moved;
}

}  // namespace

// Row 2j + h is row h out / 2 + j (h 0: gate, 1: up).
int64_t deinterleaved_gate_up_row(int64_t o, int64_t out) { return (o % 2) * (out / 2) + o / 2; }

std::vector<float> to_peft_layout(const ParameterSpec& spec, std::vector<float> values) {
  if (!is_expert_lora_b(spec)) return values;
  const auto& s = spec.shape;
  auto peft = ops::moe_lora_b_to_peft(values, uint64_t(s[0]), uint64_t(s[1]), uint64_t(s[2]));
  if (!spec.peft_interleaved_rows) return peft;
  return interleave_rows(peft, s[1], s[0] * s[2], true);
}

std::vector<float> from_peft_layout(const ParameterSpec& spec, std::vector<float> values) {
  if (!is_expert_lora_b(spec)) return values;
  const auto& s = spec.shape;
  if (spec.peft_interleaved_rows) values = interleave_rows(values, s[1], s[0] * s[2], false);
  return ops::moe_lora_b_from_peft(values, uint64_t(s[0]), uint64_t(s[1]), uint64_t(s[2]));
}

bool is_lora_parameter(const std::string& name) {
  return name.ends_with(".lora_A.weight") || name.ends_with(".lora_B.weight");
}

bool is_moe_block_parameter(const std::string& name) {
  return name.ends_with(arch::hf::kRouter) || name.ends_with(arch::hf::kRouterOwn) ||
         name.ends_with(arch::hf::kExpertsGateUp) || name.ends_with(arch::hf::kExpertsDown);
}

}  // namespace vktrain::model
