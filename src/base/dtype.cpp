#include "base/dtype.hpp"

#include <bit>
#include <cmath>
#include <cstring>

#include "base/error.hpp"

namespace vktrain {

size_t dtype_size(DType t) { return t == DType::f16 || t == DType::bf16 ? 2 : 4; }

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::f16: return "f16";
    case DType::bf16: return "bf16";
    case DType::i32: return "i32";
  }
  return "?";
}

DType dtype_from_name(std::string_view name) {
  for (DType t : {DType::f32, DType::f16, DType::bf16})
    if (dtype_name(t) == name) return t;
  fail("[dtype] unknown type '{}': use f32, f16 or bf16", name);
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exponent = (h >> 10) & 0x1f;
  uint32_t mantissa = h & 0x3ff;
  if (exponent == 0) {  // zero or subnormal: mantissa * 2^-24
    float magnitude = std::ldexp(float(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  if (exponent == 31) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

uint16_t f32_to_f16(float f) {
  uint32_t bits = std::bit_cast<uint32_t>(f);
  uint16_t sign = uint16_t((bits >> 16) & 0x8000);
  uint32_t magnitude = bits & 0x7fffffff;
  if (magnitude > 0x7f800000) return sign | 0x7e00;   // NaN
  if (magnitude >= 0x477ff000) return sign | 0x7c00;  // rounds to infinity
  if (magnitude < 0x38800000) {                       // subnormal or zero in f16
    // Scale into the subnormal grid (units of 2^-24) and round to nearest even.
    float scaled = std::fabs(f) * 16777216.0f;
    return sign | uint16_t(std::nearbyint(scaled));
  }
  uint32_t rounded = magnitude + 0xfff + ((magnitude >> 13) & 1);
  return sign | uint16_t((rounded - 0x38000000) >> 13);
}

float bf16_to_f32(uint16_t b) { return std::bit_cast<float>(uint32_t(b) << 16); }

uint16_t f32_to_bf16(float f) {
  uint32_t bits = std::bit_cast<uint32_t>(f);
  if ((bits & 0x7fffffff) > 0x7f800000) return uint16_t((bits >> 16) | 0x40);  // quiet NaN
  return uint16_t((bits + 0x7fff + ((bits >> 16) & 1)) >> 16);
}

float round_to(DType t, float f) {
  switch (t) {
    case DType::f32: return f;
    case DType::f16: return f16_to_f32(f32_to_f16(f));
    case DType::bf16: return bf16_to_f32(f32_to_bf16(f));
    case DType::i32: return std::nearbyint(f);
  }
  return f;
}

std::vector<std::byte> float_bytes(std::span<const float> values, DType t) {
  if (t == DType::i32) fail("[dtype] float_bytes: i32 is not a float type");
  std::vector<std::byte> bytes(values.size() * dtype_size(t));
  for (size_t i = 0; i < values.size(); ++i) {
    if (t == DType::f32) {
      std::memcpy(&bytes[4 * i], &values[i], 4);
    } else {
      uint16_t h = t == DType::f16 ? f32_to_f16(values[i]) : f32_to_bf16(values[i]);
      std::memcpy(&bytes[2 * i], &h, 2);
    }
  }
  return bytes;
}

}  // namespace vktrain
