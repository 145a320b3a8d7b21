#include "reference/moe.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "reference/glu.hpp"
#include "support/support.hpp"

namespace vktrain::reference {
namespace {

std::vector<double> softmax_row(const float* z, size_t n) {
  double zmax = *std::max_element(z, z + n), sum = 0;
  std::vector<double> p(n);
  for (size_t e = 0; e < n; ++e) sum += p[e] = std::exp(double(z[e]) - zmax);
  for (double& x : p) x /= sum;
  return p;
}

// The k largest logits' experts, descending, ties to the lower index (what the op promises;
// torch.topk on these random logits agrees).
std::vector<int32_t> top_k(const float* z, size_t E, size_t k) {
  std::vector<int32_t> order(E);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return z[a] > z[b]; });
  order.resize(k);
  return order;
}

}  // namespace

MoeRouting moe_router_forward(const std::vector<float>& logits, size_t T, size_t E, size_t k,
                              const ops::MoeRouter& router, const std::vector<int32_t>& held) {
  MoeRouting out;
  for (size_t t = 0; t < T; ++t) {
    const float* z = logits.data() + t * E;
    auto p = softmax_row(z, E);
    out.probs.insert(out.probs.end(), p.begin(), p.end());
    auto chosen = held.empty() ? top_k(z, E, k)
                               : std::vector<int32_t>(&held[t * k], &held[(t + 1) * k]);
    std::vector<double> w(k);
    if (router.routing == ops::MoeRouting::softmax_topk) {
      for (size_t j = 0; j < k; ++j) w[j] = p[size_t(chosen[j])];
    } else {
      std::vector<float> top(k);
      for (size_t j = 0; j < k; ++j) top[j] = z[chosen[j]];
      w = softmax_row(top.data(), k);
    }
    if (router.routing == ops::MoeRouting::softmax_topk && router.normalize) {
      double sum = std::accumulate(w.begin(), w.end(), 0.0);
      for (double& x : w) x /= sum;
    }
    out.ids.insert(out.ids.end(), chosen.begin(), chosen.end());
    out.weights.insert(out.weights.end(), w.begin(), w.end());
  }
  return out;
}

void moe_router_backward(std::vector<double>& dlogits, const std::vector<float>& dweights,
                         const std::vector<float>& logits, size_t T, size_t E, size_t k,
                         const ops::MoeRouter& router, const std::vector<int32_t>& chosen) {
  auto routing = moe_router_forward(logits, T, E, k, router, chosen);
  for (size_t t = 0; t < T; ++t) {
    const int32_t* ids = routing.ids.data() + t * k;
    const double* w = routing.weights.data() + t * k;
    const float* dw = dweights.data() + t * k;
    double* dz = dlogits.data() + t * E;
    if (router.routing == ops::MoeRouting::topk_softmax) {
      double dot = 0;
      for (size_t j = 0; j < k; ++j) dot += w[j] * dw[j];
      for (size_t j = 0; j < k; ++j) dz[ids[j]] += w[j] * (dw[j] - dot);
      continue;
    }
    // dp at each probability, then through softmax over all E.
    const double* p = routing.probs.data() + t * E;
    std::vector<double> dp(E, 0.0);
    if (router.normalize) {
      double sum = 0, dot = 0;
      for (size_t j = 0; j < k; ++j) sum += p[ids[j]];
      for (size_t j = 0; j < k; ++j) dot += dw[j] * w[j];
      for (size_t j = 0; j < k; ++j) dp[ids[j]] += (dw[j] - dot) / sum;
    } else {
      for (size_t j = 0; j < k; ++j) dp[ids[j]] += dw[j];
    }
    double dot = 0;
    for (size_t e = 0; e < E; ++e) dot += p[e] * dp[e];
    for (size_t e = 0; e < E; ++e) dz[e] += p[e] * (dp[e] - dot);
  }
}

