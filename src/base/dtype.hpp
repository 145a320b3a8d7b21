#pragma once
// Element types of tensors and the host-side conversions between them. bf16 and f16 are kept as
// 16-bit words (DESIGN.md decision 4); conversions round to nearest even, as the kernels do.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace vktrain {

// i32 holds integers the kernels index with (token ids, positions, document ids, labels).
enum class DType : uint8_t { f32, f16, bf16, i32 };

size_t dtype_size(DType t);
std::string_view dtype_name(DType t);
DType dtype_from_name(std::string_view name);  // a float type; throws Error naming the unknown one

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
float bf16_to_f32(uint16_t b);
uint16_t f32_to_bf16(float f);

// Rounds a float through `t` and back: what a tensor of that type stores for `f`.
float round_to(DType t, float f);

// The bytes of `values` stored as float type `t` (rounded as above), in the host's byte order:
// what a safetensors file or a device buffer of that type holds on every little-endian host.
std::vector<std::byte> float_bytes(std::span<const float> values, DType t);

}  // namespace vktrain
