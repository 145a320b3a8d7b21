#include "arch/model_config.hpp"

#include <algorithm>
#include <cmath>

namespace vktrain::arch {

double ModelConfig::attention_scale() const {
  double d = query_pre_attn_scalar > 0 ? query_pre_attn_scalar : double(head_dim);
  return 1.0 / std::sqrt(d);
}

bool ModelConfig::moe_layer(int64_t layer) const {
  if (moe.experts <= 0 || moe.sparse_step <= 0) return false;
  if (std::ranges::find(moe.dense_layers, layer) != moe.dense_layers.end()) return false;
  return (layer + 1) % moe.sparse_step == 0;
}

bool ModelConfig::any_moe_layer() const {
  for (int64_t l = 0; l < num_layers; ++l)
    if (moe_layer(l)) return true;
  return false;
}

bool ModelConfig::any_dense_layer() const {
  for (int64_t l = 0; l < num_layers; ++l)
    if (!moe_layer(l)) return true;
  return false;
}

}  // namespace vktrain::arch
