#pragma once
// The parameters of one Transformer (DESIGN.md "Architectures") as Hugging Face names them, with
// their shapes, and the LoRA adapters a run adds. Dimension letters (STYLE.md):
//   V vocab, C hidden, F intermediate (FFN), L layers, Hq / Hkv query / kv heads, D head_dim,
//   R LoRA rank.
// This is the one place that knows which tensors a family has; loading, initialisation, the
// forward pass and adapter files all look parameters up by these names.
#include <cstdint>
#include <string>
#include <vector>

#include "io/lora_config.hpp"
#include "io/model_config.hpp"

namespace vktrain::model {

struct ParameterSpec {
  std::string name;            // "model.layers.3.self_attn.q_proj.weight"
  std::vector<int64_t> shape;  // [out, in] for linear weights
  // An expert adapter's B whose PEFT rows interleave gate and up (gpt-oss's gate_up_proj: PEFT
  // adapts its checkpoint's [E, C, 2F], gate and up columns alternating; here gate rows, then up).
  bool peft_interleaved_rows = false;
  // Weight decay applies and the run's dtype holds it; norms and biases (gpt-oss's expert biases
  // [E, N] too) stay f32, undecayed.
  bool matrix() const { return shape.size() >= 2 && !name.ends_with("_bias"); }
  uint64_t elements() const {
    uint64_t n = 1;
    for (int64_t d : shape) n *= uint64_t(d);
    return n;
  }
};

using io::kLinearModules;
using io::LoraConfig;

// "model.layers.{layer}." + suffix.
std::string layer_name(int64_t layer, const std::string& suffix);
// Where a projection lives: "self_attn.q_proj", "mlp.down_proj", ...
std::string module_path(const std::string& module);

// Every base parameter of the model in a fixed order: embeddings, then per layer, then the final
// norm and (untied only) lm_head. Shapes come from the config.
std::vector<ParameterSpec> base_parameters(const io::ModelConfig& config);

// [out, in] of a projection (module: "q_proj", ...).
std::pair<int64_t, int64_t> projection_shape(const io::ModelConfig& config,
                                             const std::string& module);

// Targets from a user's list: names from kLinearModules, "all-linear" (every one, as
// PEFT's "all-linear" for these families, lm_head excluded), comma separated or not; also the
// short forms q, k, v, o, gate, up, down. A mixture of experts' weights (kExpertTargets, PEFT's
// target_parameters): "experts" (both), "gate_up_proj" or "gate_up", "experts.down_proj", or
// PEFT's "mlp.experts.gate_up_proj" / "mlp.experts.down_proj". Unknown names fail naming the
// option.
std::vector<std::string> parse_lora_targets(const std::string& list);

// The adapter's parameters: per layer and target "…q_proj.lora_A.weight" [R, in] and
// "…q_proj.lora_B.weight" [out, R], in layer order; on a targeted expert weight [E, out, in]
// A [E, R, in] and B [E, out, R] (ops/moe_lora.hpp) under expert_adapter_path.
std::vector<ParameterSpec> lora_parameters(const io::ModelConfig& config, const LoraConfig& lora);
bool is_lora_parameter(const std::string& name);
bool targets_expert(const LoraConfig& lora, const std::string& expert_target);
// Where PEFT keeps the adapter of an expert weight (kExpertTargets) in layer l: one ParamWrapper
// per targeted parameter, nested, gate_up_proj's inside down_proj's when both are targeted:
// "…mlp.experts.base_layer" for gate_up_proj then, else "…mlp.experts".
std::string expert_adapter_path(int64_t layer, const std::string& expert_target,
                                const LoraConfig& lora);
// The targets that exist in some layer of the model, in the adapter's order: what it adapts.
std::vector<std::string> applied_lora_targets(const io::ModelConfig& config,
                                              const LoraConfig& lora);
bool is_expert_target(const std::string& target);

// An adapter parameter as PEFT's file holds it: an expert adapter's A [E, R, in] is lora_A
// [E R, in] (the same values), its B [E, out, R] is lora_B [out, R E] (columns permuted,
// ops/moe_lora.hpp; rows interleaved where spec.peft_interleaved_rows); any other adapter
// parameter is as it is.
// PEFT's ParamWrapper takes a 3-D parameter [E, a, b] as in = a, out = b where the experts
// module says is_transposed (transformers' GptOssExperts: gate_up_proj [E, C, 2F], x @ W), else
// as in = b, out = a (Qwen3MoeExperts' [E, 2F, C]); both give lora_A [E R, in] and lora_B
// [out, R E], and the delta per expert s B_e A_e laid out as the parameter. So gpt-oss differs
// only in the order of gate_up's out rows.
std::vector<int64_t> peft_shape(const ParameterSpec& spec);
std::vector<float> to_peft_layout(const ParameterSpec& spec, std::vector<float> values);
std::vector<float> from_peft_layout(const ParameterSpec& spec, std::vector<float> values);
// gpt-oss's gate_up of `out` rows as PEFT orders it (the checkpoint's columns, gate and up
// alternating): its row o is this row of vktrain's [gate; up].
int64_t deinterleaved_gate_up_row(int64_t o, int64_t out);
// A mixture-of-experts block's router or experts (a quantized base keeps the router in the run's
// dtype and the experts in a block type: model/quantized.hpp).
bool is_moe_block_parameter(const std::string& name);

}  // namespace vktrain::model
