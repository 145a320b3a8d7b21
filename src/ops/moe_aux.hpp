#pragma once
// The router's load-balancing loss, as transformers' load_balancing_loss_func computes it over
// the concatenated router logits of every MoE layer:
//   L = coef * E * sum_e (c_e / N) (P_e / N)
// with c_e the times expert e is among a token's top k and P_e the sum of softmax(logits)[e],
// over the N tokens of all layers that the attention mask keeps (every token without a mask);
// coef is router_aux_loss_coef. The selections have no gradient. The statistics are summed over
// the layers first (moe_aux_statistics, once per layer), so the loss is not a sum of per-layer
// losses, exactly as transformers has it; N is counted on the device, so a recorded step stays
// right whatever its batch's padding. Letters: T tokens of one layer, E experts, k per token.
#include "ops/gradient_store.hpp"
#include "ops/tensor.hpp"
#include "vk/recorder.hpp"

namespace vktrain::ops {

// stats [2, E + 1] f32 (+)= one layer's statistics (row 0: c_e, then N at column E; row 1: P_e)
// from its router probs [T, E] and ids [T, k]; token_mask: i32 [T], 0 for padding (null: every
// token). `write` for the first layer of a step, `add` for the others.
void moe_aux_statistics(vk::Recorder& rec, Tensor& stats, const Tensor& probs, const Tensor& ids,
                        const Tensor* token_mask, GradientStore store);

// loss [1] f32 (+)= L (0 where no token was counted), over divisor[0] (f32 [1]) where given, and
// nothing where that is 0: a training step adds its share of L into a loss summed over targets,
// which it multiplies by 1 / targets later (its divisor).
void moe_aux_loss(vk::Recorder& rec, Tensor& loss, const Tensor& stats, float coefficient,
                  const Tensor* divisor = nullptr, GradientStore store = GradientStore::write);

// dlogits [T, E] f32 (+)= dL / d logits of one layer (its router logits [T, E]) for dL = 1:
// scale the coefficient to weigh the loss otherwise. Masked tokens get none.
void moe_aux_loss_backward(vk::Recorder& rec, Tensor& dlogits, const Tensor& logits,
                           const Tensor& stats, float coefficient,
                           const Tensor* token_mask = nullptr,
                           GradientStore store = GradientStore::add);

}  // namespace vktrain::ops
