#version 450
// fill: every element of a 16- or 32-bit tensor set to one bit pattern (WORD16 selects 16-bit).
// One 32-bit word per thread per step of a grid-stride loop: 16-bit elements go in pairs after
// `head` (0 or 1) elements that reach a 4-byte boundary, a last odd element alone. 4-byte stores
// fill 3.0 TB/s on an H100, 2-byte ones 1.6 and 16-byte ones 1.4 (bench/RESULTS.md). The op
// dispatches once per contiguous span.
#include "common.glsl"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { FILL_PUSH } pc;

void main() {
#ifdef WORD16
  uint words = (pc.count - pc.head) / 2;
  BufU32 pairs = BufU32(pc.dst + 2 * pc.head);
  uint pair = (pc.bits & 0xffffu) * 0x10001u;
  for (uint i = gl_GlobalInvocationID.x; i < words; i += TOTAL_THREADS) pairs.v[i] = pair;
  // The head element and a last odd one.
  uint k = gl_GlobalInvocationID.x;
  if (k < pc.count - 2 * words) BufU16(pc.dst).v[k < pc.head ? k : pc.count - 1] = uint16_t(pc.bits);
#else
  BufU32 dst = BufU32(pc.dst);
  for (uint i = gl_GlobalInvocationID.x; i < pc.count; i += TOTAL_THREADS) dst.v[i] = pc.bits;
#endif
}
