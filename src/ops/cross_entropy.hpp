#pragma once
// Cross-entropy fused with the lm_head product (DESIGN.md decision 8): logits = h W^T are made
// one chunk of tokens at a time into an f32 scratch, so the full [N, V] logits never exist.
// h: [N, C] (or [..., C]), W: [V, C], both f32, f16 or bf16 (one dtype); labels: i32, N of them,
// negative = ignored (like transformers' -100). The loss matches transformers' CrossEntropyLoss
// on f32 logits: per token logsumexp - logit[label]; the mean is loss * grad_scale (below). No
// logit softcapping. A label >= V cannot be seen by the kernel; it reads as V - 1.
#include <cstdint>
#include <vector>

#include "ops/gradient_store.hpp"
#include "ops/tensor.hpp"
#include "vk/capabilities.hpp"
#include "vk/recorder.hpp"

namespace vktrain::ops {

struct CrossEntropyOptions {
  // Tokens per chunk. 0: cross_entropy_chunk_rows(); tests set it small to get several chunks.
  uint64_t chunk_tokens = 0;
};
// The f32 logits bytes of one chunk when the options leave it open: 1 GiB on GPUs, where the
// chunk's two products (logits, and dh with K = V) need a thousand rows or more to fill the
// device (H100, bench/RESULTS.md: Qwen3-1.7B's step 209 -> 201 ms from 512 MiB, 200 ms at
// 2 GiB for 0.5 GiB more) and each chunk rereads a trainable lm_head's f32 gradient; 64 MiB on
// CPU drivers.
uint64_t cross_entropy_chunk_bytes(const vk::Capabilities& device);
// Rows of one chunk when the options leave it open: the fewest chunks whose f32 logits stay
// within cross_entropy_chunk_bytes(), with the tokens spread evenly over them and the rows rounded
// up to a multiple of 128 (the matmul's tile) while that stays within the budget, so that no
// chunk is a thin remainder (4096 tokens of V 151,936 in 512 MiB: 5 x 820 rows -> 5 x 896,
// not 4 x 883 + 564).
uint64_t cross_entropy_chunk_rows(uint64_t tokens, uint64_t vocab, const vk::Capabilities& device);

// grad_scale[0] = 1 / (the number of labels >= 0 in all `labels` tensors together): the mean's
// denominator over a whole batch of one or more micro-batches, computed on the device, so a
// recorded step replays with other batches. 0 when every label is ignored. grad_scale: f32 [1].
void cross_entropy_grad_scale(vk::Recorder& rec, Tensor& grad_scale,
                              const std::vector<const Tensor*>& labels);

// Evaluation: loss[0] += the sum of the per-token losses of the non-ignored tokens (f32 [1];
// a fixed summation order, the same bits every run).
void cross_entropy_loss(vk::Recorder& rec, Tensor& loss, const Tensor& h, const Tensor& w,
                        const Tensor& labels, const CrossEntropyOptions& options = {});

// Training: the loss as above, and the gradients of the mean loss: with dlogits = (softmax -
// onehot(label)) * grad_scale[0] (zero rows for ignored tokens, rounded to the activation
// dtype), dh (+)= dlogits W, added or written as `store` says, and, when dw is given (a
// trainable lm_head), dw += dlogits^T h (a parameter gradient: always added). dh: like h; dw:
// f32 [V, C]; grad_scale: f32 [1], from cross_entropy_grad_scale (or any scale: 1 gives the
// gradient of the summed loss).
void cross_entropy_loss_and_grad(vk::Recorder& rec, Tensor& loss, Tensor& dh, Tensor* dw,
                                 const Tensor& h, const Tensor& w, const Tensor& labels,
                                 const Tensor& grad_scale, const CrossEntropyOptions& options = {},
                                 GradientStore store = GradientStore::add);

}  // namespace vktrain::ops
