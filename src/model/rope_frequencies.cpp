#include "model/rope_frequencies.hpp"

#include "arch/family.hpp"

namespace vktrain::model {

ops::RopeScaling rope_scaling_for_ops(const io::RopeScaling& s) {
  return {ops::rope_scaling_type_from_name(s.type), float(s.factor), float(s.low_freq_factor),
          float(s.high_freq_factor), float(s.original_max_position_embeddings)};
}

bool uses_local_rope(const io::ModelConfig& c, int64_t layer) {
  return arch::describe(c.family).local_rope && c.sliding_layers.at(size_t(layer));
}

std::vector<float> layer_inverse_frequencies(const io::ModelConfig& c, int64_t layer) {
  return uses_local_rope(c, layer)
             ? ops::rope_inverse_frequencies(uint32_t(c.head_dim), c.rope_local_theta)
             : ops::rope_inverse_frequencies(uint32_t(c.head_dim), c.rope_theta,
                                             rope_scaling_for_ops(c.rope_scaling));
}

}  // namespace vktrain::model
