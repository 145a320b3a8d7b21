#pragma once
// Which RoPE table a layer uses: Gemma-3's sliding layers rotate with rope_local_theta and no
// scaling; every other layer (Mistral's sliding ones included) with rope_theta and the config's
// rope_scaling. The table is ops::rope_inverse_frequencies of those, or yarn_inverse_frequencies,
// [head_dim / 2] f32. YaRN also scales cos and sin by an attention factor, which the attention's
// softmax scale carries squared (q and k are both rotated).
#include <vector>

#include "io/model_config.hpp"
#include "ops/rope.hpp"

namespace vktrain::model {

ops::RopeScaling rope_scaling_for_ops(const io::RopeScaling& scaling);
bool uses_local_rope(const io::ModelConfig& config, int64_t layer);
std::vector<float> layer_inverse_frequencies(const io::ModelConfig& config, int64_t layer);

// transformers' _compute_yarn_parameters: the inverse frequencies and the attention factor
// (attention_factor, else 0.1 ln(factor) + 1, 1 for a factor up to 1).
std::vector<float> yarn_inverse_frequencies(int64_t head_dim, double theta,
                                            const io::RopeScaling& scaling);
double yarn_attention_factor(const io::RopeScaling& scaling);
// The softmax scale of layer `layer`'s attention scores: ModelConfig::attention_scale(), times
// the square of YaRN's attention factor where the layer's RoPE is YaRN's.
double layer_attention_scale(const io::ModelConfig& config, int64_t layer);

}  // namespace vktrain::model
