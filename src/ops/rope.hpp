#pragma once
// Rotary position embedding in the Hugging Face "rotate half" layout. For one head x [D] of a
// token at position p and i < D/2, with angle = p * inv_freq[i] (an f32 product, as transformers
// computes it): y[i] = x[i] cos - x[i + D/2] sin, y[i + D/2] = x[i + D/2] cos + x[i] sin; sin,
// cos and the rotation in f32, y rounded once to its dtype.
//   x, y, dy, dx  [..., H, D]  f32, f16 or bf16 (one dtype); tokens = numel / (H * D)
//   positions     i32, one per token (packed sequences restart at 0)
//   inv_freq      f32 [D / 2]  (rope_inverse_frequencies; a per-layer theta is another table)
#include <cstdint>
#include <string_view>
#include <vector>

#include "ops/gradient_store.hpp"
#include "ops/tensor.hpp"
#include "vk/recorder.hpp"

namespace vktrain::ops {

// A config's rope_scaling, in plain numbers (the model layer reads the config).
enum class RopeScalingType { none, linear, llama3 };  // none: rope_type "default"

struct RopeScaling {
  RopeScalingType type = RopeScalingType::none;
  float factor = 1.0f;                              // linear and llama3
  float low_freq_factor = 1.0f;                     // llama3
  float high_freq_factor = 4.0f;                    // llama3
  float original_max_position_embeddings = 8192.0f;  // llama3
};

// "default", "linear" or "llama3" (rope_type or the older "type"); anything else fails.
RopeScalingType rope_scaling_type_from_name(std::string_view name);

// inv_freq [head_dim / 2] as transformers' _compute_default_rope_parameters computes it
// (1 / theta^(2i / head_dim) in f32, theta rounded to f32 as torch does) and, with scaling,
// _compute_linear_scaling_rope_parameters (inv_freq / factor) or
// _compute_llama3_parameters (the wavelength-based smoothing), operation for operation in f32.
std::vector<float> rope_inverse_frequencies(uint32_t head_dim, double theta,
                                            const RopeScaling& scaling = {});

// y may be x (in place).
void rope_forward(vk::Recorder& rec, Tensor& y, const Tensor& x, const Tensor& positions,
                  const Tensor& inv_freq);
// dx (+)= the inverse rotation of dy, added or written as `store` says; dx must not be dy.
void rope_backward(vk::Recorder& rec, Tensor& dx, const Tensor& dy, const Tensor& positions,
                   const Tensor& inv_freq, GradientStore store = GradientStore::add);

}  // namespace vktrain::ops
