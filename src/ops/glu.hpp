#pragma once
// The gated unit of a SwiGLU / GEGLU feed-forward layer: h = act(gate) * up, element-wise.
// gate, up, h: [N, F] (any shape, all the same), f32, f16 or bf16 (one dtype), math in f32.
#include "ops/gradient_store.hpp"
#include "ops/tensor.hpp"
#include "vk/recorder.hpp"

namespace vktrain::ops {

enum class GluActivation {
  silu,       // SwiGLU (Llama, Qwen)
  gelu_tanh,  // GEGLU with transformers' gelu_pytorch_tanh: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
};

void glu_forward(vk::Recorder& rec, Tensor& h, const Tensor& gate, const Tensor& up,
                 GluActivation activation);
// dgate (+)= dh * up * act'(gate), dup (+)= dh * act(gate), both added or both written as
// `store` says. Gradients have the dtype of the activations.
void glu_backward(vk::Recorder& rec, Tensor& dgate, Tensor& dup, const Tensor& dh,
                  const Tensor& gate, const Tensor& up, GluActivation activation,
                  GradientStore store = GradientStore::add);

}  // namespace vktrain::ops
