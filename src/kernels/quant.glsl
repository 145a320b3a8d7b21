// ggml's block formats, decoded once for every kernel that reads a quantized weight (after
// common.glsl). Each decode_<type>(block, i) returns value i of the block at byte address
// `block`, with ggml's arithmetic step by step (dequantize_row_* in ggml-quants.c, and
// src/io/quant.cpp on the host), so device and host floats agree bit for bit: f16 scales are
// decoded exactly (subnormals too, with integer operations), and every result is `precise`, so
// no compiler fuses a multiply and an add into one rounding that the host does not do.
// Blocks are read as 16-bit words: every block size is even, so every block and each of its
// f16 fields is 2-byte aligned, and no 8-bit storage feature is needed.
// The byte offsets of each block's fields mirror ggml-common.h's structs (and io's); sizes come
// from quant_blocks.h. BLOCK_<TYPE> picks the type of quant_load / quant_row_bytes.
#include "quant_blocks.h"

uint block_byte(uint64_t block, uint offset) {
  uint word = uint(BufU16(block).v[offset >> 1]);
  return (offset & 1u) != 0u ? word >> 8 : word & 0xffu;
}

// An f16 field as f32, exactly (an f16 subnormal is an f32 normal: mantissa x 2^-24).
float block_f16(uint64_t block, uint offset) {
  uint h = uint(BufU16(block).v[offset >> 1]);
  uint sign = (h & 0x8000u) << 16, exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
  if (exponent == 0u) {
    float magnitude = float(mantissa) * 5.9604644775390625e-8;  // 2^-24
    return sign != 0u ? -magnitude : magnitude;
  }
  if (exponent == 31u) return uintBitsToFloat(sign | 0x7f800000u | (mantissa << 13));
  return uintBitsToFloat(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

// Q8_0: f16 d @0, int8 qs[32] @2.   x = q * d
float decode_q8_0(uint64_t block, uint i) {
  int q = int(block_byte(block, 2u + i) << 24) >> 24;
  precise float x = float(q) * block_f16(block, 0u);
  return x;
}

// Q4_0: f16 d @0, u8 qs[16] @2; value i < 16 is the low nibble of qs[i], i + 16 the high one.
// x = (q - 8) * d
float decode_q4_0(uint64_t block, uint i) {
  uint byte = block_byte(block, 2u + (i & 15u));
  uint q = i < 16u ? byte & 15u : byte >> 4;
  precise float x = float(int(q) - 8) * block_f16(block, 0u);
  return x;
}

// Q4_1: f16 d @0, f16 m @2, u8 qs[16] @4 (nibbles as Q4_0).   x = q * d + m
float decode_q4_1(uint64_t block, uint i) {
  uint byte = block_byte(block, 4u + (i & 15u));
  uint q = i < 16u ? byte & 15u : byte >> 4;
  precise float x = float(q) * block_f16(block, 0u) + block_f16(block, 2u);
  return x;
}

// The fifth bit of value i of a Q5_0 / Q5_1 block: bit i of the 32-bit qh at `offset`.
uint fifth_bit(uint64_t block, uint offset, uint i) {
  return (block_byte(block, offset + (i >> 3)) >> (i & 7u)) & 1u;
}

// Q5_0: f16 d @0, u8 qh[4] @2, u8 qs[16] @6.   x = (q - 16) * d
float decode_q5_0(uint64_t block, uint i) {
  uint byte = block_byte(block, 6u + (i & 15u));
  uint q = (i < 16u ? byte & 15u : byte >> 4) | (fifth_bit(block, 2u, i) << 4);
  precise float x = float(int(q) - 16) * block_f16(block, 0u);
  return x;
}

// Q5_1: f16 d @0, f16 m @2, u8 qh[4] @4, u8 qs[16] @8.   x = q * d + m
float decode_q5_1(uint64_t block, uint i) {
  uint byte = block_byte(block, 8u + (i & 15u));
  uint q = (i < 16u ? byte & 15u : byte >> 4) | (fifth_bit(block, 4u, i) << 4);
  precise float x = float(q) * block_f16(block, 0u) + block_f16(block, 2u);
  return x;
}

// Q2_K and Q3_K walk 128 values per 32 quant bytes: value i is in half n = i / 128, row j of 4
// (2-bit plane j of the bytes), sub-block `is` of 16 values, at byte l of its 16.
struct LowBitPlace {
  uint n, j, is, byte;  // byte: index into the 64 quant bytes
};
LowBitPlace low_bit_place(uint i) {
  uint n = i >> 7, r = i & 127u, j = r >> 5, part = (r >> 4) & 1u, l = r & 15u;
  return LowBitPlace(n, j, 8u * n + 2u * j + part, 32u * n + 16u * part + l);
}

// Q2_K: u8 scales[16] @0 (scale low nibble, min high nibble), u8 qs[64] @16, f16 d @80,
// f16 dmin @82.   x = d * scale * q - dmin * min
float decode_q2_k(uint64_t block, uint i) {
  LowBitPlace p = low_bit_place(i);
  uint sc = block_byte(block, p.is);
  uint q = (block_byte(block, 16u + p.byte) >> (2u * p.j)) & 3u;
  precise float dl = block_f16(block, 80u) * float(sc & 15u);
  precise float ml = block_f16(block, 82u) * float(sc >> 4);
  precise float x = dl * float(q) - ml;
  return x;
}

// Q3_K: u8 hmask[32] @0, u8 qs[64] @32, u8 scales[12] @96 (16 six-bit scales: low nibbles in
// bytes 0..7, top two bits in bytes 8..11), f16 d @108.
// x = d * (scale - 32) * (q - (hmask bit ? 0 : 4))
float decode_q3_k(uint64_t block, uint i) {
  LowBitPlace p = low_bit_place(i);
  uint group = p.is >> 2;
  uint low = group < 2u ? block_byte(block, 96u + p.is) & 15u : block_byte(block, 88u + p.is) >> 4;
  uint high = (block_byte(block, 104u + (p.is & 3u)) >> (2u * group)) & 3u;
  int scale = int(low | (high << 4)) - 32;
  uint q = (block_byte(block, 32u + p.byte) >> (2u * p.j)) & 3u;
  uint mask = block_byte(block, (p.byte & 15u) + 16u * ((i >> 4) & 1u));
  int value = int(q) - ((mask & (1u << (4u * p.n + p.j))) != 0u ? 0 : 4);
  precise float dl = block_f16(block, 108u) * float(scale);
  precise float x = dl * float(value);
  return x;
}

// Sub-block j's 6-bit scale and min in a Q4_K / Q5_K block's 12 packed bytes @4: bytes 0..3
// hold scales 0..3 in their low 6 bits, bytes 4..7 mins 0..3; for j >= 4 the low 4 bits come
// from byte j + 4 (scale low nibble, min high) and the top 2 bits from the tops of bytes j - 4
// and j.
uvec2 k_scale_min(uint64_t block, uint j) {
  if (j < 4u) return uvec2(block_byte(block, 4u + j) & 63u, block_byte(block, 8u + j) & 63u);
  uint both = block_byte(block, 8u + j);
  return uvec2((both & 15u) | ((block_byte(block, j) >> 6) << 4),
               (both >> 4) | ((block_byte(block, 4u + j) >> 6) << 4));
}

// Value q of sub-block `sub` of a Q4_K / Q5_K block:   x = d * scale * q - dmin * min
float k_value(uint64_t block, uint sub, uint q) {
  uvec2 sm = k_scale_min(block, sub);
  precise float d = block_f16(block, 0u) * float(sm.x);
  precise float m = block_f16(block, 2u) * float(sm.y);
  precise float x = d * float(q) - m;
  return x;
}

// Q4_K: f16 d @0, f16 dmin @2, scales @4, u8 qs[128] @16; 64 values per 32 bytes (sub-block
// 2c in the low nibbles, 2c + 1 in the high ones).
float decode_q4_k(uint64_t block, uint i) {
  uint sub = i >> 5, byte = block_byte(block, 16u + 32u * (i >> 6) + (i & 31u));
  return k_value(block, sub, (sub & 1u) == 0u ? byte & 15u : byte >> 4);
}

// Q5_K: as Q4_K with u8 qh[32] @16 (bit `sub` of qh[l] is the fifth bit) and qs @48.
float decode_q5_k(uint64_t block, uint i) {
  uint sub = i >> 5, l = i & 31u, byte = block_byte(block, 48u + 32u * (i >> 6) + l);
  uint fifth = (block_byte(block, 16u + l) >> sub) & 1u;
  return k_value(block, sub, ((sub & 1u) == 0u ? byte & 15u : byte >> 4) | (fifth << 4));
}

// Q6_K: u8 ql[128] @0, u8 qh[64] @128, int8 scales[16] @192, f16 d @208; each half of 128
// values reads 64 ql bytes (quarters 0, 1 low nibbles, 2, 3 high) and 32 qh bytes (2 bits per
// quarter).   x = d * scale * (q - 32)
float decode_q6_k(uint64_t block, uint i) {
  uint part = i >> 7, quarter = (i >> 5) & 3u, l = i & 31u;
  uint low = block_byte(block, 64u * part + 32u * (quarter & 1u) + l);
  uint high = (block_byte(block, 128u + 32u * part + l) >> (2u * quarter)) & 3u;
  int q = int((quarter < 2u ? low & 15u : low >> 4) | (high << 4)) - 32;
  int scale = int(block_byte(block, 192u + 8u * part + (l >> 4) + 2u * quarter) << 24) >> 24;
  precise float x = block_f16(block, 208u) * float(scale) * float(q);
  return x;
}

#if defined(BLOCK_Q8_0)
#define QUANT_ELEMENTS Q8_0_ELEMENTS
#define QUANT_BYTES Q8_0_BYTES
#define quant_decode decode_q8_0
#elif defined(BLOCK_Q4_0)
#define QUANT_ELEMENTS Q4_0_ELEMENTS
#define QUANT_BYTES Q4_0_BYTES
#define quant_decode decode_q4_0
#elif defined(BLOCK_Q4_1)
#define QUANT_ELEMENTS Q4_1_ELEMENTS
#define QUANT_BYTES Q4_1_BYTES
#define quant_decode decode_q4_1
#elif defined(BLOCK_Q5_0)
#define QUANT_ELEMENTS Q5_0_ELEMENTS
#define QUANT_BYTES Q5_0_BYTES
#define quant_decode decode_q5_0
#elif defined(BLOCK_Q5_1)
#define QUANT_ELEMENTS Q5_1_ELEMENTS
#define QUANT_BYTES Q5_1_BYTES
#define quant_decode decode_q5_1
#elif defined(BLOCK_Q2_K)
#define QUANT_ELEMENTS Q2_K_ELEMENTS
#define QUANT_BYTES Q2_K_BYTES
#define quant_decode decode_q2_k
#elif defined(BLOCK_Q3_K)
#define QUANT_ELEMENTS Q3_K_ELEMENTS
#define QUANT_BYTES Q3_K_BYTES
#define quant_decode decode_q3_k
#elif defined(BLOCK_Q4_K)
#define QUANT_ELEMENTS Q4_K_ELEMENTS
#define QUANT_BYTES Q4_K_BYTES
#define quant_decode decode_q4_k
#elif defined(BLOCK_Q5_K)
#define QUANT_ELEMENTS Q5_K_ELEMENTS
#define QUANT_BYTES Q5_K_BYTES
#define quant_decode decode_q5_k
#elif defined(BLOCK_Q6_K)
#define QUANT_ELEMENTS Q6_K_ELEMENTS
#define QUANT_BYTES Q6_K_BYTES
#define quant_decode decode_q6_k
#endif

#ifdef QUANT_ELEMENTS
// The bytes of a row of `cols` values (whole blocks), and value c of the row at address `row`.
uint64_t quant_row_bytes(uint cols) { return uint64_t(cols / QUANT_ELEMENTS) * QUANT_BYTES; }
float quant_load(uint64_t row, uint c) {
  return quant_decode(row + uint64_t(c / QUANT_ELEMENTS) * QUANT_BYTES, c % QUANT_ELEMENTS);
}
#endif
