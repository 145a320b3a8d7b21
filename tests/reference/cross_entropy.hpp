#pragma once
// Reference of ops/cross_entropy.hpp, in double, with the whole [N, V] logits (tests are small).
#include <cstddef>
#include <cstdint>
#include <vector>

namespace vktrain::reference {

// h [N, C], w [V, C], labels [N] (negative: ignored). losses[t] = logsumexp(logits[t]) -
// logits[t, label] (0 for ignored tokens). When given, adds the gradients of
// grad_scale * sum(losses): dh [N, C] += dlogits w, dw [V, C] += dlogits^T h.
void cross_entropy(std::vector<double>& losses, std::vector<double>* dh, std::vector<double>* dw,
                   const std::vector<float>& h, const std::vector<float>& w,
                   const std::vector<int32_t>& labels, size_t channels, double grad_scale);

}  // namespace vktrain::reference
