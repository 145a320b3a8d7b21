#pragma once
// RMSNorm over the last dimension (C channels): y = x * rstd * (offset + w), rstd = 1 /
// sqrt(mean(x^2) + eps), all in f32 as transformers computes it, y rounded once to its dtype.
// offset 0 is Llama/Qwen (w * x_normed), 1 is Gemma (x_normed * (1 + w)). x may have any shape
// whose last dimension is C, so Qwen3/Gemma-3's per-head q_norm/k_norm is this op on q
// [B, T, H, D] with w [D].
//   x, y, dy, dx  [..., C]  f32, f16 or bf16 (one dtype)
//   w, dw         [C]       f32
//   rstd          rows = x.numel() / C elements, f32
#include "ops/gradient_store.hpp"
#include "ops/tensor.hpp"
#include "vk/recorder.hpp"

namespace vktrain::ops {

struct RmsnormOptions {
  float eps = 1e-6f;     // the config's rms_norm_eps
  float offset = 0.0f;   // 1 for Gemma's (1 + w)
};

// y may be x (in place). rstd may be null (inference: nothing saved for a backward).
void rmsnorm_forward(vk::Recorder& rec, Tensor& y, Tensor* rstd, const Tensor& x, const Tensor& w,
                     const RmsnormOptions& options = {});
// dx (+)= the input's gradient, added or written as `store` says; dw += the weight's (a
// parameter gradient: always added), or null for a frozen weight. rstd is the forward's. dw is
// reduced without atomics: the same bits on every run.
void rmsnorm_backward(vk::Recorder& rec, Tensor& dx, Tensor* dw, const Tensor& dy, const Tensor& x,
                      const Tensor& w, const Tensor& rstd, const RmsnormOptions& options = {},
                      GradientStore store = GradientStore::add);

// The bytes rmsnorm_backward with a weight gradient keeps alive for the recording's life, for x
// of [rows, cols] in one span: the dw partial sums and their column sum's (the memory plan asks).
uint64_t rmsnorm_backward_scratch_bytes(uint64_t rows, uint64_t cols);

}  // namespace vktrain::ops
