#pragma once
// gpt-oss's per-expert biases over rows grouped by expert (ops/moe_group.hpp): the expert that
// owns a row adds its bias. Letters: S grouped rows, E experts, N columns, R >= N bias columns.
#include "ops/gradient_store.hpp"
#include "ops/moe_matmul.hpp"
#include "ops/tensor.hpp"
#include "vk/recorder.hpp"

namespace vktrain::ops {

// y [S, N] += bias [E, R] f32 at columns [band.first, band.first + N) (band.rows: N or 0), for
// the rows of each expert (offsets [E + 1]); rows past offsets[E] are untouched.
void moe_bias_forward(vk::Recorder& rec, Tensor& y, const Tensor& bias, const Tensor& offsets,
                      MoeWeightBand band = {});
// dbias [E, R] f32 (band columns) (+)= the sum of dy [S, N] over each expert's rows, in order.
void moe_bias_backward(vk::Recorder& rec, Tensor& dbias, const Tensor& dy, const Tensor& offsets,
                       MoeWeightBand band = {}, GradientStore store = GradientStore::add);

}  // namespace vktrain::ops
