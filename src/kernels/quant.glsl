// ggml's block formats, decoded once for every kernel that reads a quantized weight (after
// common.glsl), with ggml's arithmetic step by step (dequantize_row_* in ggml-quants.c, and
// src/io/quant.cpp on the host), so device and host floats agree bit for bit: f16 scales are
// decoded exactly (subnormals too), and every result is `precise`, so no compiler fuses a
// multiply and an add into one rounding that the host does not do.
// Values are decoded in runs of 8 (value i .. i + 7 of a block, i a multiple of 8: every block
// size is), whose quant bytes are 8 consecutive bytes in each of the type's one or two byte
// planes. A run is read in two steps: quant_fetch only loads (the header words the run needs and
// 4 words per plane), so a kernel can fetch the next tile's runs before the current tile's math
// and leave the loads in flight; quant_unpack then decodes the 8 values from registers, the
// header once. quant_decode is one value (cooperative matrix 2's per-element load, the
// embedding gather): the same header loads and one word per plane.
// Blocks are read as 16-bit words: every block size but MXFP4's is even, so every block and each
// of its fields is 2-byte aligned (Q8_0's 34 bytes are no more), and no 8-bit storage is needed.
// MXFP4's 17-byte blocks start at any byte: it is read by byte address from the aligned 32-bit
// words that hold its bytes (QUANT_BYTE_ADDRESSED), still without 8-bit storage.
// The byte offsets of each block's fields mirror ggml-common.h's structs (and io's); sizes come
// from quant_blocks.h. BLOCK_<TYPE> picks the type that the quant_* functions decode.
// Each type defines <type>_header(block, i) (the run's header words, loads only), <type>_planes(i)
// (its planes' byte offsets) and <type>_value(run, i, k, b0, b1) (value i + k from the header and
// byte k of each plane): its one definition.
#extension GL_EXT_control_flow_attributes : require
#include "quant_blocks.h"

// The raw words of a run: q[4p + w] is word w (bytes 2w, 2w + 1) of plane p, h the header words.
struct QuantRun {
  uint q[8];
  uint h[5];
};

uint block_u16(uint64_t block, uint offset) { return uint(BufU16(block).v[offset >> 1]); }
// Byte `offset & 1` of a 16-bit word.
uint word_byte(uint word, uint offset) { return bitfieldExtract(word, int(offset & 1u) * 8, 8); }

// An f16 field as f32, exactly: the hardware conversion, except that an f16 subnormal (an f32
// normal: mantissa x 2^-24) is computed, as a device may flush it to zero on the way.
float half_bits(uint h) {
  float x = unpackHalf2x16(h).x;
  if ((h & 0x7c00u) == 0u) {
    float magnitude = float(h & 0x3ffu) * 5.9604644775390625e-8;  // 2^-24
    x = (h & 0x8000u) != 0u ? -magnitude : magnitude;
  }
  return x;
}

// Q8_0: f16 d @0, int8 qs[32] @2.   x = q * d
void q8_0_header(uint64_t block, uint i, inout QuantRun r) { r.h[0] = block_u16(block, 0u); }
uvec2 q8_0_planes(uint i) { return uvec2(2u + i, 0u); }
float q8_0_value(QuantRun r, uint i, uint k, uint b0, uint b1) {
  precise float x = float(int(b0 << 24) >> 24) * half_bits(r.h[0]);
  return x;
}

// Q4_0: f16 d @0, u8 qs[16] @2; value i < 16 is the low nibble of qs[i], i + 16 the high one.
// x = (q - 8) * d
void q4_0_header(uint64_t block, uint i, inout QuantRun r) { r.h[0] = block_u16(block, 0u); }
uvec2 q4_0_planes(uint i) { return uvec2(2u + (i & 15u), 0u); }
uint low_or_high_nibble(uint byte, bool high) { return high ? byte >> 4 : byte & 15u; }
float q4_0_value(QuantRun r, uint i, uint k, uint b0, uint b1) {
  precise float x = float(int(low_or_high_nibble(b0, i >= 16u)) - 8) * half_bits(r.h[0]);
  return x;
}

// Q4_1: f16 d @0, f16 m @2, u8 qs[16] @4 (nibbles as Q4_0).   x = q * d + m
void q4_1_header(uint64_t block, uint i, inout QuantRun r) {
  r.h[0] = block_u16(block, 0u);
  r.h[1] = block_u16(block, 2u);
}
uvec2 q4_1_planes(uint i) { return uvec2(4u + (i & 15u), 0u); }
float q4_1_value(QuantRun r, uint i, uint k, uint b0, uint b1) {
  precise float x = float(low_or_high_nibble(b0, i >= 16u)) * half_bits(r.h[0]) + half_bits(r.h[1]);
  return x;
}

