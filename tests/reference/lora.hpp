#pragma once
// Reference of the LoRA linear layer (ops/lora.hpp) in double, plain loops, with the kernels' own
// dropout mask (ops::dropout_keeps): y = x W^T + bias + s * (dropout(x) A^T) B^T.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace vktrain::reference {

struct LinearShape {
  size_t rows, in, out;  // N, I, O
  size_t rank = 0;       // R; 0: no adapter
};

// Row-major host copies of the layer's tensors; bias, lora_a and lora_b empty when absent.
struct LinearValues {
  std::vector<float> weight;  // [O, I]
  std::vector<float> bias;    // [O]
  std::vector<float> lora_a;  // [R, I]
  std::vector<float> lora_b;  // [O, R]
};

struct LoraSettings {
  double scale = 1;
  float dropout = 0;  // P(drop)
  uint32_t salt = 0;
  int32_t seed = 0;
};

// out[i] = keep(i) ? in[i] / (1 - p) : 0
std::vector<double> dropout(const std::vector<float>& in, const LoraSettings& settings);

// y [N, O] and lora_hidden u [N, R] (empty without an adapter).
void linear_forward(std::vector<double>& y, std::vector<double>& lora_hidden,
                    const std::vector<float>& x, const LinearValues& layer,
                    const LinearShape& shape, const LoraSettings& settings);

// The gradients of sum(y * dy), each computed afresh (not added into anything).
struct LinearGradients {
  std::vector<double> x, weight, bias, lora_a, lora_b;
};
void linear_backward(LinearGradients& grads, const std::vector<float>& dy,
                     const std::vector<float>& x, const LinearValues& layer,
                     const LinearShape& shape, const LoraSettings& settings);

}  // namespace vktrain::reference
