#include "reference/adamw_8bit.hpp"

#include <algorithm>
#include <cmath>

namespace vktrain::reference {

namespace {

constexpr size_t kBlock = 256;

// The nearest code of x in `map` scaled by absmax, ties to the lower: how many of the midpoints
// between neighbouring codes, each times absmax, lie below x.
uint8_t nearest_code(const std::array<float, 256>& map, float x, float absmax) {
  unsigned code = 0;
  for (size_t i = 0; i + 1 < map.size(); ++i)
    if (x > (map[i] + map[i + 1]) * 0.5f * absmax) ++code;
  return uint8_t(code);
}

}  // namespace

void adamw_8bit(std::vector<float>& params, Adamw8bitState& state,
                const std::vector<float>& grads, const std::vector<bool>& decay,
                const std::array<float, 3>& step_values, float clip, const AdamwSettings& s,
                const std::array<float, 256>& signed_map,
                const std::array<float, 256>& unsigned_map) {
  const float one_minus_beta1 = float(1.0 - s.beta1), beta2 = float(s.beta2),
              one_minus_beta2 = float(1.0 - s.beta2), eps = float(s.eps);
  std::vector<float> m(kBlock), v(kBlock);
  for (size_t block = 0; block * kBlock < params.size(); ++block) {
    float m_absmax = 0, v_absmax = 0;
    for (size_t j = 0; j < kBlock; ++j) {
      const size_t i = block * kBlock + j;
      const float g = grads[i] * clip;
      float mi = signed_map[state.m_codes[i]] * state.m_absmax[block];
      mi = mi + one_minus_beta1 * (g - mi);
      float vi = unsigned_map[state.v_codes[i]] * state.v_absmax[block];
      vi = beta2 * vi + one_minus_beta2 * g * g;
      if (decay[i] && s.weight_decay != 0) params[i] *= step_values[0];
      params[i] -= step_values[1] * mi / (std::sqrt(vi) / step_values[2] + eps);
      m[j] = mi;
      v[j] = vi;
      m_absmax = std::max(m_absmax, std::fabs(mi));
      v_absmax = std::max(v_absmax, vi);
    }
    for (size_t j = 0; j < kBlock; ++j) {
      const size_t i = block * kBlock + j;
      uint8_t code = nearest_code(signed_map, m[j], m_absmax);
      // A negative first moment never rounds to zero or above (bitsandbytes keeps its sign).
      if (m[j] < 0 && signed_map[code] >= 0) --code;
      state.m_codes[i] = code;
      state.v_codes[i] = nearest_code(unsigned_map, v[j], v_absmax);
    }
    state.m_absmax[block] = m_absmax;
    state.v_absmax[block] = v_absmax;
  }
}

}  // namespace vktrain::reference