// Q5_0: f16 d @0, u8 qh[4] @2 (bit i of the 32-bit qh: value i's fifth bit), u8 qs[16] @6.
// x = (q - 16) * d
void q5_0_header(uint64_t block, uint i, inout QuantRun r) {
  r.h[0] = block_u16(block, 0u);
  r.h[2] = block_u16(block, 2u);
  r.h[3] = block_u16(block, 4u);
}
uvec2 q5_0_planes(uint i) { return uvec2(6u + (i & 15u), 0u); }
uint fifth_bit(QuantRun r, uint bit) { return ((r.h[2] | (r.h[3] << 16)) >> bit) & 1u; }
float q5_0_value(QuantRun r, uint i, uint k, uint b0, uint b1) {
  uint q = low_or_high_nibble(b0, i >= 16u) | (fifth_bit(r, i + k) << 4);
  precise float x = float(int(q) - 16) * half_bits(r.h[0]);
  return x;
}

// Q5_1: f16 d @0, f16 m @2, u8 qh[4] @4, u8 qs[16] @8.   x = q * d + m
void q5_1_header(uint64_t block, uint i, inout QuantRun r) {
  r.h[0] = block_u16(block, 0u);
  r.h[1] = block_u16(block, 2u);
  r.h[2] = block_u16(block, 4u);
  r.h[3] = block_u16(block, 6u);
}
uvec2 q5_1_planes(uint i) { return uvec2(8u + (i & 15u), 0u); }
float q5_1_value(QuantRun r, uint i, uint k, uint b0, uint b1) {
  uint q = low_or_high_nibble(b0, i >= 16u) | (fifth_bit(r, i + k) << 4);
  precise float x = float(q) * half_bits(r.h[0]) + half_bits(r.h[1]);
  return x;
}

// Q2_K and Q3_K walk 128 values per 32 quant bytes: value i is in half n = i / 128, row j of 4
// (2-bit plane j of the bytes), sub-block `is` of 16 values, at byte l of its 16 (a run of 8
// shares n, j and is, its bytes consecutive).
struct LowBitPlace {
  uint n, j, is, byte;  // byte: index into the 64 quant bytes
};
LowBitPlace low_bit_place(uint i) {
  uint n = i >> 7, r = i & 127u, j = r >> 5, part = (r >> 4) & 1u, l = r & 15u;
  return LowBitPlace(n, j, 8u * n + 2u * j + part, 32u * n + 16u * part + l);
}

// Q2_K: u8 scales[16] @0 (scale low nibble, min high nibble), u8 qs[64] @16, f16 d @80,
// f16 dmin @82.   x = d * scale * q - dmin * min
void q2_k_header(uint64_t block, uint i, inout QuantRun r) {
  r.h[0] = block_u16(block, 80u);
  r.h[1] = block_u16(block, 82u);
  r.h[2] = block_u16(block, low_bit_place(i).is);
}
uvec2 q2_k_planes(uint i) { return uvec2(16u + low_bit_place(i).byte, 0u); }
float q2_k_value(QuantRun r, uint i, uint k, uint b0, uint b1) {
  LowBitPlace p = low_bit_place(i);
  uint sc = word_byte(r.h[2], p.is);
  uint q = (b0 >> (2u * p.j)) & 3u;
  precise float dl = half_bits(r.h[0]) * float(sc & 15u);
  precise float ml = half_bits(r.h[1]) * float(sc >> 4);
  precise float x = dl * float(q) - ml;
  return x;
}

// Q3_K: u8 hmask[32] @0, u8 qs[64] @32, u8 scales[12] @96 (16 six-bit scales: low nibbles in
// bytes 0..7, top two bits in bytes 8..11), f16 d @108.
// x = d * (scale - 32) * (q - (hmask bit ? 0 : 4))
uint q3_k_low_scale_at(uint is) { return (is >> 2) < 2u ? 96u + is : 88u + is; }
void q3_k_header(uint64_t block, uint i, inout QuantRun r) {
  uint is = low_bit_place(i).is;
  r.h[0] = block_u16(block, 108u);
  r.h[1] = block_u16(block, q3_k_low_scale_at(is));
  r.h[2] = block_u16(block, 104u + (is & 3u));
}
// qs, then the hmask bytes of the same l.
uvec2 q3_k_planes(uint i) {
  LowBitPlace p = low_bit_place(i);
  return uvec2(32u + p.byte, (p.byte & 15u) + 16u * ((i >> 4) & 1u));
}
float q3_k_value(QuantRun r, uint i, uint k, uint b0, uint b1) {
  LowBitPlace p = low_bit_place(i);
  uint group = p.is >> 2, low_byte = word_byte(r.h[1], q3_k_low_scale_at(p.is));
  uint low = group < 2u ? low_byte & 15u : low_byte >> 4;
  uint high = (word_byte(r.h[2], 104u + (p.is & 3u)) >> (2u * group)) & 3u;
  int scale = int(low | (high << 4)) - 32;
  uint q = (b0 >> (2u * p.j)) & 3u;
  int value = int(q) - ((b1 & (1u << (4u * p.n + p.j))) != 0u ? 0 : 4);
  precise float dl = half_bits(r.h[0]) * float(scale);
  precise float x = dl * float(value);
  return x;
}