MoeGrouping moe_group(const std::vector<int32_t>& ids, size_t E) {
  MoeGrouping g;
  g.offsets.assign(E + 1, 0);
  g.positions.assign(ids.size(), 0);
  for (int32_t e : ids)
    if (e >= 0 && size_t(e) < E) ++g.offsets[size_t(e) + 1];
  std::partial_sum(g.offsets.begin(), g.offsets.end(), g.offsets.begin());
  // Valid slots by expert in slot order, then the invalid ones in slot order.
  for (size_t e = 0; e <= E; ++e)
    for (size_t s = 0; s < ids.size(); ++s) {
      bool valid = ids[s] >= 0 && size_t(ids[s]) < E;
      if (valid ? size_t(ids[s]) == e : e == E) {
        g.positions[s] = int32_t(g.rows.size());
        g.rows.push_back(int32_t(s));
      }
    }
  return g;
}

std::vector<double> moe_matmul(const std::vector<float>& x, const std::vector<float>& w,
                               const std::vector<int32_t>& offsets, size_t N, size_t K,
                               bool trans_b) {
  size_t S = x.size() / K, E = offsets.size() - 1;
  std::vector<double> y(S * N, 0.0);
  for (size_t e = 0; e < E; ++e)
    for (size_t p = size_t(offsets[e]); p < size_t(offsets[e + 1]); ++p)
      for (size_t n = 0; n < N; ++n) {
        double sum = 0;
        for (size_t kk = 0; kk < K; ++kk)
          sum += double(x[p * K + kk]) * w[e * N * K + (trans_b ? n * K + kk : kk * N + n)];
        y[p * N + n] = sum;
      }
  return y;
}

void moe_matmul_weight(std::vector<double>& dw, const std::vector<float>& dy,
                       const std::vector<float>& x, const std::vector<int32_t>& offsets, size_t N,
                       size_t K) {
  for (size_t e = 0; e + 1 < offsets.size(); ++e)
    for (size_t p = size_t(offsets[e]); p < size_t(offsets[e + 1]); ++p)
      for (size_t n = 0; n < N; ++n)
        for (size_t kk = 0; kk < K; ++kk)
          dw[(e * N + n) * K + kk] += double(dy[p * N + n]) * x[p * K + kk];
}

namespace {

// transformers' tokens_per_expert summed over the k slots, and router_prob_per_expert, over the
// concatenation of every layer's tokens, masked by the attention mask's (sum(mask * x) /
// sum(mask)); returns that sum(mask), the tokens counted.
double aux_statistics(std::vector<double>& selected, std::vector<double>& prob,
                      const std::vector<std::vector<float>>& logits,
                      const std::vector<std::vector<int32_t>>& ids, size_t T, size_t E, size_t k,
                      const std::vector<int32_t>& mask) {
  selected.assign(E, 0.0);
  prob.assign(E, 0.0);
  auto kept = [&](size_t t) { return mask.empty() || mask[t] != 0; };
  double n = 0;
  for (size_t t = 0; t < T; ++t) n += kept(t) ? double(logits.size()) : 0.0;
  for (size_t l = 0; l < logits.size(); ++l)
    for (size_t t = 0; t < T; ++t) {
      if (!kept(t)) continue;
      auto p = softmax_row(logits[l].data() + t * E, E);
      for (size_t e = 0; e < E; ++e) prob[e] += p[e] / n;
      for (size_t j = 0; j < k; ++j) selected[size_t(ids[l][t * k + j])] += 1.0 / n;
    }
  return n;
}

}  // namespace

double moe_aux_loss(const std::vector<std::vector<float>>& logits,
                    const std::vector<std::vector<int32_t>>& ids, size_t T, size_t E, size_t k,
                    double coefficient, const std::vector<int32_t>& mask) {
  std::vector<double> selected, prob;
  aux_statistics(selected, prob, logits, ids, T, E, k, mask);
  double sum = 0;
  for (size_t e = 0; e < E; ++e) sum += selected[e] * prob[e];
  return coefficient * double(E) * sum;
}

