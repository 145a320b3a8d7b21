#include "reference/attention.hpp"

#include <cmath>
#include <limits>

namespace vktrain::reference {
namespace {

size_t q_index(const AttentionShape& s, uint32_t b, uint32_t t, uint32_t h) {
  return ((size_t(b) * s.T + t) * s.Hq + h) * s.D;
}

size_t kv_index(const AttentionShape& s, uint32_t b, uint32_t t, uint32_t h) {
  return ((size_t(b) * s.T + t) * s.Hkv + h) * s.D;
}

double dot(const float* x, const float* y, uint32_t n) {
  double sum = 0;
  for (uint32_t d = 0; d < n; ++d) sum += double(x[d]) * y[d];
  return sum;
}

// The softmax row of query i (head h): p[j] (0 where masked) and its log-sum-exp, the sink's
// column (s.sinks[h], unscaled, never masked, dropped from p) included.
double probabilities(std::vector<double>& p, const std::vector<float>& q,
                     const std::vector<float>& k, const AttentionShape& s, uint32_t b,
                     uint32_t h, uint32_t i) {
  uint32_t hk = h / (s.Hq / s.Hkv);
  const double sink = s.sinks.empty() ? -std::numeric_limits<double>::infinity() : s.sinks[h];
  double top = sink;
  p.assign(s.T, -std::numeric_limits<double>::infinity());
  for (uint32_t j = 0; j < s.T; ++j) {
    if (!attention_visible(s, b, i, j)) continue;
    p[j] = s.scale * dot(&q[q_index(s, b, i, h)], &k[kv_index(s, b, j, hk)], s.D);
    top = std::max(top, p[j]);
  }
  double sum = std::isinf(sink) ? 0.0 : std::exp(sink - top);
  for (double& x : p) sum += (x = std::isinf(x) ? 0.0 : std::exp(x - top));
  for (double& x : p) x /= sum;
  return top + std::log(sum);
}

}  // namespace

bool attention_visible(const AttentionShape& s, uint32_t b, uint32_t i, uint32_t j) {
  if (s.causal && j > i) return false;
  int64_t distance = int64_t(i) - int64_t(j);
  if (s.window > 0 && (s.causal ? distance : std::abs(distance)) >= s.window) return false;
  return s.documents.empty() || s.documents[size_t(b) * s.T + i] == s.documents[size_t(b) * s.T + j];
}

void attention_forward(std::vector<double>& o, std::vector<double>& lse,
                       const std::vector<float>& q, const std::vector<float>& k,
                       const std::vector<float>& v, const AttentionShape& s) {
  o.assign(size_t(s.B) * s.T * s.Hq * s.D, 0.0);
  lse.assign(size_t(s.B) * s.Hq * s.T, 0.0);
  std::vector<double> p;
  for (uint32_t b = 0; b < s.B; ++b)
    for (uint32_t h = 0; h < s.Hq; ++h)
      for (uint32_t i = 0; i < s.T; ++i) {
        lse[(size_t(b) * s.Hq + h) * s.T + i] = probabilities(p, q, k, s, b, h, i);
        for (uint32_t j = 0; j < s.T; ++j)
          for (uint32_t d = 0; d < s.D; ++d)
            o[q_index(s, b, i, h) + d] += p[j] * v[kv_index(s, b, j, h / (s.Hq / s.Hkv)) + d];
      }
}

void attention_backward(std::vector<double>& dq, std::vector<double>& dk, std::vector<double>& dv,
                        std::vector<double>& dsinks, const std::vector<float>& dout,
                        const std::vector<float>& q, const std::vector<float>& k,
                        const std::vector<float>& v, const AttentionShape& s) {
  dq.assign(q.size(), 0.0);
  dk.assign(k.size(), 0.0);
  dv.assign(v.size(), 0.0);
  dsinks.assign(s.Hq, 0.0);
  std::vector<double> p, dp(s.T);
  for (uint32_t b = 0; b < s.B; ++b)
    for (uint32_t h = 0; h < s.Hq; ++h)
      for (uint32_t i = 0; i < s.T; ++i) {
        uint32_t hk = h / (s.Hq / s.Hkv);
        double lse = probabilities(p, q, k, s, b, h, i);
        const float* g = &dout[q_index(s, b, i, h)];
        double delta = 0;  // sum over j of p dp = dout . o
        for (uint32_t j = 0; j < s.T; ++j) {
          dp[j] = dot(g, &v[kv_index(s, b, j, hk)], s.D);
          delta += p[j] * dp[j];
        }
        // The sink's column has a zero value, so its dp is 0: d loss / d sink = p_sink (0 - delta).
        if (!s.sinks.empty()) dsinks[h] -= std::exp(s.sinks[h] - lse) * delta;
        for (uint32_t j = 0; j < s.T; ++j) {
          if (p[j] == 0) continue;
          double ds = p[j] * (dp[j] - delta) * s.scale;  // d loss / d (q . k)
          size_t at_q = q_index(s, b, i, h), at_k = kv_index(s, b, j, hk);
          for (uint32_t d = 0; d < s.D; ++d) {
            dq[at_q + d] += ds * k[at_k + d];
            dk[at_k + d] += ds * q[at_q + d];
            dv[at_k + d] += p[j] * g[d];
          }
        }
      }
}

void attention_backward(std::vector<double>& dq, std::vector<double>& dk, std::vector<double>& dv,
                        const std::vector<float>& dout, const std::vector<float>& q,
                        const std::vector<float>& k, const std::vector<float>& v,
                        const AttentionShape& s) {
  std::vector<double> dsinks;
  attention_backward(dq, dk, dv, dsinks, dout, q, k, v, s);
}

}  // namespace vktrain::reference
