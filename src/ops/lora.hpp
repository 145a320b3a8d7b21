#pragma once
// The linear layer with an optional LoRA adapter, as PEFT computes it:
//   y = x W^T + bias + s * (dropout(x) A^T) B^T
// composed from ops::matmul, the bias_add kernel and ops::dropout. Letters: N rows (tokens, any
// leading dimensions of x flattened), I in features, O out features, R the LoRA rank. x, y, W, A,
// B, u and every activation gradient share one dtype (f32, f16 or bf16); bias and parameter
// gradients are f32. Without A and B it is the plain linear layer of full fine-tuning.
#include "ops/dropout.hpp"
#include "ops/gradient_store.hpp"
#include "ops/tensor.hpp"
#include "vk/recorder.hpp"

namespace vktrain::ops {

struct Linear {
  const Tensor& weight;              // W [O, I], frozen (LoRA) or trained (full fine-tuning)
  const Tensor* bias = nullptr;      // [O] f32 (Qwen2's q/k/v projections)
  const Tensor* lora_a = nullptr;    // A [R, I]: the compute copy of the f32 master
  const Tensor* lora_b = nullptr;    // B [O, R]
};

struct LoraSettings {
  float scale = 1;           // s: alpha / R, or alpha / sqrt(R) for rsLoRA
  DropoutSettings dropout;   // on the adapter's input only, as PEFT's lora_dropout
};

// y [N, O] += bias [O] broadcast over the rows. y: f32, f16 or bf16; bias f32.
void add_bias(vk::Recorder& rec, Tensor& y, const Tensor& bias);

// y [N, O] = x [N, I] W^T + bias + s * u B^T with u = dropout(x) A^T [N, R]. lora_hidden, when
// given, receives u for the backward pass (otherwise the backward recomputes it). With dropout
// probability 0 no mask is drawn and x feeds the adapter directly.
void linear_forward(vk::Recorder& rec, Tensor& y, Tensor* lora_hidden, const Tensor& x,
                    const Linear& layer, const LoraSettings& settings = {});

// The gradients of the backward pass. Each is optional; a null one is neither computed nor
// touched. Parameter gradients are added into (they sum over micro-batches); dx is added into or
// written as linear_backward's `store` says.
struct LinearGradients {
  Tensor* x = nullptr;        // dx [N, I], activation dtype: (+)= dy W + mask(s (dy B) A)
  Tensor* weight = nullptr;   // dW [O, I] f32, full fine-tuning: += dy^T x
  Tensor* bias = nullptr;     // [O] f32: += column sums of dy
  Tensor* lora_a = nullptr;   // dA [R, I] f32: += (s dy B)^T dropout(x)
  Tensor* lora_b = nullptr;   // dB [O, R] f32: += s dy^T u
};

// The backward pass of linear_forward for dy [N, O]. The dropout mask is recomputed from the same
// (seed, salt), so the seed tensor must hold the forward's value. lora_hidden: u from the
// forward, or null to recompute it.
void linear_backward(vk::Recorder& rec, const LinearGradients& grads, const Tensor& dy,
                     const Tensor& x, const Tensor* lora_hidden, const Linear& layer,
                     const LoraSettings& settings = {}, GradientStore store = GradientStore::add);

// The bytes one call on an adapted layer (rank R > 0) keeps alive for the recording's life, for
// x of [rows, in] in `dtype` (the memory plan asks). linear_forward: dropout(x) [N, I] where a
// mask is drawn, and u [N, R] unless lora_hidden receives it. linear_backward with dx and both
// adapter gradients (a training step): dropout(x) where a mask is drawn, u unless lora_hidden
// gives it, and du [N, R].
uint64_t linear_forward_scratch_bytes(DType dtype, uint64_t rows, uint64_t in, uint64_t rank,
                                      bool saves_hidden, bool dropout);
uint64_t linear_backward_scratch_bytes(DType dtype, uint64_t rows, uint64_t in, uint64_t rank,
                                       bool has_hidden, bool dropout);

}  // namespace vktrain::ops
