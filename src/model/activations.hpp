#pragma once
// The device memory one training step works in, planned once per run from the batch shape
// (DESIGN.md decision 7). Letters: B batch, T time, N = B*T tokens, C hidden, F intermediate,
// Hq/Hkv heads, D head_dim, L layers, V vocab.
//  - `residual[l]` [N, C] is the input of layer l (residual[L]: the final norm's input). It is
//    always kept per layer: the backward pass and recompute start from it.
//  - What a layer's backward reads (normed inputs, q/k/v, attention output and lse, the FFN's
//    gate/up/product, saved rstd) lives in `saved[l]`: one set per layer, or, with recompute
//    (activation checkpointing), a single set that each layer's backward refills by running the
//    layer's forward again.
//  - Gradients of activations live in one set shared by every layer, as does everything no
//    backward reads (q and k before RoPE without qk-norm, the branch outputs without sandwich
//    norms: per-layer fields that view one shared tensor).
// Shared tensors are reused across layers; the recorder's read/write tracking puts the barriers
// that reuse needs. One table in activations.cpp lists every tensor (name, shape, dtype, per layer
// or shared): Activations allocates from it and activation_bytes() sums it, so the memory plan
// (model/memory_plan.hpp) cannot drift from what is allocated.
#include <vector>

#include "io/model_config.hpp"
#include "ops/moe.hpp"
#include "ops/tensor.hpp"

namespace vktrain::model {

struct LayerActivations {
  Tensor norm_in;        // h1 [N, C]: input_layernorm(x), the q/k/v input
  Tensor norm_in_rstd;   // [N] f32
  Tensor q, k, v;        // projections [N, Hq*D], [N, Hkv*D], [N, Hkv*D]
  Tensor q_rstd, k_rstd; // qk-norm rstd [N*Hq], [N*Hkv] f32 (qk_norm only)
  Tensor q_rotated, k_rotated;  // attention inputs after qk-norm and RoPE
  Tensor attention;      // o [N, Hq*D]
  Tensor lse;            // [B, Hq, T] f32
  Tensor attention_out;  // o_proj output [N, C] (sandwich norms: the post-attention norm's input)
  Tensor post_attention_rstd;  // [N] f32 (sandwich norms)
  Tensor norm_ffn;       // h2 [N, C]: the FFN's normed input
  Tensor norm_ffn_rstd;  // [N] f32
  Tensor gate, up, product;  // [N, F] (dense FFN layers only)
  Tensor ffn_out;        // down_proj or expert block output [N, C] (sandwich norms: the post-FFN
                         // norm's input)
  Tensor post_ffn_rstd;  // [N] f32 (sandwich norms)
  Tensor middle;         // x + attention branch [N, C]: the FFN block's input
  // LoRA's hidden u = dropout(x) A^T [N, R] of each of the 7 linear modules (kLinearModules
  // order; LoRA only): the training forward writes it and the backward reads it instead of
  // recomputing it (7 products of a layer's backward, for 7 x N x R elements).
  Tensor lora_hidden;    // [7, N, R]
  // A mixture-of-experts layer's routing and expert activations (ops/moe.hpp), kept for the
  // backward like the rest; the backward's own buffers are one set that every layer's views.
  ops::MoeScratch moe;
};

struct ActivationGradients {
  Tensor residual;       // d of the residual stream [N, C], carried from layer to layer
  Tensor norm_in;        // dh1 [N, C]
  Tensor q, k, v;        // d of the projections
  Tensor q_rotated, k_rotated;  // d of the attention's q and k inputs (dv is `v`)
  Tensor q_normed, k_normed;  // d after RoPE's inverse, before the qk-norm (qk_norm only)
  Tensor attention;      // do [N, Hq*D]
  Tensor branch;         // d of a sandwich norm's input [N, C] (sandwich norms only)
  Tensor norm_ffn;       // dh2 [N, C]
  Tensor gate, up, product;  // [N, F] (dense FFN layers only)
  Tensor final_norm;     // d of the final norm's output [N, C]
};

// The shape of the mixture-of-experts blocks of `config` over `tokens` tokens.
ops::MoeBlockShape moe_block_shape(const io::ModelConfig& config, int64_t tokens);

// The device bytes Activations(context, config, dtype, batch, time, recompute, lora_rank)
// allocates, each tensor rounded as the allocator rounds it.
uint64_t activation_bytes(const io::ModelConfig& config, DType dtype, int64_t batch, int64_t time,
                          bool recompute, int64_t lora_rank);

class Activations {
 public:
  // lora_rank: the adapters' rank for a training step, 0 for inference or without adapters.
  Activations(vk::Context& context, const io::ModelConfig& config, DType dtype, int64_t batch,
              int64_t time, bool recompute, int64_t lora_rank);
  Activations(const Activations&) = delete;
  Activations& operator=(const Activations&) = delete;

  int64_t batch() const { return batch_; }
  int64_t time() const { return time_; }
  int64_t tokens() const { return batch_ * time_; }
  bool recompute() const { return recompute_; }
  LayerActivations& layer(int64_t l) { return saved_[recompute_ ? 0 : size_t(l)]; }

  std::vector<Tensor> residual;  // L + 1 of [N, C]
  Tensor final_norm;             // [N, C]
  Tensor final_norm_rstd;        // [N] f32
  ActivationGradients grads;
  Tensor loss;                   // f32 [1]: the sum of per-token losses
  Tensor grad_scale;             // f32 [1]: 1 / (targets counted over the whole step)
  // The load-balancing loss of the routers (config.moe.aux_loss only): its statistics over the
  // micro-batch's MoE layers (ops/moe_aux.hpp). Its value joins `loss`.
  Tensor moe_aux_stats;
  // The weight of one micro-batch's load-balancing loss in the step's loss and gradients:
  // 1 / the step's micro-batches, times the loss scale that grad_scale carries (the training
  // step sets it; train/step.hpp says why).
  float moe_aux_weight = 1.0f;

 private:
  int64_t batch_, time_;
  bool recompute_;
  std::vector<LayerActivations> saved_;
};

}  // namespace vktrain::model
