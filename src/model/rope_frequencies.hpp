#pragma once
// Which RoPE table a layer uses: Gemma-3's sliding layers rotate with rope_local_theta and no
// scaling; every other layer (Mistral's sliding ones included) with rope_theta and the config's
// rope_scaling. The table is ops::rope_inverse_frequencies of those, [head_dim / 2] f32.
#include <vector>

#include "io/model_config.hpp"
#include "ops/rope.hpp"

namespace vktrain::model {

ops::RopeScaling rope_scaling_for_ops(const io::RopeScaling& scaling);
bool uses_local_rope(const io::ModelConfig& config, int64_t layer);
std::vector<float> layer_inverse_frequencies(const io::ModelConfig& config, int64_t layer);

}  // namespace vktrain::model
