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
// The f32 logits bytes of one chunk when the options leave it open. On GPUs 256 MiB where the
// lm_head is frozen: the memory of a quantized base's step is tight and the head's products fill
// the device at a few hundred rows (its input gradient dh = dlogits W, K = V, is cut along K:
// matmul's split-K or slabs); 1 GiB where its gradient trains (`head_gradient`), since each chunk
// rereads and rewrites that f32 [V, C] gradient (H100, Qwen3-1.7B: 209 -> 201 ms a step from
// 512 MiB, 200 ms at 2 GiB). 64 MiB on CPU drivers.
uint64_t cross_entropy_chunk_bytes(const vk::Capabilities& device, bool head_gradient);
// Rows of one chunk when the options leave it open: the fewest chunks whose f32 logits stay
// within cross_entropy_chunk_bytes(), the tokens spread evenly over them, and rows on whole
// 128-row tiles (the matmul's) where that computes fewer padding rows: 4096 tokens of V 151,936
// in 256 MiB (441 rows) as 11 chunks of 384 (the last 256), not 10 of 410 that compute 512 each.
uint64_t cross_entropy_chunk_rows(uint64_t tokens, uint64_t vocab, const vk::Capabilities& device,
                                  bool head_gradient);

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
