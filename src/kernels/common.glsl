// Shared by every kernel: buffer-device-address types and dtype load/store. Buffers arrive as
// 64-bit addresses in push constants (DESIGN.md decision 2). 16-bit types are stored as raw
// words and converted here, so bf16 runs on every device (decision 4); rounding is to nearest
// even, like the host conversions in src/base/dtype.cpp.
#extension GL_EXT_buffer_reference : require
#extension GL_EXT_buffer_reference2 : require
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_int16 : require

#include "push.h"

layout(buffer_reference, std430, buffer_reference_align = 4) buffer BufF32 { float v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) buffer BufU32 { uint v[]; };
layout(buffer_reference, std430, buffer_reference_align = 2) buffer BufU16 { uint16_t v[]; };

float f16_bits_to_float(uint bits) { return unpackHalf2x16(bits).x; }
uint float_to_f16_bits(float x) { return packHalf2x16(vec2(x, 0.0)) & 0xffffu; }
float bf16_bits_to_float(uint bits) { return uintBitsToFloat(bits << 16); }
uint float_to_bf16_bits(float x) {
  uint u = floatBitsToUint(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (u >> 16) | 0x40u;  // quiet NaN
  return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
}

// IN_* and OUT_* pick the element type a kernel reads and writes:
// IN_BUF / in_load(buf, i) and OUT_BUF / out_load(buf, i) / out_store(buf, i, x), and for 16-bit
// types per vector step (VEC elements at a 16-byte-aligned address, below) in_load_vec(address,
// v), out_load_vec(address, v) and out_store_vec(address, v).
#if defined(IN_F32)
#define IN_BUF BufF32
#define IN_BYTES 4
float in_load(BufF32 b, uint i) { return b.v[i]; }
#elif defined(IN_F16)
#define IN_BUF BufU16
#define IN_BYTES 2
float in_load(BufU16 b, uint i) { return f16_bits_to_float(uint(b.v[i])); }
#define in_load_vec load_vec_f16
#elif defined(IN_BF16)
#define IN_BUF BufU16
#define IN_BYTES 2
float in_load(BufU16 b, uint i) { return bf16_bits_to_float(uint(b.v[i])); }
#define in_load_vec load_vec_bf16
#endif

#if defined(OUT_F32)
#define OUT_BUF BufF32
#define OUT_BYTES 4
float out_load(BufF32 b, uint i) { return b.v[i]; }
void out_store(BufF32 b, uint i, float x) { b.v[i] = x; }
#elif defined(OUT_F16)
#define OUT_BUF BufU16
#define OUT_BYTES 2
float out_load(BufU16 b, uint i) { return f16_bits_to_float(uint(b.v[i])); }
void out_store(BufU16 b, uint i, float x) { b.v[i] = uint16_t(float_to_f16_bits(x)); }
#define out_load_vec load_vec_f16
#define out_store_vec store_vec_f16
#elif defined(OUT_BF16)
#define OUT_BUF BufU16
#define OUT_BYTES 2
float out_load(BufU16 b, uint i) { return bf16_bits_to_float(uint(b.v[i])); }
void out_store(BufU16 b, uint i, float x) { b.v[i] = uint16_t(float_to_bf16_bits(x)); }
#define out_load_vec load_vec_bf16
#define out_store_vec store_vec_bf16
#endif

// Vector steps: kernels that stream whole 16-bit tensors move VEC = 8 consecutive elements per
// thread and step with one 16-byte load or store per operand. The op finds the `head` elements
// before the first one at which every operand's address is 16-byte aligned (ops::vector_head);
// those and the tail after the last whole step go element by element, so any offset and count
// work; head == count: no vector steps. f32 tensors take none: one 4-byte element per thread and
// step already moves 2.5-3.0 TB/s on an H100, and steps of two 16-byte words per thread halved
// that (bench/RESULTS.md).
#define VEC 8
layout(buffer_reference, std430, buffer_reference_align = 16) buffer BufVec { uvec4 v[]; };

uint vector_steps(uint count, uint head) { return (count - head) / VEC; }
// Elements outside the vector steps: the head, then the tail.
uint loose_count(uint count, uint head) { return count - VEC * vector_steps(count, head); }
uint loose_element(uint k, uint count, uint head) {
  return k < head ? k : head + VEC * vector_steps(count, head) + (k - head);
}

// VEC elements of a 16-bit type from / to 16-byte-aligned memory at `address`, as f32.
void load_vec_f16(uint64_t address, out float v[VEC]) {
  uvec4 w = BufVec(address).v[0];
  for (uint k = 0; k < 4; ++k) {
    vec2 pair = unpackHalf2x16(w[k]);
    v[2 * k] = pair.x;
    v[2 * k + 1] = pair.y;
  }
}
void load_vec_bf16(uint64_t address, out float v[VEC]) {
  uvec4 w = BufVec(address).v[0];
  for (uint k = 0; k < 4; ++k) {
    v[2 * k] = uintBitsToFloat(w[k] << 16);
    v[2 * k + 1] = uintBitsToFloat(w[k] & 0xffff0000u);
  }
}
void store_vec_f16(uint64_t address, float v[VEC]) {
  uvec4 w;
  for (uint k = 0; k < 4; ++k) w[k] = packHalf2x16(vec2(v[2 * k], v[2 * k + 1]));
  BufVec(address).v[0] = w;
}
void store_vec_bf16(uint64_t address, float v[VEC]) {
  uvec4 w;
  for (uint k = 0; k < 4; ++k)
    w[k] = float_to_bf16_bits(v[2 * k]) | (float_to_bf16_bits(v[2 * k + 1]) << 16);
  BufVec(address).v[0] = w;
}

// The stride of grid-stride loops (i = global id; i < count; i += TOTAL_THREADS), so a dispatch
// never needs more groups than the device allows. A macro, not a function: gl_WorkGroupSize is
// only known after the kernel's own local_size layout, which comes after this file.
#define TOTAL_THREADS (gl_NumWorkGroups.x * gl_WorkGroupSize.x)
