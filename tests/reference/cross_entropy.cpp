#include "reference/cross_entropy.hpp"

#include <algorithm>
#include <cmath>

namespace vktrain::reference {

void cross_entropy(std::vector<double>& losses, std::vector<double>* dh, std::vector<double>* dw,
                   const std::vector<float>& h, const std::vector<float>& w,
                   const std::vector<int32_t>& labels, size_t channels, double grad_scale) {
  size_t tokens = labels.size(), vocab = w.size() / channels;
  losses.assign(tokens, 0.0);
  std::vector<double> logits(vocab);
  for (size_t t = 0; t < tokens; ++t) {
    if (labels[t] < 0) continue;
    for (size_t v = 0; v < vocab; ++v) {
      double acc = 0;
      for (size_t c = 0; c < channels; ++c) acc += double(h[t * channels + c]) * w[v * channels + c];
      logits[v] = acc;
    }
    double top = *std::max_element(logits.begin(), logits.end()), sum = 0;
    for (double x : logits) sum += std::exp(x - top);
    double lse = top + std::log(sum);
    losses[t] = lse - logits[size_t(labels[t])];
    for (size_t v = 0; v < vocab; ++v) {
      double d = (std::exp(logits[v] - lse) - (v == size_t(labels[t]) ? 1.0 : 0.0)) * grad_scale;
      for (size_t c = 0; c < channels; ++c) {
        if (dh) (*dh)[t * channels + c] += d * w[v * channels + c];
        if (dw) (*dw)[v * channels + c] += d * h[t * channels + c];
      }
    }
  }
}

}  // namespace vktrain::reference
