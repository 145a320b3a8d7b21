#include "arch/model_config.hpp"

#include <cmath>

namespace vktrain::arch {

double ModelConfig::attention_scale() const {
  double d = query_pre_attn_scalar > 0 ? query_pre_attn_scalar : double(head_dim);
  return 1.0 / std::sqrt(d);
}

}  // namespace vktrain::arch
