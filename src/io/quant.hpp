#pragma once
// ggml tensor element types and their block formats, byte-exact with llama.cpp's ggml-common.h.
// A block holds `elements` consecutive values of a row in `bytes` bytes; a row of a quantized
// tensor is a whole number of blocks. The layouts implemented here (all little-endian, f16 = IEEE
// half):
//   Q8_0 (32 values, 34 bytes):  f16 d, int8 qs[32];                     x = d*q
//   Q4_0 (32 values, 18 bytes):  f16 d, u8 qs[16];  value j < 16 is the low nibble of qs[j],
//                                value j + 16 the high nibble;            x = d*(q - 8)
//   Q4_K (256 values, 144 bytes): f16 d, f16 dmin, u8 scales[12], u8 qs[128]; 8 sub-blocks of 32
//                                with a 6-bit scale sc and 6-bit min m each; x = d*sc*q - dmin*m
//   Q5_K (256 values, 176 bytes): as Q4_K plus u8 qh[32] (the fifth bit) before qs[128]
//   Q6_K (256 values, 210 bytes): u8 ql[128], u8 qh[64], int8 scales[16], f16 d; 16 sub-blocks
//                                of 16;                                   x = d*scale*(q - 32)
// Dequantization follows ggml's arithmetic step by step, so a block decodes to the same floats
// here and in llama.cpp. Quantization produces valid blocks; it is not ggml's search (Q4_K uses a
// simpler per-sub-block scale/min search, see quant.cpp), so the bytes may differ from
// llama-quantize's while decoding identically everywhere.
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

bool can_dequantize(GgmlType type);  // F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K
bool can_quantize(GgmlType type);    // F32, F16, BF16, Q8_0, Q4_0, Q4_K

// out.size() values from their encoding `in`, which must hold exactly ggml_row_bytes(type,
// out.size()) bytes. Rows are independent, so a whole tensor converts in one call.
void dequantize(std::span<float> out, std::span<const std::byte> in, GgmlType type);
void quantize(std::span<std::byte> out, std::span<const float> in, GgmlType type);

std::vector<float> dequantize(std::span<const std::byte> in, GgmlType type, uint64_t elements);
std::vector<std::byte> quantize(std::span<const float> in, GgmlType type);

}  // namespace vktrain::io
