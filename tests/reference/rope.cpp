#include "reference/rope.hpp"

#include <cmath>
#include <numbers>

namespace vktrain::reference {
namespace {

// out (+)= x rotated by sign * angle, pair by pair.
void rotate(std::vector<double>& out, const std::vector<float>& x,
            const std::vector<int32_t>& positions, const std::vector<float>& inv_freq,
            size_t heads, double sign, bool accumulate) {
  size_t pairs = inv_freq.size(), dim = 2 * pairs;
  if (out.empty() || !accumulate) out.assign(x.size(), 0.0);
  for (size_t t = 0; t < positions.size(); ++t)
    for (size_t i = 0; i < pairs; ++i) {
      double angle = float(positions[t]) * inv_freq[i];  // the f32 product
      double c = std::cos(angle), s = sign * std::sin(angle);
      for (size_t h = 0; h < heads; ++h) {
        size_t at = (t * heads + h) * dim + i;
        double a = x[at], b = x[at + pairs];
        out[at] += a * c - b * s;
        out[at + pairs] += b * c + a * s;
      }
    }
}

}  // namespace

std::vector<double> rope_inverse_frequencies(size_t dim, double theta) {
  std::vector<double> inv_freq(dim / 2);
  for (size_t i = 0; i < inv_freq.size(); ++i) inv_freq[i] = std::pow(theta, -double(2 * i) / dim);
  return inv_freq;
}

std::vector<double> rope_llama3_scaling(const std::vector<double>& inv_freq, double factor,
                                        double low_freq_factor, double high_freq_factor,
                                        double original_max_position_embeddings) {
  double low_freq_wavelen = original_max_position_embeddings / low_freq_factor;
  double high_freq_wavelen = original_max_position_embeddings / high_freq_factor;
  std::vector<double> out;
  for (double freq : inv_freq) {
    double wavelen = 2 * std::numbers::pi / freq;
    if (wavelen < high_freq_wavelen) {
      out.push_back(freq);
    } else if (wavelen > low_freq_wavelen) {
      out.push_back(freq / factor);
    } else {
      double smooth = (original_max_position_embeddings / wavelen - low_freq_factor) /
                      (high_freq_factor - low_freq_factor);
      out.push_back((1 - smooth) * freq / factor + smooth * freq);
    }
  }
  return out;
}

void rope_forward(std::vector<double>& y, const std::vector<float>& x,
                  const std::vector<int32_t>& positions, const std::vector<float>& inv_freq,
                  size_t heads) {
  rotate(y, x, positions, inv_freq, heads, 1.0, false);
}

void rope_backward(std::vector<double>& dx, const std::vector<float>& dy,
                   const std::vector<int32_t>& positions, const std::vector<float>& inv_freq,
                   size_t heads) {
  rotate(dx, dy, positions, inv_freq, heads, -1.0, true);
}

}  // namespace vktrain::reference
