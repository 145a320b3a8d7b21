// The K-quants Q2_K, Q3_K, Q4_K, Q5_K and Q6_K: 256-value super-blocks of 16- or 32-value
// sub-blocks, each sub-block with its own quantized scale (and min) under the block's f16 d
// (and dmin). The encoders are llama.cpp's reference searches without an importance matrix
// (what llama-quantize runs when given none), step for step in f32 so that the blocks match
// its bytes: a per-sub-block fit (fit_offset_scale for the offset types, fit_centred_scale and
// fit_ternary_scale for the centred ones), the sub-block scales quantized against the largest,
// and the codes rounded once more against the scales as the decoder will form them.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/dtype.hpp"
#include "io/quant_codecs.hpp"

namespace vktrain::io::codec {
namespace {

constexpr float kTinyGroup = 1e-15f;  // ggml's GROUP_MAX_EPS: a smaller group is all zero

// ggml's make_qkx2_quants: x ~ scale * L - min with L in 0..top and min >= 0, weighted by w.
// Starts from the range's even grid, then tries `steps` + 1 grids of top + start + i * delta
// steps over the range and keeps the least-squares refit with the smallest weighted error
// (absolute error when `absolute`). Returns the scale; `min` gets the (non-negative) min.
float fit_offset_scale(int n, int top, const float* x, const float* w, uint8_t* L, float& min,
                       float start, float delta, int steps, bool absolute) {
  float lo = x[0], hi = x[0], sum_w = w[0], sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < lo) lo = x[i];
    if (x[i] > hi) hi = x[i];
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  if (lo > 0) lo = 0;
  if (hi == lo) {
    std::fill(L, L + n, 0);
    min = -lo;
    return 0.f;
  }
  auto error = [&](float scale, float offset, const uint8_t* levels) {
    float e = 0;
    for (int i = 0; i < n; ++i) {
      float diff = scale * levels[i] + offset - x[i];
      diff = absolute ? std::fabs(diff) : diff * diff;
      e += w[i] * diff;
    }
    return e;
  };
  float inverse = top / (hi - lo), scale = 1 / inverse;
  for (int i = 0; i < n; ++i) L[i] = uint8_t(std::clamp(nearest(inverse * (x[i] - lo)), 0, top));
  float best = error(scale, lo, L);
  uint8_t trial[32];
  for (int step = 0; step <= steps; ++step) {
    inverse = (start + delta * step + top) / (hi - lo);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::clamp(nearest(inverse * (x[i] - lo)), 0, top);
      trial[i] = uint8_t(l);
      sum_l += w[i] * l;
      sum_l2 += w[i] * l * l;
      sum_xl += w[i] * l * x[i];
    }
    const float det = sum_w * sum_l2 - sum_l * sum_l;
    if (!(det > 0)) continue;
    float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
    float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
    if (this_min > 0) {
      this_min = 0;
      this_scale = sum_xl / sum_l2;
    }
    const float e = error(this_scale, this_min, trial);
    if (e < best) {
      std::copy(trial, trial + n, L);
      best = e;
      scale = this_scale;
      lo = this_min;
    }
  }
  min = -lo;
  return scale;
}

// ggml's make_qx_quants with rmse_type 1 (weights x^2): codes L in 0..2 top - 1 for
// x ~ scale * (L - top). The value of largest magnitude anchors the grid at -top; nineteen grids
// around it are tried and the best weighted least-squares scale kept.
float fit_centred_scale(int n, int top, const float* x, uint8_t* L) {
  const float extreme = largest_magnitude(x, n);
  if (std::fabs(extreme) < kTinyGroup) {
    std::fill(L, L + n, 0);
    return 0.f;
  }
  auto code = [&](float inverse, int i) {
    return std::clamp(nearest(inverse * x[i]), -top, top - 1);
  };
  float inverse = -top / extreme, sum_lx = 0, sum_l2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = code(inverse, i);
    L[i] = uint8_t(l + top);
    const float w = x[i] * x[i];
    sum_lx += w * x[i] * l;
    sum_l2 += w * l * l;
  }
  float scale = sum_l2 ? sum_lx / sum_l2 : 0.0f, best = scale * sum_lx;
  for (int step = -9; step <= 9; ++step) {
    if (step == 0) continue;
    inverse = -(top + 0.1f * step) / extreme;
    sum_lx = sum_l2 = 0;
    for (int i = 0; i < n; ++i) {
      const int l = code(inverse, i);
      const float w = x[i] * x[i];
      sum_lx += w * x[i] * l;
      sum_l2 += w * l * l;
    }
    if (sum_l2 > 0 && sum_lx * sum_lx > best * sum_l2) {
      for (int i = 0; i < n; ++i) L[i] = uint8_t(code(inverse, i) + top);
      scale = sum_lx / sum_l2;
      best = scale * sum_lx;
    }
  }
  return scale;
}

