#include "reference/adamw.hpp"

#include <algorithm>
#include <cmath>

namespace vktrain::reference {

void adamw(std::vector<double>& params, std::vector<double>& m, std::vector<double>& v,
           const std::vector<float>& grads, const std::vector<bool>& decay, int64_t step,
           const AdamwSettings& s) {
  double clip = 1;
  if (s.max_grad_norm > 0) {
    double norm_sq = 0;
    for (float g : grads) norm_sq += double(g) * g;
    clip = std::min(1.0, s.max_grad_norm / (std::sqrt(norm_sq) + 1e-6));
  }
  double correction1 = 1 - std::pow(s.beta1, double(step));
  double correction2 = 1 - std::pow(s.beta2, double(step));
  for (size_t i = 0; i < params.size(); ++i) {
    double g = grads[i] * clip;
    if (decay[i]) params[i] *= 1 - s.lr * s.weight_decay;
    m[i] = s.beta1 * m[i] + (1 - s.beta1) * g;
    v[i] = s.beta2 * v[i] + (1 - s.beta2) * g * g;
    double denom = std::sqrt(v[i]) / std::sqrt(correction2) + s.eps;
    params[i] -= s.lr / correction1 * m[i] / denom;
  }
}

}  // namespace vktrain::reference