// Q4_K / Q5_K: f16 d @0, f16 dmin @2, 12 packed scale bytes @4: sub-block j's 6-bit scale and
// min. Bytes 0..3 hold scales 0..3 in their low 6 bits, bytes 4..7 mins 0..3; for j >= 4 the
// low 4 bits come from byte j + 4 (scale low nibble, min high) and the top 2 bits from the tops
// of bytes j - 4 and j. So sub-block j reads byte t = j % 4 of each of the three 32-bit words
// @4, @8, @12. The header is the block's first 16 bytes, in one load (h: d | dmin << 16 and the
// three words): these blocks (144 and 176 bytes) are whole 16-byte words, device allocations
// start 256-byte aligned and a view of a block tensor starts at a whole block (ops/tensor), so
// every Q4_K / Q5_K block is 16-byte aligned.
layout(buffer_reference, std430, buffer_reference_align = 16) buffer BufU32x4 { uvec4 v; };
void k_header(uint64_t block, uint i, inout QuantRun r) {
  uvec4 words = BufU32x4(block).v;
  r.h[0] = words.x;
  r.h[2] = words.y;
  r.h[3] = words.z;
  r.h[4] = words.w;
}
// Value q of sub-block `sub`:   x = d * scale * q - dmin * min
float k_value(QuantRun r, uint sub, uint q) {
  int t = int(sub & 3u) * 8;
  uint b0 = bitfieldExtract(r.h[2], t, 8), b4 = bitfieldExtract(r.h[3], t, 8),
       b8 = bitfieldExtract(r.h[4], t, 8);
  uint scale = sub < 4u ? b0 & 63u : (b8 & 15u) | ((b0 >> 6) << 4);
  uint least = sub < 4u ? b4 & 63u : (b8 >> 4) | ((b4 >> 6) << 4);
  precise float d = half_bits(r.h[0] & 0xffffu) * float(scale);
  precise float m = half_bits(r.h[0] >> 16) * float(least);
  precise float x = d * float(q) - m;
  return x;
}

// Q4_K: the header above, u8 qs[128] @16; 64 values per 32 bytes (sub-block 2c in the low
// nibbles, 2c + 1 in the high ones).
#define q4_k_header k_header
uvec2 q4_k_planes(uint i) { return uvec2(16u + 32u * (i >> 6) + (i & 31u), 0u); }
float q4_k_value(QuantRun r, uint i, uint k, uint b0, uint b1) {
  uint sub = i >> 5;
  return k_value(r, sub, low_or_high_nibble(b0, (sub & 1u) != 0u));
}

// Q5_K: as Q4_K with u8 qh[32] @16 (bit `sub` of qh[l] is the fifth bit) and qs @48.
#define q5_k_header k_header
uvec2 q5_k_planes(uint i) { return uvec2(48u + 32u * (i >> 6) + (i & 31u), 16u + (i & 31u)); }
float q5_k_value(QuantRun r, uint i, uint k, uint b0, uint b1) {
  uint sub = i >> 5;
  return k_value(r, sub, low_or_high_nibble(b0, (sub & 1u) != 0u) | (((b1 >> sub) & 1u) << 4));
}

