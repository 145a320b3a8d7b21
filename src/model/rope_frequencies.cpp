#include "model/rope_frequencies.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "arch/family.hpp"
#include "base/error.hpp"

namespace vktrain::model {

ops::RopeScaling rope_scaling_for_ops(const io::RopeScaling& s) {
  return {ops::rope_scaling_type_from_name(s.type), float(s.factor), float(s.low_freq_factor),
          float(s.high_freq_factor), float(s.original_max_position_embeddings)};
}

bool uses_local_rope(const io::ModelConfig& c, int64_t layer) {
  return arch::describe(c.family).local_rope && c.sliding_layers.at(size_t(layer));
}

namespace {

bool uses_yarn(const io::ModelConfig& c, int64_t layer) {
  return !uses_local_rope(c, layer) && c.rope_scaling.type == "yarn";
}

}  // namespace

std::vector<float> layer_inverse_frequencies(const io::ModelConfig& c, int64_t layer) {
  if (uses_yarn(c, layer))
    return yarn_inverse_frequencies(c.head_dim, c.rope_theta, c.rope_scaling);
  return uses_local_rope(c, layer)
             ? ops::rope_inverse_frequencies(uint32_t(c.head_dim), c.rope_local_theta)
             : ops::rope_inverse_frequencies(uint32_t(c.head_dim), c.rope_theta,
                                             rope_scaling_for_ops(c.rope_scaling));
}

// transformers' _compute_yarn_parameters (modeling_rope_utils.py): each dimension pair blends the
// frequency kept (extrapolation) and the one divided by `factor` (interpolation) by a ramp over
// the dimensions between the correction bounds of beta_fast and beta_slow rotations in the
// original context; the bounds rounded out to whole dimensions unless `truncate` is false.
// Tensor operations round to f32 once each, Python's scalars stay double, as torch computes them.
std::vector<float> yarn_inverse_frequencies(int64_t head_dim, double theta,
                                            const io::RopeScaling& s) {
  // Its bounds divide by ln(theta).
  if (!(theta > 1) || head_dim < 2 || head_dim % 2)
    fail("[rope] yarn scaling needs rope_theta above 1 and an even head_dim, got {} and {}",
         theta, head_dim);
  const double dim = double(head_dim);
  auto correction_dim = [&](double rotations) {
    return dim * std::log(double(s.original_max_position_embeddings) /
                          (rotations * 2 * std::numbers::pi)) /
           (2 * std::log(theta));
  };
  double low = correction_dim(s.beta_fast), high = correction_dim(s.beta_slow);
  if (s.truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  low = std::max(low, 0.0);
  high = std::min(high, dim - 1);
  if (low == high) high += 0.001;  // transformers: "prevent singularity"
  const float base = float(theta), factor = float(s.factor);
  std::vector<float> inv_freq(size_t(head_dim / 2));
  for (size_t i = 0; i < inv_freq.size(); ++i) {
    const float pos_freq = float(std::pow(double(base), double(float(2 * i) / float(dim))));
    const float extrapolation = 1.0f / pos_freq, interpolation = 1.0f / (factor * pos_freq);
    const float ramp = std::clamp((float(i) - float(low)) / float(high - low), 0.0f, 1.0f);
    const float kept = 1.0f - ramp;  // inv_freq_extrapolation_factor
    inv_freq[i] = interpolation * (1.0f - kept) + extrapolation * kept;
  }
  return inv_freq;
}

double yarn_attention_factor(const io::RopeScaling& s) {
  if (s.attention_factor > 0) return s.attention_factor;
  return s.factor <= 1 ? 1.0 : 0.1 * std::log(s.factor) + 1.0;  // get_mscale(factor)
}

double layer_attention_scale(const io::ModelConfig& c, int64_t layer) {
  const double factor = uses_yarn(c, layer) ? yarn_attention_factor(c.rope_scaling) : 1.0;
  return c.attention_scale() * factor * factor;
}

}  // namespace vktrain::model
