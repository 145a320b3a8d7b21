#pragma once
// The mixture-of-experts feed-forward block of a reference model layer (reference/model.hpp),
// built from the model's weights and run by the block reference (reference/moe.hpp), and
// gpt-oss's extra parameters. Shared by model.cpp and model_layer.cpp only.
//   qwen3_moe, mixtral: router "…mlp.gate.weight" [E, C]; softmax over E, top k, the k weights
//     renormalised where norm_topk_prob (Mixtral always); SwiGLU experts
//   gpt_oss: router "…mlp.router.weight" [E, C] + "…mlp.router.bias" [E]; the top k logits and
//     a softmax over those k; experts with "…mlp.experts.gate_up_proj_bias" [E, 2F] (gate
//     columns, then up) and "…mlp.experts.down_proj_bias" [E, C] and the clamped SwiGLU
//   experts "…mlp.experts.gate_up_proj" [E, 2F, C] (gate rows, then up) and
//   "…mlp.experts.down_proj" [E, C, F]; LoRA on them as PEFT's target_parameters
//   (ops/moe_lora.hpp: A [E, R, in], B [E, out, R] here, as model::lora_parameters lays them out).
#include <cstdint>
#include <string>
#include <vector>

#include "reference/model_layer.hpp"

namespace vktrain::reference {

inline constexpr char kSinks[] = "self_attn.sinks";  // gpt-oss's [Hq], after "model.layers.N."

// Whether the config's layers are transformers' GptOss modules: sinks, an o_proj bias, the router
// with a bias and the top k's softmax, experts with biases. ModelConfig has no switch for the
// router and the biases apart from the family.
bool gpt_oss_layers(const io::ModelConfig& config);

// The expert adapters present in `weights` for layer `layer`, as PEFT nests its ParamWrappers
// (model::expert_adapter_path): with both targets, gate_up_proj's under "…mlp.experts.base_layer"
// and down_proj's under "…mlp.experts"; with one, under "…mlp.experts", which one told by its
// shapes (A [E, R, C] and B [E, 2F, R], or A [E, R, F] and B [E, C, R]: never both).
struct ExpertAdapter {
  std::string path;  // "model.layers.0.mlp.experts"
  bool gate_up = false;
  size_t rank = 0;   // 0: its shapes fit neither weight
};
std::vector<ExpertAdapter> expert_adapters(const io::ModelConfig& config,
                                           const ModelWeights& weights, int64_t layer);

// The block's output [N, C] for x [N, C] (the normed residual); keeps the router's logits and
// choices in saved.router_logits and saved.expert_ids.
std::vector<float> moe_layer_forward(LayerActivations& saved, const ModelInputs& in,
                                     int64_t layer, const std::vector<float>& x);
// Adds the block's parameter gradients into grads and returns d loss / d x [N, C] for dy [N, C];
// router_dlogits [N, E] (or empty): the load-balancing loss's gradient of this layer's logits.
std::vector<double> moe_layer_backward(ModelGradients& grads, const ModelInputs& in,
                                       int64_t layer, const std::vector<float>& x,
                                       const std::vector<float>& dy,
                                       const std::vector<double>& router_dlogits);

}  // namespace vktrain::reference