// Q6_K: u8 ql[128] @0, u8 qh[64] @128, int8 scales[16] @192, f16 d @208; each half of 128
// values reads 64 ql bytes (quarters 0, 1 low nibbles, 2, 3 high) and 32 qh bytes (2 bits per
// quarter).   x = d * scale * (q - 32)
uint q6_k_scale_at(uint i) {
  uint part = i >> 7, quarter = (i >> 5) & 3u, l = i & 31u;
  return 192u + 8u * part + (l >> 4) + 2u * quarter;
}
void q6_k_header(uint64_t block, uint i, inout QuantRun r) {
  r.h[0] = block_u16(block, 208u);
  r.h[1] = block_u16(block, q6_k_scale_at(i));
}
uvec2 q6_k_planes(uint i) {
  uint part = i >> 7, quarter = (i >> 5) & 3u, l = i & 31u;
  return uvec2(64u * part + 32u * (quarter & 1u) + l, 128u + 32u * part + l);
}
float q6_k_value(QuantRun r, uint i, uint k, uint b0, uint b1) {
  uint quarter = (i >> 5) & 3u;
  uint high = (b1 >> (2u * quarter)) & 3u;
  int q = int(low_or_high_nibble(b0, quarter >= 2u) | (high << 4)) - 32;
  int scale = int(word_byte(r.h[1], q6_k_scale_at(i)) << 24) >> 24;
  precise float x = half_bits(r.h[0]) * float(scale) * float(q);
  return x;
}

// Byte `address` of memory, from the aligned 32-bit word that holds it.
uint byte_at(uint64_t address) {
  return bitfieldExtract(BufU32(address & ~uint64_t(3)).v[0], int(uint(address) & 3u) * 8, 8);
}
// The 8 bytes from `address` on, as QuantRun.q's first 4 words: from the 2 aligned 32-bit words
// that hold them, or 3 where they straddle one (so no word past their last byte is read).
void bytes8_at(uint64_t address, inout QuantRun r) {
  BufU32 words = BufU32(address & ~uint64_t(3));
  const uint shift = (uint(address) & 3u) * 8u;
  const uint w0 = words.v[0], w1 = words.v[1], w2 = shift != 0u ? words.v[2] : 0u;
  const uint low = uint(((uint64_t(w1) << 32) | uint64_t(w0)) >> shift);
  const uint high = uint(((uint64_t(w2) << 32) | uint64_t(w1)) >> shift);
  r.q[0] = low & 0xffffu;
  r.q[1] = low >> 16;
  r.q[2] = high & 0xffffu;
  r.q[3] = high >> 16;
}

// MXFP4: u8 e @0 (an E8M0 scale), u8 qs[16] @1 (4-bit E2M1 codes, nibbles as Q4_0).
// x = E2M1(q) * 2^(e - 127), which ggml computes as twice E2M1 times the float 2^(e - 128)
// (e - 1 in the exponent field, a subnormal for e < 2, 2^127 for e = 255): every product is
// exact but past the float range, where it is infinite (e = 255 and |E2M1| >= 1, e = 254 and
// >= 2, ...). A device may flush subnormals to zero in a multiply, so the bits are built from
// integer exponent arithmetic instead; codes 0 and 8 are both +0, as ggml's table has it.
void mxfp4_header(uint64_t block, uint i, inout QuantRun r) { r.h[0] = byte_at(block); }
uvec2 mxfp4_planes(uint i) { return uvec2(1u + (i & 15u), 0u); }
float mxfp4_value(QuantRun r, uint i, uint k, uint b0, uint b1) {
  const uint q = low_or_high_nibble(b0, i >= 16u), field = (q >> 1) & 3u;
  if ((q & 7u) == 0u) return 0.0;
  // E2M1 = (1 + fraction / 2) * 2^power: the subnormal code 1 is 0.5 = 1 * 2^-1.
  const uint fraction = field == 0u ? 0u : q & 1u;
  const int power = field == 0u ? -1 : int(field) - 1;
  const int biased = power + int(r.h[0]);  // the float's exponent field, bias 127
  // Infinite, normal, or subnormal: (2 + fraction) * 2^(biased - 128) in units of 2^-149.
  uint bits = biased >= 255 ? 0x7f800000u
              : biased >= 1 ? (uint(biased) << 23) | (fraction << 22)
                            : (2u + fraction) << uint(biased + 21);
  return uintBitsToFloat(bits | ((q & 8u) << 28));
}

