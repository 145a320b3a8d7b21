#pragma once
// The router's load-balancing loss, as transformers' load_balancing_loss_func computes it over
// the concatenated router logits of every MoE layer (N = T x layers rows):
//   L = coef * E * sum_e (c_e / N) (P_e / N)
// with c_e the times expert e is among a row's top k and P_e the sum of softmax(logits)[e] over
// the rows; coef is router_aux_loss_coef. The selections have no gradient. The statistics are
// summed over the layers first (moe_aux_statistics, once per layer), so the loss is not a sum of
// per-layer losses, exactly as transformers has it. Padding rows are not masked out: this is the
// attention_mask = None branch. Letters: T tokens of one layer, E experts.
#include "ops/gradient_store.hpp"
#include "ops/tensor.hpp"
#include "vk/recorder.hpp"

namespace vktrain::ops {

// stats [2, E] f32 (+)= one layer's c (row 0, from its grouping's offsets [E + 1]) and P (row 1,
// from its router probs [T, E]); `write` for the first layer of a step, `add` for the others.
void moe_aux_statistics(vk::Recorder& rec, Tensor& stats, const Tensor& probs,
                        const Tensor& offsets, GradientStore store);

// loss [1] f32 = L, with N = `rows` (T x the layers summed into stats).
void moe_aux_loss(vk::Recorder& rec, Tensor& loss, const Tensor& stats, uint64_t rows,
                  float coefficient);

// dlogits [T, E] f32 (+)= dL / d logits of one layer (its router logits [T, E]), for dL = 1:
// scale the coefficient to weigh the loss otherwise.
void moe_aux_loss_backward(vk::Recorder& rec, Tensor& dlogits, const Tensor& logits,
                           const Tensor& stats, uint64_t rows, float coefficient,
                           GradientStore store = GradientStore::add);

}  // namespace vktrain::ops
