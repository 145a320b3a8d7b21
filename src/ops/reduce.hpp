#pragma once
// Reductions to one f32 value, deterministic (a fixed tree: the same bits on every run).
#include "ops/tensor.hpp"
#include "vk/recorder.hpp"

namespace vktrain::ops {

void sum(vk::Recorder& rec, Tensor& out, const Tensor& in);          // out: f32, 1 element
void sum_squares(vk::Recorder& rec, Tensor& out, const Tensor& in);  // out: f32, 1 element

}  // namespace vktrain::ops
