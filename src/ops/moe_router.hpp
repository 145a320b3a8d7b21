#pragma once
// The router of a mixture-of-experts layer, after its logits: which k experts each token goes to
// and with what weights, as each family defines it. Letters: T tokens, E experts, k experts per
// token. The logits [T, E] f32 come from ops::matmul of the hidden states with the router weight
// [E, C] (and ops::add_bias for gpt-oss's router bias). Ties go to the lower expert index.
#include "ops/gradient_store.hpp"
#include "ops/tensor.hpp"
#include "vk/recorder.hpp"

namespace vktrain::ops {

enum class MoeRouting {
  softmax_topk,  // Qwen3-MoE, Mixtral: softmax over all E, the top k, renormalised if asked
  topk_softmax,  // gpt-oss: the top k logits, softmax over those k
};

struct MoeRouter {
  MoeRouting routing = MoeRouting::softmax_topk;
  // softmax_topk only: divide the k weights by their sum (Qwen3-MoE's norm_topk_prob; Mixtral
  // always does). topk_softmax's weights sum to 1 already.
  bool normalize = true;
};

// ids [T, k] i32 (descending by logit), weights [T, k] f32; probs [T, E] f32 = softmax(logits),
// where not null, for the load-balancing loss (ops/moe_aux.hpp). 1 <= k <= E.
void moe_router_forward(vk::Recorder& rec, Tensor& ids, Tensor& weights, Tensor* probs,
                        const Tensor& logits, const MoeRouter& router);
// dlogits [T, E] f32 (+)= d weights / d logits applied to dweights [T, k] f32; ids are the
// forward's. The choice itself has no gradient.
void moe_router_backward(vk::Recorder& rec, Tensor& dlogits, const Tensor& dweights,
                         const Tensor& logits, const Tensor& ids, const MoeRouter& router,
                         GradientStore store = GradientStore::add);

}  // namespace vktrain::ops
