#pragma once
// One encoder and one decoder per block type (internal to src/io; quant.hpp is the interface).
// Decoders follow ggml's dequantize_row_* operation for operation and encoders its
// quantize_row_*_ref, so blocks and floats match llama.cpp's bit for bit (see
// tests/io/quant_types_test.cpp and its fixtures).
#include <bit>
#include <cstdint>

#include "io/quant_blocks.hpp"

namespace vktrain::io::codec {

void decode(const BlockQ4_0& b, float* y);
void decode(const BlockQ4_1& b, float* y);
void decode(const BlockQ5_0& b, float* y);
void decode(const BlockQ5_1& b, float* y);
void decode(const BlockQ8_0& b, float* y);
void decode(const BlockQ2_K& b, float* y);
void decode(const BlockQ3_K& b, float* y);
void decode(const BlockQ4_K& b, float* y);
void decode(const BlockQ5_K& b, float* y);
void decode(const BlockQ6_K& b, float* y);
void decode(const BlockIQ4_NL& b, float* y);
void decode(const BlockIQ4_XS& b, float* y);
void decode(const BlockMXFP4& b, float* y);

// `b` arrives zeroed. The IQ4 types and MXFP4 are decoded only.
void encode(const float* x, BlockQ4_0& b);
void encode(const float* x, BlockQ4_1& b);
void encode(const float* x, BlockQ5_0& b);
void encode(const float* x, BlockQ5_1& b);
void encode(const float* x, BlockQ8_0& b);
void encode(const float* x, BlockQ2_K& b);
void encode(const float* x, BlockQ3_K& b);
void encode(const float* x, BlockQ4_K& b);
void encode(const float* x, BlockQ5_K& b);
void encode(const float* x, BlockQ6_K& b);

// A block scale as f16; throws "[quant] ..." when it overflows, which only values beyond what
// the type can scale reach (finite inputs are checked before encoding).
uint16_t half_scale(float scale);

// The first of the values of largest magnitude, with its sign (0 when all are 0), as ggml's
// encoders pick the value that anchors a centred grid.
float largest_magnitude(const float* x, int n);

// ggml's nearest_int: adding 1.5 * 2^23 leaves x rounded half to even in the low mantissa
// bits (a libm lrint call would cost most of the K-quant searches' time). Out-of-range values
// and NaN saturate instead of wrapping, so hostile inputs cannot reach undefined conversions.
inline int nearest(float x) {
  constexpr float kLimit = 4194303.f;  // where the trick stops being exact
  if (!(x >= -kLimit)) return -4194304;
  if (x > kLimit) return 4194304;
  return int(std::bit_cast<uint32_t>(x + 12582912.f) & 0x007fffff) - 0x00400000;
}

}  // namespace vktrain::io::codec
