#version 450
// copy2d: a rows x cols block between row-major tensors with their own row strides (elements),
// 16- or 32-bit elements (WORD16). x walks columns so reads and writes are contiguous; y walks
// rows in a grid-stride loop.
#include "common.glsl"
layout(local_size_x = 64, local_size_y = 4) in;
layout(push_constant) uniform Push { COPY2D_PUSH } pc;

void main() {
#ifdef WORD16
  BufU16 src = BufU16(pc.src);
  BufU16 dst = BufU16(pc.dst);
#else
  BufU32 src = BufU32(pc.src);
  BufU32 dst = BufU32(pc.dst);
#endif
  uint c = gl_GlobalInvocationID.x;
  if (c >= pc.cols) return;
  for (uint r = gl_GlobalInvocationID.y; r < pc.rows; r += gl_NumWorkGroups.y * 4)
    dst.v[r * pc.dst_ld + c] = src.v[r * pc.src_ld + c];
}
