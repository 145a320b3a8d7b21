#pragma once
// References of the mixture-of-experts ops (ops/moe_*.hpp), in double, written the way
// transformers computes them. Backward functions add into their gradients, like the ops.
// Letters: T tokens, E experts, k experts per token, S = T * k slots, C / N / K columns.
#include <cstdint>
#include <vector>

#include "ops/glu.hpp"
#include "ops/moe_router.hpp"

namespace vktrain::reference {

struct MoeRouting {
  std::vector<int32_t> ids;     // [T, k]
  std::vector<double> weights;  // [T, k]
  std::vector<double> probs;    // [T, E] softmax of the logits
};

// chosen [T, k] (or empty): the experts to take instead of the top k, held still while finite
// differences move the logits; the weights are computed for them as for the top k.
MoeRouting moe_router_forward(const std::vector<float>& logits, size_t T, size_t E, size_t k,
                              const ops::MoeRouter& router,
                              const std::vector<int32_t>& chosen = {});
void moe_router_backward(std::vector<double>& dlogits, const std::vector<float>& dweights,
                         const std::vector<float>& logits, size_t T, size_t E, size_t k,
                         const ops::MoeRouter& router, const std::vector<int32_t>& chosen = {});

// Grouping: offsets [E + 1] and rows [S] (slots sorted by expert, stable).
struct MoeGrouping {
  std::vector<int32_t> offsets, rows, positions;
};
MoeGrouping moe_group(const std::vector<int32_t>& ids, size_t E);

// Per expert e: y[rows of e] = x[rows of e] W_e^T (trans_b, W [E, N, K]) or x W_e (W [E, K, N]);
// x [S, K], y [S, N].
std::vector<double> moe_matmul(const std::vector<float>& x, const std::vector<float>& w,
                               const std::vector<int32_t>& offsets, size_t N, size_t K,
                               bool trans_b);
// dW[e] (+)= dy[rows of e]^T x[rows of e]: dw [E, N, K], dy [S, N], x [S, K].
void moe_matmul_weight(std::vector<double>& dw, const std::vector<float>& dy,
                       const std::vector<float>& x, const std::vector<int32_t>& offsets, size_t N,
                       size_t K);

// load_balancing_loss_func for `layers` layers' logits ([T, E] each) and their choices, with an
// attention mask [T] shared by the layers (empty: none, 0: padding).
double moe_aux_loss(const std::vector<std::vector<float>>& logits,
                    const std::vector<std::vector<int32_t>>& ids, size_t T, size_t E, size_t k,
                    double coefficient, const std::vector<int32_t>& mask = {});
// Its gradient for one layer's logits (`layer`), added into dlogits [T, E].
void moe_aux_loss_backward(std::vector<double>& dlogits,
                           const std::vector<std::vector<float>>& logits,
                           const std::vector<std::vector<int32_t>>& ids, size_t layer, size_t T,
                           size_t E, size_t k, double coefficient,
                           const std::vector<int32_t>& mask = {});

// PEFT's ParamWrapper on one expert weight w [E, out, in], in PEFT's layouts: lora_A [E r, in],
// lora_B [out, r E], and the merged weight w[e] + s B_e A_e as its get_delta_weight forms it
// (einsum "o r e, e r i -> e o i" of lora_B as [out, r, E] and lora_A as [E, r, in]). Where the
// experts module is_transposed (transformers 5's GptOssExperts: x @ W), w is [E, in, out] and
// the delta "o r e, e r i -> e i o".
struct ExpertLora {
  size_t rank = 0;
  double scale = 1.0;
  std::vector<float> a, b;
};
std::vector<float> expert_lora_merged(const std::vector<float>& w, const ExpertLora& lora,
                                      size_t E, size_t out, size_t in,
                                      bool is_transposed = false);
// dA and dB (PEFT's layouts, written) from the merged weight's gradient dw [E, out, in].
void expert_lora_gradients(std::vector<double>& da, std::vector<double>& db,
                           const std::vector<double>& dw, const ExpertLora& lora, size_t E,
                           size_t out, size_t in);

// One MoE feed-forward block (ops/moe.hpp) token by token, expert by expert, as transformers'
// experts loop computes it: x [T, C], router [E, C], router_bias [E] (empty: none),
// gate_up [E, 2F, C], down [E, C, F].
struct MoeBlock {
  size_t T, C, F, E, k;
  ops::MoeRouter router;
  ops::GluActivation activation = ops::GluActivation::silu;
  std::vector<float> router_weight, router_bias, gate_up, down;
  std::vector<float> gate_up_bias, down_bias;  // [E, 2F] and [E, C], or empty
  bool clamped_swiglu = false;                 // gpt-oss's (ops/moe_swiglu.hpp)
  double swiglu_alpha = 1.702, swiglu_limit = 7.0;  // its gain and clamp
  double aux_coefficient = 0.0;  // this one layer's load-balancing loss, times this (0: none)
  ExpertLora gate_up_lora, down_lora;  // rank 0: not adapted; else run on the merged weights
  std::vector<int32_t> chosen;  // [T, k] experts held still (moe_router_forward), or empty
};
struct MoeBlockGradients {
  std::vector<double> dx, router, router_bias, gate_up, down, gate_up_bias, down_bias;
  std::vector<double> gate_up_lora_a, gate_up_lora_b, down_lora_a, down_lora_b;  // adapted only
};
std::vector<double> moe_block_forward(const MoeBlock& block, const std::vector<float>& x);
// The router's logits x Wr^T + br [T, E], rounded to f32 as the device keeps them.
std::vector<float> moe_block_logits(const MoeBlock& block, const std::vector<float>& x);
// Gradients for dy and, where aux_coefficient is set, of the load-balancing loss (written).
// dlogits [T, E] (or empty): a gradient of the router's logits from elsewhere (a model's
// load-balancing loss over all its layers), added before it flows into the router and x.
MoeBlockGradients moe_block_backward(const MoeBlock& block, const std::vector<float>& x,
                                     const std::vector<float>& dy,
                                     const std::vector<double>& dlogits = {});

// Router logits [T, E] for finite differences: each row a shuffled ladder of steps 0.2 plus
// noise below 0.05, so a step below 0.05 of one logit never changes which experts are chosen.
std::vector<float> moe_ladder_logits(size_t T, size_t E, uint32_t seed);

}  // namespace vktrain::reference
