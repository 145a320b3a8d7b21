#pragma once
// ggml tensor element types: their block sizes, and conversion of rows to and from f32.
// A block holds `elements` consecutive values of a row in `bytes` bytes; a row of a quantized
// tensor is a whole number of blocks. The layouts are ggml's (quant_blocks.hpp states each one).
// Decoding follows ggml's dequantize_row_* operation for operation, so a block decodes to the
// same floats here and in llama.cpp; encoding is llama.cpp's reference quantizer without an
// importance matrix (what llama-quantize runs when given none), so the blocks are its blocks.
// tests/io/quant_types_test.cpp checks both against fixtures that llama.cpp itself wrote.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace vktrain::io {

// The numbering is GGUF's (gguf-py GGMLQuantizationType); ids 4, 5, 31..33 were retired by ggml.
enum class GgmlType : uint32_t {
  f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9,
  q2_k = 10, q3_k = 11, q4_k = 12, q5_k = 13, q6_k = 14, q8_k = 15,
  iq2_xxs = 16, iq2_xs = 17, iq3_xxs = 18, iq1_s = 19, iq4_nl = 20, iq3_s = 21, iq2_s = 22,
  iq4_xs = 23, i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_m = 29, bf16 = 30,
  tq1_0 = 34, tq2_0 = 35, mxfp4 = 39,
};

struct GgmlBlock {
  uint32_t elements = 0;  // values per block; 0 means the type is unknown
  uint32_t bytes = 0;     // bytes per block
};

GgmlBlock ggml_block(GgmlType type);
std::string_view ggml_type_name(GgmlType type);  // "Q4_K", "F32", ...; "unknown" if unknown

// Bytes of a row of `elements` values; throws "[quant] ..." when the type is unknown or the row
// is not a whole number of blocks.
uint64_t ggml_row_bytes(GgmlType type, uint64_t elements);

// Both: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K;
// dequantize also IQ4_NL, IQ4_XS and MXFP4.
bool can_dequantize(GgmlType type);
bool can_quantize(GgmlType type);

// out.size() values from their encoding `in`, which must hold exactly ggml_row_bytes(type,
// out.size()) bytes. Rows are independent, so a whole tensor converts in one call. quantize
// throws "[quant] ..." for a value that is not finite or a block whose scale overflows f16.
void dequantize(std::span<float> out, std::span<const std::byte> in, GgmlType type);
void quantize(std::span<std::byte> out, std::span<const float> in, GgmlType type);

std::vector<float> dequantize(std::span<const std::byte> in, GgmlType type, uint64_t elements);
std::vector<std::byte> quantize(std::span<const float> in, GgmlType type);

}  // namespace vktrain::io
