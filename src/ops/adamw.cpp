#include "ops/adamw.hpp"

#include <cmath>

#include "kernels/adamw_push.h"
#include "ops/dispatch.hpp"

namespace vktrain::ops {
namespace {

void require_f32(const Tensor& t, uint64_t count) {
  if (t.dtype != DType::f32 || t.numel() != count)
    fail("[adamw] {} must be f32 with {} elements", t.describe(), count);
}

}  // namespace

std::array<float, 3> adamw_step_values(double lr, int64_t step, const AdamwOptions& options) {
  if (step < 1) fail("[adamw] steps count from 1, got {}", step);
  double correction1 = 1.0 - std::pow(options.beta1, double(step));
  double correction2 = 1.0 - std::pow(options.beta2, double(step));
  return {float(1.0 - lr * options.weight_decay), float(lr / correction1),
          float(std::sqrt(correction2))};
}

AdamwScalars adamw_scalars(const Tensor& step_values, const Tensor* grad_norm_squared,
                           const AdamwOptions& options) {
  require_f32(step_values, 3);
  if (options.max_grad_norm > 0 && !grad_norm_squared)
    fail("[adamw] clipping to norm {} needs the squared gradient norm", options.max_grad_norm);
  if (grad_norm_squared) require_f32(*grad_norm_squared, 1);
  AdamwScalars scalars;
  Location step_at = locate(step_values, 0);
  scalars.step = step_at.address();
  scalars.reads = {piece_range(step_values, step_at, 3)};
  if (grad_norm_squared && options.max_grad_norm > 0) {
    Location at = locate(*grad_norm_squared, 0);
    scalars.norm_sq = at.address();
    scalars.reads.push_back(piece_range(*grad_norm_squared, at, 1));
  }
  return scalars;
}

void check_adamw_groups(const std::vector<AdamwGroup>& groups, uint64_t total,
                        const Tensor& params) {
  for (const AdamwGroup& group : groups)
    if (group.first + group.count > total)
      fail("[adamw] group [{}, {}) is outside {}", group.first, group.first + group.count,
           params.describe());
}

void adamw_update(vk::Recorder& rec, Tensor& params, Tensor& m, Tensor& v, const Tensor& grads,
                  const Tensor& step_values, const Tensor* grad_norm_squared,
                  const std::vector<AdamwGroup>& groups, const AdamwOptions& options) {
  uint64_t total = params.numel();
  for (const Tensor* t : std::initializer_list<const Tensor*>{&params, &m, &v, &grads})
    require_f32(*t, total);
  const AdamwScalars scalars = adamw_scalars(step_values, grad_norm_squared, options);
  check_adamw_groups(groups, total, params);
  auto& ctx = rec.context();
  VkPipeline p = pipeline(ctx, "adamw");
  for (const AdamwGroup& group : groups) {
    // Cut the group where any arena continues in another span.
    for (uint64_t first = group.first, end = group.first + group.count; first < end;) {
      uint64_t count = std::min(end - first, kMaxDispatchElements);
      std::array<Location, 4> at = {locate(params, first), locate(grads, first), locate(m, first),
                                    locate(v, first)};
      for (const Location& l : at) count = std::min(count, l.contiguous);
      kernels::AdamwPush push{at[0].address(), at[1].address(), at[2].address(),
                              at[3].address(), scalars.step, scalars.norm_sq,
                              uint32_t(count), group.decay && options.weight_decay != 0,
                              float(1.0 - options.beta1), float(options.beta2),
                              float(1.0 - options.beta2), float(options.eps),
                              float(options.max_grad_norm)};
      std::vector<vk::ByteRange> reads = scalars.reads;
      reads.push_back(piece_range(grads, at[1], count));
      std::vector<vk::ByteRange> writes = {piece_range(params, at[0], count),
                                           piece_range(m, at[2], count),
                                           piece_range(v, at[3], count)};
      reads.insert(reads.end(), writes.begin(), writes.end());
      rec.dispatch("adamw", p, &push, sizeof push, stride_groups(ctx, count), 1, 1, reads,
                   writes);
      first += count;
    }
  }
}

}  // namespace vktrain::ops
