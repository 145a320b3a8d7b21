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
// q8_0 .. q6_k and mxfp4 are ggml's block formats (frozen base weights, DESIGN.md decision 13):
// a row is a whole number of blocks, each `elements` consecutive values in `bytes` bytes laid
// out as in ggml-common.h (src/io/quant.hpp describes them, src/kernels/quant.glsl decodes them).
// mxfp4 (gpt-oss's experts) is the one block of an odd size (17 bytes), which only the slab
// decode reads (ops/matmul.hpp).
enum class DType : uint8_t {
  f32, f16, bf16, i32,
  q8_0, q4_0, q4_1, q5_0, q5_1, q2_k, q3_k, q4_k, q5_k, q6_k,
  mxfp4,
};

struct DTypeBlock {
  uint32_t elements;  // values per block: 1 for the element types
  uint32_t bytes;     // bytes per block
};

// Every DType in declaration order, for walking them without arithmetic on the enum's range.
std::vector<DType> all_dtypes();
bool dtype_is_block(DType t);
bool dtype_is_float(DType t);  // f32, f16 or bf16
DTypeBlock dtype_block(DType t);
// The bytes of one value; throws for a block type, whose values have no size of their own.
size_t dtype_size(DType t);
// The bytes of `elements` consecutive values of a row; throws unless they are whole blocks.
uint64_t dtype_bytes(DType t, uint64_t elements);
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
