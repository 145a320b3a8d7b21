#pragma once
// out[c] (+)= sum over r of in[r, c]: the reduction behind bias and norm-weight gradients.
// Deterministic: a fixed two-level order that depends only on the shape.
#include "ops/tensor.hpp"
#include "vk/recorder.hpp"

namespace vktrain::ops {

// out: f32 with in.cols() elements; in: f32, f16 or bf16, seen as [rows, cols]. With
// `accumulate` the sums are added to out (backward functions add into gradients).
void column_sum(vk::Recorder& rec, Tensor& out, const Tensor& in, bool accumulate);

// The bytes of the partial sums column_sum keeps alive for the recording's life, for an input
// of [rows, cols] in one span (the memory plan asks).
uint64_t column_sum_scratch_bytes(uint64_t rows, uint64_t cols);

}  // namespace vktrain::ops