// ggml's make_q3_quants with its rmse refinement: codes in -4..3 (stored + 4), then up to five
// passes that move single codes wherever that raises the x^2-weighted fit.
float fit_ternary_scale(const float* x, uint8_t* L) {
  constexpr int n = 16, top = 4;
  const float extreme = largest_magnitude(x, n);
  if (std::fabs(extreme) < kTinyGroup) {
    std::fill(L, L + n, 0);
    return 0.f;
  }
  const float inverse = -top / extreme;
  int l[n];
  float sum_lx = 0, sum_l2 = 0;
  for (int i = 0; i < n; ++i) {
    l[i] = std::clamp(nearest(inverse * x[i]), -top, top - 1);
    const float w = x[i] * x[i];
    sum_lx += w * x[i] * l[i];
    sum_l2 += w * l[i] * l[i];
  }
  for (int pass = 0; pass < 5; ++pass) {
    int changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      float slx = sum_lx - w * x[i] * l[i];
      if (!(slx > 0)) continue;
      float sl2 = sum_l2 - w * l[i] * l[i];
      const int candidate = std::clamp(nearest(x[i] * sl2 / slx), -top, top - 1);
      if (candidate == l[i]) continue;
      slx += w * x[i] * candidate;
      sl2 += w * candidate * candidate;
      if (sl2 > 0 && slx * slx * sum_l2 > sum_lx * sum_lx * sl2) {
        l[i] = candidate, sum_lx = slx, sum_l2 = sl2;
        ++changed;
      }
    }
    if (!changed) break;
  }
  for (int i = 0; i < n; ++i) L[i] = uint8_t(l[i] + top);
  return sum_l2 > 0.0f ? sum_lx / sum_l2 : 0.0f;
}

// Sub-block j's 6-bit scale and min in Q4_K/Q5_K's 12 packed bytes: bytes 0..3 hold scales 0..3
// in their low 6 bits, bytes 4..7 mins 0..3; for j >= 4 the low 4 bits come from byte j + 4
// (scale in the low nibble, min in the high one) and the top 2 bits from the top of bytes j - 4
// (scale) and j (min).
void scale_min(int j, const uint8_t* packed, uint8_t& scale, uint8_t& min) {
  if (j < 4) {
    scale = packed[j] & 63;
    min = packed[j + 4] & 63;
  } else {
    scale = uint8_t((packed[j + 4] & 0x0F) | ((packed[j - 4] >> 6) << 4));
    min = uint8_t((packed[j + 4] >> 4) | ((packed[j] >> 6) << 4));
  }
}

