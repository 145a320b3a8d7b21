#pragma once
// The whole Transformer on the CPU, forward and backward, in plain loops: the truth the GPU model
// is checked against in f32 (issue 5). It chains the per-op references of this folder (embedding,
// rmsnorm, lora linear, rope, attention, glu, cross_entropy) as the model does (model-brief
// "Layer math", DESIGN.md "Architectures"):
//   x = embed(ids) * (Gemma: sqrt(C) rounded to f32)
//   per layer (n = RMSNorm, times (1 + w) for Gemma):
//     q, k, v = linear(n1(x)) (+ Qwen2 biases); Qwen3 / Gemma-3: q, k = n(q), n(k) per head over D
//     a = attention(rope(q), rope(k), v): causal, GQA (query head h reads kv head h / (Hq / Hkv)),
//         packed documents, on sliding layers i - j < window; scale config.attention_scale()
//     llama, mistral, qwen2, qwen3: h = x + o(a);     out = h + down(act(gate(n2(h))) * up(n2(h)))
//     gemma3: h = x + n(o(a)), out = h + n(mlp(n(h)))  (post-attention, pre- and post-FFN norms)
//     qwen3_moe, mixtral, gpt_oss: out = h + moe(n2(h)) in their mixture-of-experts layers
//         (model_moe.hpp: router, top k, experts, weighted sum, as transformers' experts loop)
//     gpt_oss: a learned sink logit per query head joins each softmax; o_proj has a bias
//   logits = n(x_L) lm_head^T (lm_head = embed_tokens when tied), loss = mean cross-entropy,
//   plus router_aux_loss_coef * load_balancing_loss_func(every MoE layer's router logits, the
//   tokens whose document is >= 0) where the config asks for it (output_router_logits).
// Every linear y = x W^T + b + s (x A^T) B^T, the LoRA term only where "<module>.lora_A.weight"
// and "<module>.lora_B.weight" are given (no dropout); the experts' weights w[e] + s B_e A_e
// where their adapters are given (model_moe.hpp).
// RoPE tables come from ops::rope_inverse_frequencies, as on the GPU: Gemma-3's sliding layers
// use rope_local_theta without scaling, every other layer rope_theta with rope_scaling.
//
// Precision: f32 storage with double arithmetic. Every activation and every activation gradient
// is rounded to f32 where one op hands it to the next (what the GPU model stores in f32 mode);
// inside an op everything is computed and accumulated in double, and parameter gradients are
// summed in double.
//
// Dimension letters: B batch, T time, N = B * T tokens, C hidden, V vocab, F intermediate,
// Hq / Hkv query / kv heads, D head_dim, R LoRA rank.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "io/model_config.hpp"
#include "model/layout.hpp"
#include "ops/rope.hpp"

namespace vktrain::reference {

// Parameters by Hugging Face name (model/layout.hpp), LoRA A and B included; row-major.
using ModelWeights = std::map<std::string, std::vector<float>>;
using ModelGradients = std::map<std::string, std::vector<double>>;
// Per mixture-of-experts layer, in layer order: [N, k] the experts each token goes to.
using ExpertChoices = std::vector<std::vector<int32_t>>;

struct ModelBatch {
  int64_t batch = 0, time = 0;                   // B, T
  std::vector<int32_t> ids, targets, positions;  // [B, T] each; targets < 0: ignored
  std::vector<int32_t> documents;                // [B, T], or empty (one document per row)
};

struct ModelResult {
  std::vector<float> logits;  // [B, T, V]
  double loss = 0;            // mean over targets >= 0 (+ aux_loss)
  double aux_loss = 0;        // router_aux_loss_coef * the load-balancing loss, or 0
  ModelGradients grads;       // d loss / d w for every entry of `weights`
  ExpertChoices expert_ids;   // the routers' choices (or expert_ids where given)
};

// The base parameters the reference reads: model::base_parameters, and for gpt_oss (which the
// device's layout refuses until it has attention sinks) its sinks, o_proj bias, router
// "mlp.router.weight" and bias and expert biases beside them (model_moe.hpp).
std::vector<model::ParameterSpec> reference_parameters(const io::ModelConfig& config);

// Fails ("[reference/model] ...") when a weight of the config is missing or has the wrong size,
// a weight is unknown, an expert adapter fits neither expert weight, the batch's sizes disagree
// or no target is >= 0, or expert_ids has not one [N, k] of experts < E per MoE layer.
// expert_ids (or empty): the experts each token takes instead of its router's top k, the weights
// computed for them as for the top k: finite differences hold the routing still with them, as the
// backward does (the choice has no gradient).
ModelResult model_reference(const io::ModelConfig& config, const ModelWeights& weights,
                            const ModelBatch& batch, double lora_scale = 1.0,
                            const ExpertChoices& expert_ids = {});

// inv_freq [D / 2] of each layer: model::layer_inverse_frequencies (model/rope_frequencies.hpp).

}  // namespace vktrain::reference
