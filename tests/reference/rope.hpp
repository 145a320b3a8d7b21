#pragma once
// Rotary position embedding ("rotate half") and its frequencies, in double. x: [tokens, heads,
// dim]; angle = positions[t] * inv_freq[i] rounded to f32 (transformers' f32 product), then
// sin and cos in double. Argument order as ops::rope_forward/backward.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace vktrain::reference {

// theta^(-2i / dim) for i < dim / 2.
std::vector<double> rope_inverse_frequencies(size_t dim, double theta);
// Llama 3.1's rope scaling as Meta's apply_scaling writes it: keep the frequencies of
// wavelengths under original / high_freq_factor, divide those over original / low_freq_factor
// by factor, blend linearly in 1 / wavelength between.
std::vector<double> rope_llama3_scaling(const std::vector<double>& inv_freq, double factor,
                                        double low_freq_factor, double high_freq_factor,
                                        double original_max_position_embeddings);

void rope_forward(std::vector<double>& y, const std::vector<float>& x,
                  const std::vector<int32_t>& positions, const std::vector<float>& inv_freq,
                  size_t heads);
// dx += the inverse rotation of dy (dx resized to zeros when empty).
void rope_backward(std::vector<double>& dx, const std::vector<float>& dy,
                   const std::vector<int32_t>& positions, const std::vector<float>& inv_freq,
                   size_t heads);

}  // namespace vktrain::reference
