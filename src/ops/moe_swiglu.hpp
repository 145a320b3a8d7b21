#pragma once
// gpt-oss's clamped SwiGLU (transformers' GptOssExperts._apply_gate) on separate gate and up
// tensors (a loader de-interleaves gpt-oss's gate_up_proj columns): h = (clamp(up, -limit,
// limit) + 1) * g * sigmoid(alpha g), g = min(gate, limit). gate, up, h: one shape, one float
// dtype (f32, f16, bf16), math in f32.
#include "ops/gradient_store.hpp"
#include "ops/tensor.hpp"
#include "vk/recorder.hpp"

namespace vktrain::ops {

struct SwigluClamp {
  float alpha = 1.702f, limit = 7.0f;  // gpt-oss's
};

void moe_swiglu_forward(vk::Recorder& rec, Tensor& h, const Tensor& gate, const Tensor& up,
                        SwigluClamp clamp = {});
// dgate, dup (+)= the gradients for dh; the clamps pass no gradient outside their bounds.
void moe_swiglu_backward(vk::Recorder& rec, Tensor& dgate, Tensor& dup, const Tensor& dh,
                         const Tensor& gate, const Tensor& up, SwigluClamp clamp = {},
                         GradientStore store = GradientStore::add);

}  // namespace vktrain::ops
