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
// IN_BUF / in_load(buf, i) and OUT_BUF / out_load(buf, i) / out_store(buf, i, x).
#if defined(IN_F32)
#define IN_BUF BufF32
#define IN_BYTES 4
float in_load(BufF32 b, uint i) { return b.v[i]; }
#elif defined(IN_F16)
#define IN_BUF BufU16
#define IN_BYTES 2
float in_load(BufU16 b, uint i) { return f16_bits_to_float(uint(b.v[i])); }
#elif defined(IN_BF16)
#define IN_BUF BufU16
#define IN_BYTES 2
float in_load(BufU16 b, uint i) { return bf16_bits_to_float(uint(b.v[i])); }
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
#elif defined(OUT_BF16)
#define OUT_BUF BufU16
#define OUT_BYTES 2
float out_load(BufU16 b, uint i) { return bf16_bits_to_float(uint(b.v[i])); }
void out_store(BufU16 b, uint i, float x) { b.v[i] = uint16_t(float_to_bf16_bits(x)); }
#endif

// The stride of grid-stride loops (i = global id; i < count; i += TOTAL_THREADS), so a dispatch
// never needs more groups than the device allows. A macro, not a function: gl_WorkGroupSize is
// only known after the kernel's own local_size layout, which comes after this file.
#define TOTAL_THREADS (gl_NumWorkGroups.x * gl_WorkGroupSize.x)
