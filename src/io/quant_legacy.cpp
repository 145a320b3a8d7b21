// The 32-value types Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0. Their reference quantizers are
// deterministic closed forms, so the blocks here equal llama.cpp's byte for byte: the step comes
// from the block's f32 extremes (its f16 rounding is only what is stored), codes are rounded the
// way ggml rounds them (half away from zero for Q8_0, truncation of x + 0.5 for the others), and
// the type with a sign offset (Q4_0, Q5_0) maps the value of largest magnitude to the most
// negative code, so that value is exact.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "base/dtype.hpp"
#include "io/quant_codecs.hpp"

namespace vktrain::io::codec {
namespace {

// ggml's `MIN(top, (int8_t)(v))` for the v >= 0 its encoders form; a NaN or negative v (only
// from non-finite data, refused earlier) maps to 0 rather than to an undefined conversion.
int truncated_code(float v, int top) {
  if (!(v >= 0)) return 0;
  return std::min(top, int(std::min(v, float(top + 1))));
}

void range(const float* x, float& min, float& max) {
  min = FLT_MAX, max = -FLT_MAX;
  for (int j = 0; j < 32; ++j) {
    if (x[j] < min) min = x[j];
    if (x[j] > max) max = x[j];
  }
}

// Codes of the 32 values, `offset` + x / d truncated after adding one half, as the offset and
// sign-centred encoders share it. Low four bits go to qs, the fifth (5-bit types) to qh.
template <int Top>
void encode_codes(const float* x, float base, float inverse_step, float offset, uint8_t* qs,
                  uint8_t* qh) {
  uint32_t high = 0;
  for (int j = 0; j < 16; ++j) {
    const int low = truncated_code((x[j] - base) * inverse_step + offset, Top);
    const int upper = truncated_code((x[j + 16] - base) * inverse_step + offset, Top);
    qs[j] = uint8_t((low & 0x0F) | ((upper & 0x0F) << 4));
    high |= uint32_t(low >> 4) << j;
    high |= uint32_t(upper >> 4) << (j + 16);
  }
  if (qh) std::memcpy(qh, &high, 4);
}

// The fifth bit of value j (j < 32) in a Q5 block's qh, shifted into place (16 or 0).
int fifth_bit(const uint8_t* qh, int j) {
  uint32_t bits;
  std::memcpy(&bits, qh, 4);
  return int((bits >> j) & 1) << 4;
}

// Q4_0 and Q5_0: step -extreme / (levels / 2), codes x / step + levels / 2 (the offset of 0 keeps
// ggml's arithmetic: (x - 0) * id equals x * id).
template <int Levels, typename Block>
void encode_centred(const float* x, Block& b, uint8_t* qh) {
  const float d = largest_magnitude(x, 32) / -(Levels / 2), inverse = d ? 1.0f / d : 0.0f;
  b.d = half_scale(d);
  encode_codes<Levels - 1>(x, 0.0f, inverse, Levels / 2 + 0.5f, b.qs, qh);
}

// Q4_1 and Q5_1: step (max - min) / (levels - 1) above the block's min.
template <int Levels, typename Block>
void encode_offset(const float* x, Block& b, uint8_t* qh) {
  float min, max;
  range(x, min, max);
  const float d = (max - min) / (Levels - 1), inverse = d ? 1.0f / d : 0.0f;
  b.d = half_scale(d);
  b.m = half_scale(min);
  encode_codes<Levels - 1>(x, min, inverse, 0.5f, b.qs, qh);
}

}  // namespace

void encode(const float* x, BlockQ4_0& b) { encode_centred<16>(x, b, nullptr); }
void encode(const float* x, BlockQ5_0& b) { encode_centred<32>(x, b, b.qh); }
void encode(const float* x, BlockQ4_1& b) { encode_offset<16>(x, b, nullptr); }
void encode(const float* x, BlockQ5_1& b) { encode_offset<32>(x, b, b.qh); }

void encode(const float* x, BlockQ8_0& b) {
  float amax = 0;
  for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127, inverse = d ? 1.0f / d : 0.0f;
  b.d = half_scale(d);
  for (int j = 0; j < 32; ++j) {
    const float v = std::round(x[j] * inverse);  // roundf: halves away from zero
    b.qs[j] = int8_t(v >= 127 ? 127 : v <= -127 ? -127 : v);
  }
}

void decode(const BlockQ4_0& b, float* y) {
  const float d = f16_to_f32(b.d);
  for (int j = 0; j < 16; ++j) {
    y[j] = ((b.qs[j] & 0x0F) - 8) * d;
    y[j + 16] = ((b.qs[j] >> 4) - 8) * d;
  }
}

void decode(const BlockQ4_1& b, float* y) {
  const float d = f16_to_f32(b.d), m = f16_to_f32(b.m);
  for (int j = 0; j < 16; ++j) {
    y[j] = (b.qs[j] & 0x0F) * d + m;
    y[j + 16] = (b.qs[j] >> 4) * d + m;
  }
}

void decode(const BlockQ5_0& b, float* y) {
  const float d = f16_to_f32(b.d);
  for (int j = 0; j < 16; ++j) {
    y[j] = (((b.qs[j] & 0x0F) | fifth_bit(b.qh, j)) - 16) * d;
    y[j + 16] = (((b.qs[j] >> 4) | fifth_bit(b.qh, j + 16)) - 16) * d;
  }
}

void decode(const BlockQ5_1& b, float* y) {
  const float d = f16_to_f32(b.d), m = f16_to_f32(b.m);
  for (int j = 0; j < 16; ++j) {
    y[j] = ((b.qs[j] & 0x0F) | fifth_bit(b.qh, j)) * d + m;
    y[j + 16] = ((b.qs[j] >> 4) | fifth_bit(b.qh, j + 16)) * d + m;
  }
}

void decode(const BlockQ8_0& b, float* y) {
  const float d = f16_to_f32(b.d);
  for (int j = 0; j < 32; ++j) y[j] = b.qs[j] * d;
}

}  // namespace vktrain::io::codec
