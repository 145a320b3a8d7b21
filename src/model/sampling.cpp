#include "model/sampling.hpp"

#include <algorithm>
#include <cmath>

#include "base/error.hpp"

namespace vktrain::model {

void check_sampling_options(const SamplingOptions& o) {
  if (!(o.temperature >= 0) || !std::isfinite(o.temperature))
    fail("[generate] --temp {} must be 0 (greedy) or positive", o.temperature);
  if (o.top_k < 0) fail("[generate] --top-k {} must be 0 (off) or positive", o.top_k);
  if (!(o.top_p > 0 && o.top_p <= 1))
    fail("[generate] --top-p {} must be in (0, 1] (1: off)", o.top_p);
  if (!(o.min_p >= 0 && o.min_p <= 1))
    fail("[generate] --min-p {} must be in [0, 1] (0: off)", o.min_p);
}

std::vector<Candidate> candidates(std::span<const float> logits, const SamplingOptions& o) {
  if (logits.empty()) fail("[generate] no logits to sample from");
  std::vector<int32_t> order(logits.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = int32_t(i);
  // Stable: among equal logits the lower id comes first, as argmax picks it.
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return logits[size_t(a)] > logits[size_t(b)]; });
  if (o.temperature == 0) return {{order[0], 1.0}};

  size_t kept = order.size();
  if (o.top_k > 0 && size_t(o.top_k) < kept) {
    float kth = logits[size_t(order[size_t(o.top_k) - 1])];
    kept = size_t(o.top_k);
    while (kept < order.size() && logits[size_t(order[kept])] == kth) ++kept;
  }
  // Softmax of the scaled survivors, in double.
  auto probabilities = [&](size_t n) {
    std::vector<double> p(n);
    double top = double(logits[size_t(order[0])]) / o.temperature, sum = 0;
    for (size_t i = 0; i < n; ++i) sum += p[i] = std::exp(double(logits[size_t(order[i])]) / o.temperature - top);
    for (double& x : p) x /= sum;
    return p;
  };
  std::vector<double> p = probabilities(kept);
  if (o.top_p < 1) {
    double cumulative = 0;
    size_t n = 0;
    while (n < kept && cumulative < o.top_p) cumulative += p[n++];
    kept = std::max<size_t>(n, 1);
  }
  if (o.min_p > 0) {
    double floor = o.min_p * p[0];  // relative to the most likely: renormalising keeps it
    size_t n = 1;
    while (n < kept && p[n] >= floor) ++n;
    kept = n;
  }
  p = probabilities(kept);
  std::vector<Candidate> out;
  for (size_t i = 0; i < kept; ++i) out.push_back({order[i], p[i]});
  return out;
}

Sampler::Sampler(const SamplingOptions& options) : options_(options), random_(options.seed) {
  check_sampling_options(options);
}

int32_t Sampler::next(std::span<const float> logits) {
  std::vector<Candidate> c = candidates(logits, options_);
  if (c.size() == 1) return c[0].token;
  double u = random_.uniform(), cumulative = 0;  // u in (0, 1]
  for (const Candidate& candidate : c) {
    cumulative += candidate.probability;
    if (u <= cumulative) return candidate.token;
  }
  return c.back().token;  // u within rounding of 1
}

size_t find_stop(std::string_view text, const std::vector<std::string>& stops) {
  size_t first = std::string_view::npos;
  for (const std::string& s : stops)
    if (!s.empty()) first = std::min(first, text.find(s));
  return first;
}

size_t pending_stop_prefix(std::string_view text, const std::vector<std::string>& stops) {
  size_t longest = 0;
  for (const std::string& s : stops)
    for (size_t n = std::min(s.size() - (s.empty() ? 0 : 1), text.size()); n > longest; --n)
      if (text.substr(text.size() - n) == std::string_view(s).substr(0, n)) {
        longest = n;
        break;
      }
  return longest;
}

}  // namespace vktrain::model