// Q3_K's sub-block j (of 16) scale, stored + 32: its low 4 bits are a nibble of bytes 0..7 (low
// nibbles for j < 8), its top 2 bits bits 2 (j / 4) of byte 8 + j % 4.
int q3_scale(const uint8_t* packed, int j) {
  const int low = j < 8 ? packed[j] & 0x0F : packed[j - 8] >> 4;
  return (low | (((packed[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
}

// The 2-bit planes of Q2_K and Q3_K: value 128 h + 32 p + l sits in bits 2 p of qs[32 h + l].
void pack_two_bit_planes(const uint8_t* L, uint8_t* qs) {
  for (int h = 0; h < 2; ++h)
    for (int l = 0; l < 32; ++l) {
      const uint8_t* v = L + 128 * h + l;
      qs[32 * h + l] = uint8_t(v[0] | (v[32] << 2) | (v[64] << 4) | (v[96] << 6));
    }
}

// Q4_K and Q5_K share everything but the code width (4 or 5 bits) and the search grid.
template <typename Block>
void encode_offset_k(const float* x, Block& b, int top, float start, int steps, uint8_t* L) {
  float scales[8], mins[8], max_scale = 0, max_min = 0, weights[32];
  for (int j = 0; j < 8; ++j) {
    const float* v = x + 32 * j;
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += v[l] * v[l];
    const float average = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) weights[l] = average + std::fabs(v[l]);
    scales[j] =
        fit_offset_scale(32, top, v, weights, L + 32 * j, mins[j], start, 0.1f, steps, false);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  const float inverse_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inverse_min = max_min > 0 ? 63.f / max_min : 0.f;
  for (int j = 0; j < 8; ++j) {
    const auto ls = uint8_t(std::min(63, nearest(inverse_scale * scales[j]) & 0xFF));
    const auto lm = uint8_t(std::min(63, nearest(inverse_min * mins[j]) & 0xFF));
    if (j < 4) {
      b.scales[j] = ls;
      b.scales[j + 4] = lm;
    } else {
      b.scales[j + 4] = uint8_t((ls & 0x0F) | ((lm & 0x0F) << 4));
      b.scales[j - 4] |= uint8_t((ls >> 4) << 6);
      b.scales[j] |= uint8_t((lm >> 4) << 6);
    }
  }
  b.d = half_scale(max_scale / 63.f);
  b.dmin = half_scale(max_min / 63.f);
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    scale_min(j, b.scales, sc, m);
    const float d = f16_to_f32(b.d) * sc;
    if (!d) continue;  // the search's codes stay, as in ggml
    const float dm = f16_to_f32(b.dmin) * m;
    for (int i = 0; i < 32; ++i)
      L[32 * j + i] = uint8_t(std::clamp(nearest((x[32 * j + i] + dm) / d), 0, top));
  }
}

// Q4_K and Q5_K: sub-block v / 32 is the low nibble of its chunk's bytes when even, the high
// one when odd; Q5_K adds the fifth bit from qh.
template <typename Block>
void decode_offset_k(const Block& b, float* y) {
  const float d = f16_to_f32(b.d), dmin = f16_to_f32(b.dmin);
  for (int v = 0; v < kSuperBlock; ++v) {
    uint8_t sc, m;
    scale_min(v / 32, b.scales, sc, m);
    int q = (b.qs[32 * (v / 64) + v % 32] >> ((v / 32) % 2 ? 4 : 0)) & 0x0F;
    if constexpr (requires { b.qh; }) q += ((b.qh[v % 32] >> (v / 32)) & 1) * 16;
    y[v] = d * sc * q - dmin * m;
  }
}

}  // namespace

void encode(const float* x, BlockQ2_K& b) {
  uint8_t L[kSuperBlock];
  float scales[16], mins[16], weights[16], max_scale = 0, max_min = 0;
  for (int j = 0; j < 16; ++j) {
    for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
    scales[j] =
        fit_offset_scale(16, 3, x + 16 * j, weights, L + 16 * j, mins[j], -0.5f, 0.1f, 15, true);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  if (max_scale > 0) {
    const float inverse = 15.f / max_scale;
    for (int j = 0; j < 16; ++j) b.scales[j] = uint8_t(nearest(inverse * scales[j]));
    b.d = half_scale(max_scale / 15.f);
  }
  if (max_min > 0) {
    const float inverse = 15.f / max_min;
    for (int j = 0; j < 16; ++j) b.scales[j] |= uint8_t(nearest(inverse * mins[j]) << 4);
    b.dmin = half_scale(max_min / 15.f);
  }
  for (int j = 0; j < 16; ++j) {
    const float d = f16_to_f32(b.d) * (b.scales[j] & 0x0F);
    if (!d) continue;
    const float dm = f16_to_f32(b.dmin) * (b.scales[j] >> 4);
    for (int i = 0; i < 16; ++i)
      L[16 * j + i] = uint8_t(std::clamp(nearest((x[16 * j + i] + dm) / d), 0, 3));
  }
  pack_two_bit_planes(L, b.qs);
}

void encode(const float* x, BlockQ3_K& b) {
  uint8_t L[kSuperBlock];
  float scales[16], max_scale = 0, amax = 0;
  for (int j = 0; j < 16; ++j) {
    scales[j] = fit_ternary_scale(x + 16 * j, L + 16 * j);
    if (std::fabs(scales[j]) > amax) amax = std::fabs(scales[j]), max_scale = scales[j];
  }
  if (max_scale) {
    const float inverse = -32.f / max_scale;
    for (int j = 0; j < 16; ++j) {
      const int l = std::clamp(nearest(inverse * scales[j]), -32, 31) + 32;
      if (j < 8)
        b.scales[j] = uint8_t(l & 0x0F);
      else
        b.scales[j - 8] |= uint8_t((l & 0x0F) << 4);
      b.scales[8 + j % 4] |= uint8_t((l >> 4) << (2 * (j / 4)));
    }
    b.d = half_scale(1 / inverse);
  }
  for (int j = 0; j < 16; ++j) {
    const float d = f16_to_f32(b.d) * q3_scale(b.scales, j);
    if (!d) continue;
    for (int i = 0; i < 16; ++i)
      L[16 * j + i] = uint8_t(std::clamp(nearest(x[16 * j + i] / d), -4, 3) + 4);
  }
  for (int v = 0; v < kSuperBlock; ++v)
    if (L[v] > 3) {
      b.hmask[v % 32] |= uint8_t(1u << (v / 32));
      L[v] -= 4;
    }
  pack_two_bit_planes(L, b.qs);
}

void encode(const float* x, BlockQ4_K& b) {
  uint8_t L[kSuperBlock];
  encode_offset_k(x, b, 15, -1.f, 20, L);
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l)
      b.qs[32 * c + l] = uint8_t(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
}

void encode(const float* x, BlockQ5_K& b) {
  uint8_t L[kSuperBlock];
  encode_offset_k(x, b, 31, -0.5f, 15, L);
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l) {
      const int low = L[64 * c + l], high = L[64 * c + 32 + l];
      b.qs[32 * c + l] = uint8_t((low & 0x0F) | ((high & 0x0F) << 4));
      b.qh[l] |= uint8_t(((low >> 4) << (2 * c)) | ((high >> 4) << (2 * c + 1)));
    }
}

void encode(const float* x, BlockQ6_K& b) {
  uint8_t L[kSuperBlock];
  float scales[16], max_scale = 0, max_abs_scale = 0;
  for (int j = 0; j < 16; ++j) {
    scales[j] = fit_centred_scale(16, 32, x + 16 * j, L + 16 * j);
    if (std::fabs(scales[j]) > max_abs_scale)
      max_abs_scale = std::fabs(scales[j]), max_scale = scales[j];
  }
  if (max_abs_scale < kTinyGroup) return;  // an all-zero block
  const float inverse = -128.f / max_scale;
  b.d = half_scale(1 / inverse);
  for (int j = 0; j < 16; ++j) b.scales[j] = int8_t(std::min(127, nearest(inverse * scales[j])));
  for (int j = 0; j < 16; ++j) {
    const float d = f16_to_f32(b.d) * b.scales[j];
    if (!d) continue;
    for (int i = 0; i < 16; ++i)
      L[16 * j + i] = uint8_t(std::clamp(nearest(x[16 * j + i] / d), -32, 31) + 32);
  }
  for (int h = 0; h < 2; ++h)
    for (int l = 0; l < 32; ++l) {
      const uint8_t* v = L + 128 * h + l;
      b.ql[64 * h + l] = uint8_t((v[0] & 0x0F) | ((v[64] & 0x0F) << 4));
      b.ql[64 * h + l + 32] = uint8_t((v[32] & 0x0F) | ((v[96] & 0x0F) << 4));
      b.qh[32 * h + l] =
          uint8_t((v[0] >> 4) | ((v[32] >> 4) << 2) | ((v[64] >> 4) << 4) | ((v[96] >> 4) << 6));
    }
}

void decode(const BlockQ2_K& b, float* y) {
  const float d = f16_to_f32(b.d), dmin = f16_to_f32(b.dmin);
  for (int v = 0; v < kSuperBlock; ++v) {
    const uint8_t s = b.scales[v / 16];
    const float dl = d * (s & 0x0F), ml = dmin * (s >> 4);
    y[v] = dl * ((b.qs[32 * (v / 128) + v % 32] >> (2 * (v % 128 / 32))) & 3) - ml;
  }
}

void decode(const BlockQ3_K& b, float* y) {
  const float d = f16_to_f32(b.d);
  for (int v = 0; v < kSuperBlock; ++v) {
    const float dl = d * q3_scale(b.scales, v / 16);
    const int low = (b.qs[32 * (v / 128) + v % 32] >> (2 * (v % 128 / 32))) & 3;
    y[v] = dl * (low - ((b.hmask[v % 32] >> (v / 32)) & 1 ? 0 : 4));
  }
}

void decode(const BlockQ4_K& b, float* y) { decode_offset_k(b, y); }
void decode(const BlockQ5_K& b, float* y) { decode_offset_k(b, y); }

void decode(const BlockQ6_K& b, float* y) {
  const float d = f16_to_f32(b.d);
  for (int v = 0; v < kSuperBlock; ++v) {
    const int h = v / 128, p = v % 128 / 32, l = v % 32;
    const int low = (b.ql[64 * h + 32 * (p % 2) + l] >> (p >= 2 ? 4 : 0)) & 0x0F;
    const int q = (low | (((b.qh[32 * h + l] >> (2 * p)) & 3) << 4)) - 32;
    y[v] = d * b.scales[v / 16] * q;
  }
}

}  // namespace vktrain::io::codec