void moe_aux_loss_backward(std::vector<double>& dlogits,
                           const std::vector<std::vector<float>>& logits,
                           const std::vector<std::vector<int32_t>>& ids, size_t layer, size_t T,
                           size_t E, size_t k, double coefficient,
                           const std::vector<int32_t>& mask) {
  std::vector<double> selected, prob;
  double n = aux_statistics(selected, prob, logits, ids, T, E, k, mask);
  for (size_t t = 0; t < T; ++t) {
    if (!mask.empty() && mask[t] == 0) continue;
    auto p = softmax_row(logits[layer].data() + t * E, E);
    // dL/dp_e of this token = coefficient * E * selected_e / n.
    double dot = 0;
    for (size_t e = 0; e < E; ++e) dot += p[e] * selected[e];
    for (size_t e = 0; e < E; ++e)
      dlogits[t * E + e] += coefficient * double(E) / n * p[e] * (selected[e] - dot);
  }
}

namespace {

// The gated unit h(gate, up) and its partial derivatives: SwiGLU / GEGLU, or gpt-oss's clamped
// SwiGLU (torch's clamp passes the gradient at its bounds).
struct Gated {
  double h, dgate, dup;
};
Gated gated_unit(const MoeBlock& b, double gate, double up) {
  if (!b.clamped_swiglu) {
    double a = glu_activation(gate, b.activation);
    return {a * up, up * glu_activation_derivative(gate, b.activation), a};
  }
  const double alpha = b.swiglu_alpha, limit = b.swiglu_limit;
  double g = std::min(gate, limit), u = std::clamp(up, -limit, limit);
  double s = 1.0 / (1.0 + std::exp(-alpha * g));
  return {(u + 1) * g * s, gate <= limit ? (u + 1) * s * (1 + alpha * g * (1 - s)) : 0.0,
          std::fabs(up) <= limit ? g * s : 0.0};
}

// One expert on one token: gate, up, the gated unit h and the output o = Wd h (biases added).
struct ExpertPass {
  std::vector<double> gate, up, h, out;
};

ExpertPass expert_pass(const MoeBlock& b, size_t e, const float* x) {
  ExpertPass p{std::vector<double>(b.F), std::vector<double>(b.F), std::vector<double>(b.F),
               std::vector<double>(b.C, 0.0)};
  const float* w = b.gate_up.data() + e * 2 * b.F * b.C;
  for (size_t f = 0; f < b.F; ++f) {
    double g = 0, u = 0;
    if (!b.gate_up_bias.empty()) {
      g = b.gate_up_bias[e * 2 * b.F + f];
      u = b.gate_up_bias[e * 2 * b.F + b.F + f];
    }
    for (size_t c = 0; c < b.C; ++c) {
      g += double(x[c]) * w[f * b.C + c];
      u += double(x[c]) * w[(b.F + f) * b.C + c];
    }
    p.gate[f] = g;
    p.up[f] = u;
    p.h[f] = gated_unit(b, g, u).h;
  }
  const float* d = b.down.data() + e * b.C * b.F;
  for (size_t c = 0; c < b.C; ++c) {
    if (!b.down_bias.empty()) p.out[c] = b.down_bias[e * b.C + c];
    for (size_t f = 0; f < b.F; ++f) p.out[c] += d[c * b.F + f] * p.h[f];
  }
  return p;
}

bool adapted(const MoeBlock& b) { return b.gate_up_lora.rank || b.down_lora.rank; }

// The block with its experts' adapters merged into their weights.
MoeBlock merged(const MoeBlock& b) {
  MoeBlock m = b;
  if (b.gate_up_lora.rank)
    m.gate_up = expert_lora_merged(b.gate_up, b.gate_up_lora, b.E, 2 * b.F, b.C);
  if (b.down_lora.rank) m.down = expert_lora_merged(b.down, b.down_lora, b.E, b.C, b.F);
  m.gate_up_lora = m.down_lora = {};
  return m;
}

}  // namespace

