#pragma once
// One decoder layer of the reference model (reference/model.hpp): its forward, which keeps what
// the backward needs, and its backward. Shared by model.cpp only.
#include <cstdint>
#include <string>
#include <vector>

#include "ops/glu.hpp"
#include "reference/attention.hpp"
#include "reference/model.hpp"

namespace vktrain::reference {

// What every layer reads: the config, the weights and the batch, and the LoRA scale s.
struct ModelInputs {
  const io::ModelConfig& config;
  const ModelWeights& weights;
  const ModelBatch& batch;
  double lora_scale;
  const ExpertChoices& held_experts;  // model_reference's expert_ids: empty, or one per MoE layer

  const std::vector<float>& weight(const std::string& name) const;  // fails when absent
  size_t tokens() const { return size_t(batch.batch * batch.time); }  // N
  double norm_offset() const { return config.norm_plus_one ? 1.0 : 0.0; }
  ops::GluActivation activation() const {
    return config.activation == "silu" ? ops::GluActivation::silu : ops::GluActivation::gelu_tanh;
  }
};

// Activations of one layer, all f32, [N, ...] row-major.
struct LayerActivations {
  std::vector<float> x;             // [N, C] the layer's input
  std::vector<float> norm1;         // [N, C] input_layernorm(x)
  std::vector<float> q, k, v;       // [N, Hq * D], [N, Hkv * D], [N, Hkv * D] projections
  std::vector<float> q_rot, k_rot;  // after the q/k norms (when present) and RoPE
  std::vector<float> attention;     // [N, Hq * D]
  std::vector<float> o;             // [N, C] o_proj(attention)
  std::vector<float> h;             // [N, C] x + the attention branch
  std::vector<float> norm2;         // [N, C] the MLP's input
  std::vector<float> gate, up;      // [N, F]
  std::vector<float> glu;           // [N, F] act(gate) * up
  std::vector<float> down;          // [N, C] down_proj(glu), or the mixture of experts' output
  std::vector<float> router_logits;  // [N, E] a mixture-of-experts layer's (model_moe.hpp)
  std::vector<int32_t> expert_ids;   // [N, k] the experts its router chose
  std::vector<float> inv_freq;      // [D / 2] this layer's RoPE table
  AttentionShape shape;             // this layer's mask (window, documents) and scale
};

// The layer's output [N, C] for input x [N, C]; fills `saved`.
std::vector<float> layer_forward(LayerActivations& saved, const ModelInputs& in, int64_t layer,
                                 const std::vector<float>& x);
// Adds the gradients of the layer's parameters into grads and returns d loss / d x for the
// gradient dout [N, C] of its output; router_dlogits [N, E]: the load-balancing loss's gradient
// of a mixture-of-experts layer's router logits (empty: none).
std::vector<float> layer_backward(ModelGradients& grads, const ModelInputs& in, int64_t layer,
                                  const LayerActivations& saved, const std::vector<float>& dout,
                                  const std::vector<double>& router_dlogits = {});

std::vector<float> to_f32(const std::vector<double>& x);

}  // namespace vktrain::reference
