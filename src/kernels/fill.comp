#version 450
// fill: every element of a 16- or 32-bit tensor set to one bit pattern (WORD16 selects 16-bit).
// One thread per element in a grid-stride loop; the op dispatches once per contiguous span.
#include "common.glsl"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { FILL_PUSH } pc;

void main() {
#ifdef WORD16
  BufU16 dst = BufU16(pc.dst);
  for (uint i = gl_GlobalInvocationID.x; i < pc.count; i += TOTAL_THREADS)
    dst.v[i] = uint16_t(pc.bits);
#else
  BufU32 dst = BufU32(pc.dst);
  for (uint i = gl_GlobalInvocationID.x; i < pc.count; i += TOTAL_THREADS) dst.v[i] = pc.bits;
#endif
}