std::vector<float> moe_block_logits(const MoeBlock& b, const std::vector<float>& x) {
  std::vector<float> z(b.T * b.E);
  for (size_t t = 0; t < b.T; ++t)
    for (size_t e = 0; e < b.E; ++e) {
      double sum = b.router_bias.empty() ? 0.0 : b.router_bias[e];
      for (size_t c = 0; c < b.C; ++c) sum += double(x[t * b.C + c]) * b.router_weight[e * b.C + c];
      z[t * b.E + e] = float(sum);
    }
  return z;
}

std::vector<double> moe_block_forward(const MoeBlock& b, const std::vector<float>& x) {
  if (adapted(b)) return moe_block_forward(merged(b), x);
  auto routing = moe_router_forward(moe_block_logits(b, x), b.T, b.E, b.k, b.router, b.chosen);
  std::vector<double> y(b.T * b.C, 0.0);
  for (size_t t = 0; t < b.T; ++t)
    for (size_t j = 0; j < b.k; ++j) {
      auto pass = expert_pass(b, size_t(routing.ids[t * b.k + j]), x.data() + t * b.C);
      for (size_t c = 0; c < b.C; ++c) y[t * b.C + c] += routing.weights[t * b.k + j] * pass.out[c];
    }
  return y;
}

MoeBlockGradients moe_block_backward(const MoeBlock& b, const std::vector<float>& x,
                                     const std::vector<float>& dy,
                                     const std::vector<double>& dlogits_in) {
  if (adapted(b)) {
    MoeBlockGradients g = moe_block_backward(merged(b), x, dy, dlogits_in);
    if (b.gate_up_lora.rank)
      expert_lora_gradients(g.gate_up_lora_a, g.gate_up_lora_b, g.gate_up, b.gate_up_lora, b.E,
                            2 * b.F, b.C);
    if (b.down_lora.rank)
      expert_lora_gradients(g.down_lora_a, g.down_lora_b, g.down, b.down_lora, b.E, b.C, b.F);
    return g;
  }
  auto logits = moe_block_logits(b, x);
  auto routing = moe_router_forward(logits, b.T, b.E, b.k, b.router, b.chosen);
  MoeBlockGradients g{
      std::vector<double>(b.T * b.C, 0.0),     std::vector<double>(b.E * b.C, 0.0),
      std::vector<double>(b.E, 0.0),           std::vector<double>(b.gate_up.size(), 0.0),
      std::vector<double>(b.down.size(), 0.0), std::vector<double>(b.E * 2 * b.F, 0.0),
      std::vector<double>(b.E * b.C, 0.0)};
  std::vector<float> dweights(b.T * b.k);
  for (size_t t = 0; t < b.T; ++t)
    for (size_t j = 0; j < b.k; ++j) {
      size_t e = size_t(routing.ids[t * b.k + j]);
      double w = routing.weights[t * b.k + j];
      const float* xt = x.data() + t * b.C;
      const float* dyt = dy.data() + t * b.C;
      auto pass = expert_pass(b, e, xt);
      double dw = 0;
      for (size_t c = 0; c < b.C; ++c) dw += double(dyt[c]) * pass.out[c];
      dweights[t * b.k + j] = float(dw);
      const float* d = b.down.data() + e * b.C * b.F;
      const float* gu = b.gate_up.data() + e * 2 * b.F * b.C;
      for (size_t c = 0; c < b.C; ++c) g.down_bias[e * b.C + c] += w * dyt[c];
      for (size_t f = 0; f < b.F; ++f) {
        double dh = 0;
        for (size_t c = 0; c < b.C; ++c) {
          dh += w * dyt[c] * d[c * b.F + f];
          g.down[(e * b.C + c) * b.F + f] += w * dyt[c] * pass.h[f];
        }
        Gated unit = gated_unit(b, pass.gate[f], pass.up[f]);
        double dgate = dh * unit.dgate, dup = dh * unit.dup;
        g.gate_up_bias[e * 2 * b.F + f] += dgate;
        g.gate_up_bias[e * 2 * b.F + b.F + f] += dup;
        for (size_t c = 0; c < b.C; ++c) {
          g.dx[t * b.C + c] += dgate * gu[f * b.C + c] + dup * gu[(b.F + f) * b.C + c];
          g.gate_up[(e * 2 * b.F + f) * b.C + c] += dgate * xt[c];
          g.gate_up[(e * 2 * b.F + b.F + f) * b.C + c] += dup * xt[c];
        }
      }
    }
  std::vector<double> dlogits = dlogits_in;
  dlogits.resize(b.T * b.E, 0.0);
  moe_router_backward(dlogits, dweights, logits, b.T, b.E, b.k, b.router, b.chosen);
  if (b.aux_coefficient != 0.0)
    moe_aux_loss_backward(dlogits, {logits}, {routing.ids}, 0, b.T, b.E, b.k, b.aux_coefficient);
  for (size_t t = 0; t < b.T; ++t)
    for (size_t e = 0; e < b.E; ++e) {
      double dz = dlogits[t * b.E + e];
      g.router_bias[e] += dz;
      for (size_t c = 0; c < b.C; ++c) {
        g.dx[t * b.C + c] += dz * b.router_weight[e * b.C + c];
        g.router[e * b.C + c] += dz * x[t * b.C + c];
      }
    }
  return g;
}

