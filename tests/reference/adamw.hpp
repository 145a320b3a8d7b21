#pragma once
// torch.optim.AdamW after torch.nn.utils.clip_grad_norm_, in double.
#include <cstdint>
#include <vector>

namespace vktrain::reference {

struct AdamwSettings {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  double max_grad_norm = 0;  // 0: no clipping
};

// One step (step >= 1) over every element; decay[i] says whether weight decay applies to i.
void adamw(std::vector<double>& params, std::vector<double>& m, std::vector<double>& v,
           const std::vector<float>& grads, const std::vector<bool>& decay, int64_t step,
           const AdamwSettings& s);

}  // namespace vktrain::reference
