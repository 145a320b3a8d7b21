#include "ops/adamw_8bit.hpp"

#include <algorithm>
#include <cmath>

#include "kernels/adamw_8bit_push.h"
#include "ops/dispatch.hpp"

namespace vktrain::ops {
namespace {

void require(const Tensor& t, DType dtype, uint64_t count) {
  if (t.dtype != dtype || t.numel() != count)
    fail("[adamw_8bit] {} must be {} with {} elements", t.describe(), dtype_name(dtype), count);
}

// torch.linspace(start, end, steps) in f32 as torch's CPU kernel forms it: from the start in the
// first half, from the end in the second.
std::vector<float> linspace(float start, float end, int steps) {
  const float step = (end - start) / float(steps - 1);
  std::vector<float> values(size_t(steps), 0.0f);
  for (int i = 0; i < steps; ++i)
    values[size_t(i)] = i < steps / 2 ? start + step * float(i) : end - step * float(steps - i - 1);
  return values;
}

}  // namespace

std::array<float, 256> dynamic_quantization_map(bool is_signed) {
  std::vector<float> data;
  for (int i = 0; i < 7; ++i) {
    const int items = is_signed ? (1 << i) + 1 : (1 << (i + 1)) + 1;
    const std::vector<float> bounds = linspace(0.1f, 1.0f, items);
    const float exponent = float(std::pow(10.0, double(i - 6)));
    for (size_t k = 0; k + 1 < bounds.size(); ++k) {
      const float mean = (bounds[k] + bounds[k + 1]) / 2.0f;
      data.push_back(exponent * mean);
      if (is_signed) data.push_back(-(exponent * mean));
    }
  }
  data.push_back(0.0f);
  data.push_back(1.0f);
  std::sort(data.begin(), data.end());
  std::array<float, 256> map{};
  std::copy(data.begin(), data.end(), map.begin());
  return map;
}

std::vector<float> adamw_8bit_tables() {
  std::vector<float> tables;
  for (bool is_signed : {true, false}) {
    const std::array<float, 256> map = dynamic_quantization_map(is_signed);
    tables.insert(tables.end(), map.begin(), map.end());
    for (size_t i = 0; i + 1 < map.size(); ++i) tables.push_back((map[i] + map[i + 1]) * 0.5f);
    tables.push_back(map.back());
  }
  return tables;
}

void adamw_8bit_update(vk::Recorder& rec, Tensor& params, Adamw8bitState& state,
                       const Tensor& grads, const Tensor& tables, const Tensor& step_values,
                       const Tensor* grad_norm_squared, const std::vector<AdamwGroup>& groups,
                       const AdamwOptions& options) {
  const uint64_t total = params.numel();
  if (total % kAdamw8bitBlock != 0)
    fail("[adamw_8bit] {} must hold whole blocks of {} values", params.describe(),
         kAdamw8bitBlock);
  require(params, DType::f32, total);
  require(grads, DType::f32, total);
  require(state.m_codes, DType::i32, total / 4);
  require(state.v_codes, DType::i32, total / 4);
  require(state.m_absmax, DType::f32, total / kAdamw8bitBlock);
  require(state.v_absmax, DType::f32, total / kAdamw8bitBlock);
  require(tables, DType::f32, 4 * 256);
  const AdamwScalars scalars = adamw_scalars(step_values, grad_norm_squared, options);
  check_adamw_groups(groups, total, params);
  auto& ctx = rec.context();
  VkPipeline pipe = pipeline(ctx, "adamw_8bit");
  const Location tables_at = locate(tables, 0);
  if (tables_at.contiguous < tables.numel())
    fail("[adamw_8bit] {} must lie in one allocation", tables.describe());
  for (const AdamwGroup& group : groups) {
    if (group.first % kAdamw8bitBlock != 0 || group.count % kAdamw8bitBlock != 0)
      fail("[adamw_8bit] group [{}, {}) is not whole blocks of {}", group.first,
           group.first + group.count, kAdamw8bitBlock);
    // Cut the group where any tensor continues in another span (each holds whole rows, so
    // whole blocks of the others).
    for (uint64_t first = group.first, end = group.first + group.count; first < end;) {
      uint64_t count = std::min(end - first, kMaxDispatchElements);
      const std::array<Location, 6> at = {
          locate(params, first),
          locate(grads, first),
          locate(state.m_codes, first / 4),
          locate(state.v_codes, first / 4),
          locate(state.m_absmax, first / kAdamw8bitBlock),
          locate(state.v_absmax, first / kAdamw8bitBlock)};
      const std::array<uint64_t, 6> values_per_element = {1, 1, 4, 4, kAdamw8bitBlock,
                                                          kAdamw8bitBlock};
      for (size_t i = 0; i < at.size(); ++i)
        count = std::min(count, at[i].contiguous * values_per_element[i]);
      count -= count % kAdamw8bitBlock;
      if (count == 0)
        fail("[adamw_8bit] an allocation boundary splits a block at value {}", first);
      const uint64_t blocks = count / kAdamw8bitBlock;
      kernels::Adamw8bitPush push{at[0].address(),      at[1].address(),
                                  at[2].address(),      at[3].address(),
                                  at[4].address(),      at[5].address(),
                                  tables_at.address(),  scalars.step,
                                  scalars.norm_sq,      uint32_t(blocks),
                                  group.decay && options.weight_decay != 0,
                                  float(1.0 - options.beta1), float(options.beta2),
                                  float(1.0 - options.beta2), float(options.eps),
                                  float(options.max_grad_norm)};
      std::vector<vk::ByteRange> reads = scalars.reads;
      reads.push_back(piece_range(grads, at[1], count));
      reads.push_back(piece_range(tables, tables_at, tables.numel()));
      std::vector<vk::ByteRange> writes = {
          piece_range(params, at[0], count),           piece_range(state.m_codes, at[2], count / 4),
          piece_range(state.v_codes, at[3], count / 4), piece_range(state.m_absmax, at[4], blocks),
          piece_range(state.v_absmax, at[5], blocks)};
      reads.insert(reads.end(), writes.begin(), writes.end());
      rec.dispatch("adamw_8bit", pipe, &push, sizeof push,
                   uint32_t(std::min<uint64_t>(blocks, 65535)), 1, 1, reads, writes);
      first += count;
    }
  }
}

}  // namespace vktrain::ops