#if defined(BLOCK_Q8_0)
#define QUANT_TYPE(name) q8_0_##name
#define QUANT_ELEMENTS Q8_0_ELEMENTS
#define QUANT_BYTES Q8_0_BYTES
#elif defined(BLOCK_Q4_0)
#define QUANT_TYPE(name) q4_0_##name
#define QUANT_ELEMENTS Q4_0_ELEMENTS
#define QUANT_BYTES Q4_0_BYTES
#elif defined(BLOCK_Q4_1)
#define QUANT_TYPE(name) q4_1_##name
#define QUANT_ELEMENTS Q4_1_ELEMENTS
#define QUANT_BYTES Q4_1_BYTES
#elif defined(BLOCK_Q5_0)
#define QUANT_TYPE(name) q5_0_##name
#define QUANT_ELEMENTS Q5_0_ELEMENTS
#define QUANT_BYTES Q5_0_BYTES
#elif defined(BLOCK_Q5_1)
#define QUANT_TYPE(name) q5_1_##name
#define QUANT_ELEMENTS Q5_1_ELEMENTS
#define QUANT_BYTES Q5_1_BYTES
#elif defined(BLOCK_Q2_K)
#define QUANT_TYPE(name) q2_k_##name
#define QUANT_ELEMENTS Q2_K_ELEMENTS
#define QUANT_BYTES Q2_K_BYTES
#elif defined(BLOCK_Q3_K)
#define QUANT_TYPE(name) q3_k_##name
#define QUANT_ELEMENTS Q3_K_ELEMENTS
#define QUANT_BYTES Q3_K_BYTES
#define QUANT_TWO_PLANES
#elif defined(BLOCK_Q4_K)
#define QUANT_TYPE(name) q4_k_##name
#define QUANT_ELEMENTS Q4_K_ELEMENTS
#define QUANT_BYTES Q4_K_BYTES
#elif defined(BLOCK_Q5_K)
#define QUANT_TYPE(name) q5_k_##name
#define QUANT_ELEMENTS Q5_K_ELEMENTS
#define QUANT_BYTES Q5_K_BYTES
#define QUANT_TWO_PLANES
#elif defined(BLOCK_Q6_K)
#define QUANT_TYPE(name) q6_k_##name
#define QUANT_ELEMENTS Q6_K_ELEMENTS
#define QUANT_BYTES Q6_K_BYTES
#define QUANT_TWO_PLANES
#elif defined(BLOCK_MXFP4)
#define QUANT_TYPE(name) mxfp4_##name
#define QUANT_ELEMENTS MXFP4_ELEMENTS
#define QUANT_BYTES MXFP4_BYTES
#define QUANT_BYTE_ADDRESSED
#endif

#ifdef QUANT_ELEMENTS
// Values per run, and the bytes of a row of `cols` values (whole blocks).
const uint QUANT_RUN = 8;
uint64_t quant_row_bytes(uint cols) { return uint64_t(cols / QUANT_ELEMENTS) * QUANT_BYTES; }
// The block holding value c of the row at address `row`.
uint64_t quant_block(uint64_t row, uint c) { return row + uint64_t(c / QUANT_ELEMENTS) * QUANT_BYTES; }

// Loads the run of values i .. i + 7 (i % 8 == 0) of the block at `block`, and nothing else.
QuantRun quant_fetch(uint64_t block, uint i) {
  QuantRun r;
  QUANT_TYPE(header)(block, i, r);
  uvec2 at = QUANT_TYPE(planes)(i);
#ifdef QUANT_BYTE_ADDRESSED
  bytes8_at(block + at.x, r);
#else
  [[unroll]] for (uint w = 0; w < 4; ++w) r.q[w] = block_u16(block, at.x + 2u * w);
#endif
#ifdef QUANT_TWO_PLANES
  [[unroll]] for (uint w = 0; w < 4; ++w) r.q[4 + w] = block_u16(block, at.y + 2u * w);
#endif
  return r;
}

#ifdef QUANT_TWO_PLANES
#define QUANT_PLANE1_BYTE(r, k) word_byte(r.q[4 + (k >> 1)], k)
#else
#define QUANT_PLANE1_BYTE(r, k) 0u
#endif
// The 8 values of a fetched run, starting at value i of its block.
void quant_unpack(QuantRun r, uint i, out float v[QUANT_RUN]) {
  [[unroll]] for (uint k = 0; k < QUANT_RUN; ++k)
    v[k] = QUANT_TYPE(value)(r, i, k, word_byte(r.q[k >> 1], k), QUANT_PLANE1_BYTE(r, k));
}

// Value i of the block at `block`: its run's header and the one word of each plane it needs.
float quant_decode(uint64_t block, uint i) {
  const uint first = i & ~7u, k = i & 7u;
  QuantRun r;
  QUANT_TYPE(header)(block, first, r);
  uvec2 at = QUANT_TYPE(planes)(first);
#ifdef QUANT_BYTE_ADDRESSED
  uint b0 = byte_at(block + at.x + k), b1 = 0u;
#else
  uint b0 = word_byte(block_u16(block, at.x + (k & 6u)), k), b1 = 0u;
#endif
#ifdef QUANT_TWO_PLANES
  b1 = word_byte(block_u16(block, at.y + (k & 6u)), k);
#endif
  return QUANT_TYPE(value)(r, first, k, b0, b1);
}

// Value c of the row at address `row`.
float quant_load(uint64_t row, uint c) {
  return quant_decode(quant_block(row, c), c % QUANT_ELEMENTS);
}
#endif
