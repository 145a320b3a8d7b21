#pragma once
// AdamW, fused and in place over flat f32 arenas (parameters, gradients, first and second
// moments share one layout, STYLE.md), with global-norm gradient clipping. Matches
// torch.optim.AdamW followed by torch.nn.utils.clip_grad_norm_.
//
// The learning rate and step enter through three f32 values in a device tensor that the host
// rewrites before every replay of the recorded step (DESIGN.md decision 3); they are computed
// in double on the host as torch computes them: adamw_step_values().
#include <array>
#include <vector>

#include "ops/tensor.hpp"
#include "vk/recorder.hpp"

namespace vktrain::ops {

// Doubles, like torch's Python floats: 1 - beta and the bias corrections are formed in double.
struct AdamwOptions {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0;
  double max_grad_norm = 0;  // 0: no clipping
};

// A range of the arenas (one parameter, or several next to each other) and whether weight
// decay applies to it (not to norms and biases).
struct AdamwGroup {
  uint64_t first = 0, count = 0;
  bool decay = true;
};

// {1 - lr * weight_decay, lr / (1 - beta1^step), sqrt(1 - beta2^step)} for step >= 1: the
// contents of the step-values tensor (f32 [3]) for that step.
std::array<float, 3> adamw_step_values(double lr, int64_t step, const AdamwOptions& options);

// What an AdamW kernel reads besides its arenas, checked: the step values (f32 [3]) and, when
// clipping, the squared gradient norm (f32 [1]; address 0 when not clipping). Shared with
// ops/adamw_8bit.hpp.
struct AdamwScalars {
  uint64_t step = 0, norm_sq = 0;
  std::vector<vk::ByteRange> reads;
};
AdamwScalars adamw_scalars(const Tensor& step_values, const Tensor* grad_norm_squared,
                           const AdamwOptions& options);
// Fails unless every group lies within arenas of `total` elements.
void check_adamw_groups(const std::vector<AdamwGroup>& groups, uint64_t total,
                        const Tensor& params);

// params, m, v += the AdamW update for grads, over every group. grad_norm_squared (f32 [1],
// e.g. from ops::sum_squares over the gradient arena) is required when clipping.
void adamw_update(vk::Recorder& rec, Tensor& params, Tensor& m, Tensor& v, const Tensor& grads,
                  const Tensor& step_values, const Tensor* grad_norm_squared,
                  const std::vector<AdamwGroup>& groups, const AdamwOptions& options);

}  // namespace vktrain::ops