std::vector<float> expert_lora_merged(const std::vector<float>& w, const ExpertLora& lora,
                                      size_t E, size_t out, size_t in, bool is_transposed) {
  std::vector<float> merged(w.size());
  const size_t r = lora.rank;
  for (size_t e = 0; e < E; ++e)
    for (size_t o = 0; o < out; ++o)
      for (size_t i = 0; i < in; ++i) {
        double delta = 0;
        for (size_t j = 0; j < r; ++j)
          delta += double(lora.b[o * r * E + j * E + e]) * lora.a[(e * r + j) * in + i];
        size_t at = is_transposed ? (e * in + i) * out + o : (e * out + o) * in + i;
        merged[at] = float(w[at] + lora.scale * delta);
      }
  return merged;
}

void expert_lora_gradients(std::vector<double>& da, std::vector<double>& db,
                           const std::vector<double>& dw, const ExpertLora& lora, size_t E,
                           size_t out, size_t in) {
  const size_t r = lora.rank;
  da.assign(lora.a.size(), 0.0);
  db.assign(lora.b.size(), 0.0);
  for (size_t e = 0; e < E; ++e)
    for (size_t o = 0; o < out; ++o)
      for (size_t i = 0; i < in; ++i) {
        double g = lora.scale * dw[(e * out + o) * in + i];
        for (size_t j = 0; j < r; ++j) {
          da[(e * r + j) * in + i] += g * lora.b[o * r * E + j * E + e];
          db[o * r * E + j * E + e] += g * lora.a[(e * r + j) * in + i];
        }
      }
}

std::vector<float> moe_ladder_logits(size_t T, size_t E, uint32_t seed) {
  auto noise = test::random_values(T * E, seed, DType::f32, 0.05f);
  auto order = test::random_values(T * E, seed + 1000);
  std::vector<float> z(T * E);
  for (size_t t = 0; t < T; ++t)
    for (size_t e = 0; e < E; ++e) {
      size_t rank = 0;
      for (size_t i = 0; i < E; ++i) rank += order[t * E + i] < order[t * E + e];
      z[t * E + e] = 0.2f * float(rank) + noise[t * E + e];
    }
  return z;
}

}  // namespace vktrain::reference
