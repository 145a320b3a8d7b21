#include "reference/lora.hpp"

#include "ops/dropout.hpp"

namespace vktrain::reference {
namespace {

// The mask as a factor: 1 / (1 - p) where kept, 0 where dropped.
std::vector<double> mask(size_t count, const LoraSettings& s) {
  std::vector<double> m(count, 1.0);
  if (s.dropout == 0) return m;
  for (size_t i = 0; i < count; ++i)
    m[i] = ops::dropout_keeps(s.seed, s.salt, i, s.dropout) ? 1.0 / (1.0 - double(s.dropout)) : 0.0;
  return m;
}

}  // namespace

std::vector<double> dropout(const std::vector<float>& in, const LoraSettings& settings) {
  std::vector<double> out = mask(in.size(), settings);
  for (size_t i = 0; i < in.size(); ++i) out[i] *= in[i];
  return out;
}

void linear_forward(std::vector<double>& y, std::vector<double>& lora_hidden,
                    const std::vector<float>& x, const LinearValues& layer,
                    const LinearShape& d, const LoraSettings& settings) {
  y.assign(d.rows * d.out, 0.0);
  lora_hidden.assign(d.rows * d.rank, 0.0);
  std::vector<double> dropped = dropout(x, settings);
  for (size_t n = 0; n < d.rows; ++n) {
    for (size_t r = 0; r < d.rank; ++r) {
      double u = 0;
      for (size_t i = 0; i < d.in; ++i) u += dropped[n * d.in + i] * layer.lora_a[r * d.in + i];
      lora_hidden[n * d.rank + r] = u;
    }
    for (size_t o = 0; o < d.out; ++o) {
      double acc = layer.bias.empty() ? 0.0 : layer.bias[o];
      for (size_t i = 0; i < d.in; ++i) acc += double(x[n * d.in + i]) * layer.weight[o * d.in + i];
      double adapter = 0;
      for (size_t r = 0; r < d.rank; ++r)
        adapter += lora_hidden[n * d.rank + r] * layer.lora_b[o * d.rank + r];
      y[n * d.out + o] = acc + settings.scale * adapter;
    }
  }
}

void linear_backward(LinearGradients& g, const std::vector<float>& dy,
                     const std::vector<float>& x, const LinearValues& layer,
                     const LinearShape& d, const LoraSettings& settings) {
  std::vector<double> y, u;
  linear_forward(y, u, x, layer, d, settings);
  std::vector<double> factor = mask(x.size(), settings), dropped = dropout(x, settings);
  g.x.assign(d.rows * d.in, 0.0);
  g.weight.assign(d.out * d.in, 0.0);
  g.bias.assign(d.out, 0.0);
  g.lora_a.assign(d.rank * d.in, 0.0);
  g.lora_b.assign(d.out * d.rank, 0.0);
  std::vector<double> du(d.rank);
  for (size_t n = 0; n < d.rows; ++n) {
    for (size_t r = 0; r < d.rank; ++r) {  // du = s dy B
      du[r] = 0;
      for (size_t o = 0; o < d.out; ++o)
        du[r] += double(dy[n * d.out + o]) * layer.lora_b[o * d.rank + r];
      du[r] *= settings.scale;
    }
    for (size_t o = 0; o < d.out; ++o) {
      double g_y = dy[n * d.out + o];
      g.bias[o] += g_y;
      for (size_t i = 0; i < d.in; ++i) g.weight[o * d.in + i] += g_y * x[n * d.in + i];
      for (size_t r = 0; r < d.rank; ++r)
        g.lora_b[o * d.rank + r] += settings.scale * g_y * u[n * d.rank + r];
    }
    for (size_t i = 0; i < d.in; ++i) {
      double base = 0, adapter = 0;
      for (size_t o = 0; o < d.out; ++o)
        base += double(dy[n * d.out + o]) * layer.weight[o * d.in + i];
      for (size_t r = 0; r < d.rank; ++r) {
        adapter += du[r] * layer.lora_a[r * d.in + i];
        g.lora_a[r * d.in + i] += du[r] * dropped[n * d.in + i];
      }
      g.x[n * d.in + i] = base + factor[n * d.in + i] * adapter;
    }
  }
}

}  // namespace vktrain::reference
