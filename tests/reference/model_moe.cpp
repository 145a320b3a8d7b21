#include "reference/model_moe.hpp"

#include <algorithm>

#include "arch/tensor_names.hpp"
#include "model/layout.hpp"
#include "reference/moe.hpp"

namespace vktrain::reference {
namespace {

using model::layer_name;

// gpt-oss's tensors in the device's layout, after "model.layers.N.".
constexpr char kOutputBias[] = "self_attn.o_proj.bias";
constexpr char kRouterWeight[] = "mlp.router.weight";
constexpr char kRouterBias[] = "mlp.router.bias";
constexpr char kGateUpBias[] = "mlp.experts.gate_up_proj_bias";
constexpr char kDownBias[] = "mlp.experts.down_proj_bias";

std::string router_name(const io::ModelConfig& c, int64_t layer) {
  return layer_name(layer, gpt_oss_layers(c) ? kRouterWeight : arch::hf::kRouter);
}

// The rank of an adapter A [E, R, in], B [E, out, R] of `a` and `b` values, or 0.
size_t adapter_rank(size_t a, size_t b, size_t E, size_t in, size_t out) {
  if (a == 0 || a % (E * in) != 0) return 0;
  const size_t rank = a / (E * in);
  return b == E * out * rank ? rank : 0;
}

// PEFT's lora_B [out, R E] (reference/moe.hpp's ExpertLora) from B [E, out, R], and a gradient
// of the former back into the latter's layout: written from PEFT's get_delta_weight, apart from
// ops::moe_lora_b_to_peft, so that a wrong permutation there shows.
size_t peft_index(size_t E, size_t R, size_t e, size_t o, size_t j) { return o * R * E + j * E + e; }

std::vector<float> b_to_peft(const std::vector<float>& b, size_t E, size_t out, size_t R) {
  std::vector<float> peft(b.size());
  for (size_t e = 0; e < E; ++e)
    for (size_t o = 0; o < out; ++o)
      for (size_t j = 0; j < R; ++j) peft[peft_index(E, R, e, o, j)] = b[(e * out + o) * R + j];
  return peft;
}

void add_b_from_peft(std::vector<double>& db, const std::vector<double>& peft, size_t E,
                     size_t out, size_t R) {
  for (size_t e = 0; e < E; ++e)
    for (size_t o = 0; o < out; ++o)
      for (size_t j = 0; j < R; ++j) db[(e * out + o) * R + j] += peft[peft_index(E, R, e, o, j)];
}

MoeBlock layer_block(const ModelInputs& in, int64_t layer) {
  const io::ModelConfig& c = in.config;
  const bool gpt_oss = gpt_oss_layers(c);
  MoeBlock b{in.tokens(),
             size_t(c.hidden_size),
             size_t(c.moe.intermediate_size),
             size_t(c.moe.experts),
             size_t(c.moe.experts_per_token),
             {gpt_oss ? ops::MoeRouting::topk_softmax : ops::MoeRouting::softmax_topk,
              c.moe.normalize_topk},
             in.activation(),
             in.weight(router_name(c, layer)),
             {},
             in.weight(layer_name(layer, arch::hf::kExpertsGateUp)),
             in.weight(layer_name(layer, arch::hf::kExpertsDown))};
  if (gpt_oss) {
    b.router_bias = in.weight(layer_name(layer, kRouterBias));
    b.gate_up_bias = in.weight(layer_name(layer, kGateUpBias));
    b.down_bias = in.weight(layer_name(layer, kDownBias));
  }
  if (!in.held_experts.empty()) {
    size_t index = 0;  // among the MoE layers
    for (int64_t l = 0; l < layer; ++l) index += c.moe_layer(l);
    b.chosen = in.held_experts[index];
  }
  b.clamped_swiglu = c.moe.swiglu_limit > 0;
  b.swiglu_alpha = c.moe.swiglu_alpha;
  b.swiglu_limit = c.moe.swiglu_limit;
  for (const ExpertAdapter& adapter : expert_adapters(c, in.weights, layer)) {
    const size_t out = adapter.gate_up ? 2 * b.F : b.C;
    const std::string a = adapter.path + ".lora_A.weight", b_name = adapter.path + ".lora_B.weight";
    ExpertLora lora{adapter.rank, in.lora_scale, in.weight(a),
                    b_to_peft(in.weight(b_name), b.E, out, adapter.rank)};
    (adapter.gate_up ? b.gate_up_lora : b.down_lora) = std::move(lora);
  }
  return b;
}

void add_into(ModelGradients& grads, const std::string& name, const std::vector<double>& g) {
  std::vector<double>& to = grads.at(name);
  for (size_t i = 0; i < g.size(); ++i) to[i] += g[i];
}

}  // namespace

bool gpt_oss_layers(const io::ModelConfig& config) { return config.family == io::Family::gpt_oss; }

std::vector<model::ParameterSpec> reference_parameters(const io::ModelConfig& config) {
  if (!gpt_oss_layers(config)) return model::base_parameters(config);
  // The device's layout refuses a model with attention sinks until it has them: lay out the rest
  // and add gpt-oss's own (where the layout does not have them already).
  io::ModelConfig without_sinks = config;
  without_sinks.attention_sinks = false;
  std::vector<model::ParameterSpec> specs = model::base_parameters(without_sinks);
  auto has = [&](const std::string& name) {
    return std::ranges::any_of(specs, [&](const auto& s) { return s.name == name; });
  };
  const int64_t C = config.hidden_size, E = config.moe.experts, F = config.moe.intermediate_size;
  for (model::ParameterSpec& spec : specs)
    for (int64_t l = 0; l < config.num_layers; ++l)
      if (spec.name == layer_name(l, arch::hf::kRouter)) spec.name = layer_name(l, kRouterWeight);
  for (int64_t l = 0; l < config.num_layers; ++l) {
    const std::pair<const char*, std::vector<int64_t>> extra[] = {
        {kSinks, {config.num_heads}}, {kOutputBias, {C}},        {kRouterBias, {E}},
        {kGateUpBias, {E, 2 * F}},    {kDownBias, {E, C}}};
    for (const auto& [suffix, shape] : extra) {
      const bool here = std::string_view(suffix).starts_with("mlp.") ? config.moe_layer(l)
                        : suffix == std::string_view(kSinks) ? config.attention_sinks
                                                             : true;
      if (here && !has(layer_name(l, suffix))) specs.push_back({layer_name(l, suffix), shape});
    }
  }
  return specs;
}

std::vector<ExpertAdapter> expert_adapters(const io::ModelConfig& c, const ModelWeights& weights,
                                           int64_t layer) {
  const size_t E = size_t(c.moe.experts), C = size_t(c.hidden_size),
               F = size_t(c.moe.intermediate_size);
  auto size = [&](const std::string& name) {
    auto found = weights.find(name);
    return found == weights.end() ? size_t(0) : found->second.size();
  };
  auto adapter = [&](const std::string& path, bool gate_up) {
    size_t a = size(path + ".lora_A.weight"), b = size(path + ".lora_B.weight");
    return ExpertAdapter{path, gate_up,
                         gate_up ? adapter_rank(a, b, E, C, 2 * F) : adapter_rank(a, b, E, F, C)};
  };
  const std::string outer = layer_name(layer, "mlp.experts"), inner = outer + ".base_layer";
  if (!c.moe_layer(layer) || !weights.contains(outer + ".lora_A.weight")) return {};
  if (weights.contains(inner + ".lora_A.weight")) return {adapter(inner, true), adapter(outer, false)};
  ExpertAdapter gate_up = adapter(outer, true);
  return {gate_up.rank ? gate_up : adapter(outer, false)};
}

std::vector<float> moe_layer_forward(LayerActivations& saved, const ModelInputs& in,
                                     int64_t layer, const std::vector<float>& x) {
  const MoeBlock block = layer_block(in, layer);
  saved.router_logits = moe_block_logits(block, x);
  saved.expert_ids = moe_router_forward(saved.router_logits, block.T, block.E, block.k,
                                        block.router, block.chosen).ids;
  return to_f32(moe_block_forward(block, x));
}

std::vector<double> moe_layer_backward(ModelGradients& grads, const ModelInputs& in,
                                       int64_t layer, const std::vector<float>& x,
                                       const std::vector<float>& dy,
                                       const std::vector<double>& router_dlogits) {
  const MoeBlock block = layer_block(in, layer);
  const MoeBlockGradients g = moe_block_backward(block, x, dy, router_dlogits);
  add_into(grads, router_name(in.config, layer), g.router);
  add_into(grads, layer_name(layer, arch::hf::kExpertsGateUp), g.gate_up);
  add_into(grads, layer_name(layer, arch::hf::kExpertsDown), g.down);
  if (gpt_oss_layers(in.config)) {
    add_into(grads, layer_name(layer, kRouterBias), g.router_bias);
    add_into(grads, layer_name(layer, kGateUpBias), g.gate_up_bias);
    add_into(grads, layer_name(layer, kDownBias), g.down_bias);
  }
  for (const ExpertAdapter& adapter : expert_adapters(in.config, in.weights, layer)) {
    const size_t out = adapter.gate_up ? 2 * block.F : block.C;
    add_into(grads, adapter.path + ".lora_A.weight",
             adapter.gate_up ? g.gate_up_lora_a : g.down_lora_a);
    add_b_from_peft(grads.at(adapter.path + ".lora_B.weight"),
                    adapter.gate_up ? g.gate_up_lora_b : g.down_lora_b, block.E, out,
                    adapter.rank);
  }
  return g.dx;
}

}  // namespace vktrain::reference
