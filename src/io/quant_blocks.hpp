#pragma once
// The block layouts of ggml's quantized types, field for field as llama.cpp's ggml-common.h
// declares them (all little-endian, f16 fields as IEEE half bits). A row of a quantized tensor is
// a whole number of blocks. These structs are the host's single statement of each layout: the
// host codecs (quant_legacy.cpp, quant_k.cpp) read and write them, and the device's GLSL block
// structs are checked against their sizes and offsets. Blocks are copied in and out of byte
// streams with memcpy, so unaligned mapped data is fine.
//
// Value x of a block, with q its code (notation of ggml's dequantize_row_*):
//   Q4_0  32 values:  x = d * (q - 8)              q: 4 bits; value j < 16 in the low nibble of
//                                                  qs[j], value j + 16 in its high nibble
//   Q4_1  32 values:  x = d * q + m                as Q4_0
//   Q5_0  32 values:  x = d * (q - 16)             low 4 bits as Q4_0; bit j of the 32-bit
//                                                  little-endian qh is the fifth bit of value j
//   Q5_1  32 values:  x = d * q + m                as Q5_0
//   Q8_0  32 values:  x = d * q                    q: int8
//   Q2_K 256 values:  x = d * (s & 15) * q - dmin * (s >> 4), s = scales[v / 16]; q: 2 bits,
//                     bits 2 (v % 128 / 32) of qs[32 (v / 128) + v % 32]
//   Q3_K 256 values:  x = d * (s - 32) * (q - 4); s a 6-bit scale of 16 values (12 packed bytes,
//                     see quant_k.cpp); q: 2 low bits as Q2_K, the third bit is bit v / 32 of
//                     hmask[v % 32]
//   Q4_K 256 values:  x = d * sc * q - dmin * m over 8 sub-blocks of 32, sc and m 6-bit (12
//                     packed bytes); 64-value chunk c: value 64 c + l (l < 32) in the low nibble
//                     of qs[32 c + l], value 64 c + 32 + l in its high nibble
//   Q5_K 256 values:  as Q4_K, with the fifth bit of value 64 c + l (+ 32) at bit 2 c (2 c + 1)
//                     of qh[l]
//   Q6_K 256 values:  x = d * scales[v / 16] * (q - 32); q: 6 bits, see quant_k.cpp
// Decoded only (what a GGUF file may hold beside the types above; see quant_nonlinear.cpp):
//   IQ4_NL  32 values: x = d * grid[q], q: 4 bits as Q4_0, grid a fixed non-uniform table
//   IQ4_XS 256 values: as IQ4_NL per 32-value sub-block, with a 6-bit sub-block scale - 32
//   MXFP4   32 values: x = 2^(e - 128) * fp4[q], q: 4 bits as Q4_0, fp4 twice the E2M1 values
#include <cstdint>

namespace vktrain::io {

constexpr int kSuperBlock = 256;  // values per K-quant block (ggml's QK_K)

struct BlockQ4_0 {
  static constexpr int kValues = 32;
  uint16_t d;
  uint8_t qs[16];
};
struct BlockQ4_1 {
  static constexpr int kValues = 32;
  uint16_t d, m;
  uint8_t qs[16];
};
struct BlockQ5_0 {
  static constexpr int kValues = 32;
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[16];
};
struct BlockQ5_1 {
  static constexpr int kValues = 32;
  uint16_t d, m;
  uint8_t qh[4];
  uint8_t qs[16];
};
struct BlockQ8_0 {
  static constexpr int kValues = 32;
  uint16_t d;
  int8_t qs[32];
};
struct BlockQ2_K {
  static constexpr int kValues = kSuperBlock;
  uint8_t scales[16];  // low nibble: scale, high nibble: min, of each 16 values
  uint8_t qs[64];
  uint16_t d, dmin;
};
struct BlockQ3_K {
  static constexpr int kValues = kSuperBlock;
  uint8_t hmask[32];
  uint8_t qs[64];
  uint8_t scales[12];  // 16 six-bit scales, packed
  uint16_t d;
};
struct BlockQ4_K {
  static constexpr int kValues = kSuperBlock;
  uint16_t d, dmin;
  uint8_t scales[12];  // 8 six-bit scales and 8 six-bit mins, packed
  uint8_t qs[128];
};
struct BlockQ5_K {
  static constexpr int kValues = kSuperBlock;
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qh[32];
  uint8_t qs[128];
};
struct BlockQ6_K {
  static constexpr int kValues = kSuperBlock;
  uint8_t ql[128];
  uint8_t qh[64];
  int8_t scales[16];
  uint16_t d;
};

struct BlockIQ4_NL {
  static constexpr int kValues = 32;
  uint16_t d;
  uint8_t qs[16];
};
struct BlockIQ4_XS {
  static constexpr int kValues = kSuperBlock;
  uint16_t d;
  uint16_t scales_h;    // top 2 bits of the 8 sub-block scales
  uint8_t scales_l[4];  // low 4 bits, two sub-blocks a byte (low nibble first)
  uint8_t qs[128];      // sub-block j's 32 codes in qs[16 j ..], as IQ4_NL
};
struct BlockMXFP4 {
  static constexpr int kValues = 32;
  uint8_t e;  // E8M0 exponent
  uint8_t qs[16];
};

static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22 &&
              sizeof(BlockQ5_1) == 24 && sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ2_K) == 84 && sizeof(BlockQ3_K) == 110 && sizeof(BlockQ4_K) == 144 &&
              sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockIQ4_NL) == 18 && sizeof(BlockIQ4_XS) == 136 && sizeof(BlockMXFP4) == 17);

}  // namespace vktrain::io
