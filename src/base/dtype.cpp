#include "base/dtype.hpp"

#include <bit>
#include <cmath>
#include <cstring>

#include "base/error.hpp"

namespace vktrain {

namespace {

struct TypeInfo {
  DType type;
  std::string_view name;
  DTypeBlock block;
};

// Block sizes as ggml-common.h; tests/ops/quant_test.cpp checks them against io::ggml_block and
// the kernels' kernels/quant_blocks.h.
constexpr TypeInfo kTypes[] = {
    {DType::f32, "f32", {1, 4}},      {DType::f16, "f16", {1, 2}},
    {DType::bf16, "bf16", {1, 2}},    {DType::i32, "i32", {1, 4}},
    {DType::q8_0, "q8_0", {32, 34}},  {DType::q4_0, "q4_0", {32, 18}},
    {DType::q4_1, "q4_1", {32, 20}},  {DType::q5_0, "q5_0", {32, 22}},
    {DType::q5_1, "q5_1", {32, 24}},  {DType::q2_k, "q2_k", {256, 84}},
    {DType::q3_k, "q3_k", {256, 110}}, {DType::q4_k, "q4_k", {256, 144}},
    {DType::q5_k, "q5_k", {256, 176}}, {DType::q6_k, "q6_k", {256, 210}},
    {DType::mxfp4, "mxfp4", {32, 17}},
};

const TypeInfo& info(DType t) {
  for (const auto& i : kTypes)
    if (i.type == t) return i;
  fail("[dtype] unknown type {}", int(t));
}

}  // namespace

std::vector<DType> all_dtypes() {
  std::vector<DType> types;
  for (const auto& i : kTypes) types.push_back(i.type);
  return types;
}

bool dtype_is_block(DType t) { return info(t).block.elements > 1; }

bool dtype_is_float(DType t) { return t == DType::f32 || t == DType::f16 || t == DType::bf16; }

DTypeBlock dtype_block(DType t) { return info(t).block; }

size_t dtype_size(DType t) {
  if (dtype_is_block(t))
    fail("[dtype] {} is a block format: its values have no size of their own (use dtype_bytes "
         "on whole blocks)", dtype_name(t));
  return info(t).block.bytes;
}

uint64_t dtype_bytes(DType t, uint64_t elements) {
  DTypeBlock block = info(t).block;
  if (elements % block.elements)
    fail("[dtype] {} values of {} are not a whole number of its {}-value blocks", elements,
         dtype_name(t), block.elements);
  return elements / block.elements * block.bytes;
}

std::string_view dtype_name(DType t) { return info(t).name; }

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
    default: fail("[dtype] round_to: {} is not an element type", dtype_name(t));
  }
}

std::vector<std::byte> float_bytes(std::span<const float> values, DType t) {
  if (!dtype_is_float(t)) fail("[dtype] float_bytes: {} is not a float type", dtype_name(t));
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
