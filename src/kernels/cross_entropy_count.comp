#version 450
// cross_entropy_count: the mean's denominator of the loss over a whole batch, which may be
// several micro-batches (label tensors): one workgroup counts the labels >= 0 of one contiguous
// piece with a shared-memory tree and adds the count to a u32 counter; the op runs one dispatch
// per piece in order, and the last writes grad_scale = 1 / count (0 when every label is
// ignored, so such a step adds no gradient). Integer counts: exact and deterministic.
#include "common.glsl"
#include "cross_entropy_push.h"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { CROSS_ENTROPY_COUNT_PUSH } pc;

layout(buffer_reference, std430, buffer_reference_align = 4) buffer BufI32 { int v[]; };

shared uint partial[256];

void main() {
  const uint tid = gl_LocalInvocationID.x;
  BufI32 labels = BufI32(pc.labels);
  uint n = 0;
  for (uint i = tid; i < pc.count; i += gl_WorkGroupSize.x) n += labels.v[i] >= 0 ? 1u : 0u;
  partial[tid] = n;
  barrier();
  for (uint width = 128; width > 0; width >>= 1) {
    if (tid < width) partial[tid] += partial[tid + width];
    barrier();
  }
  if (tid != 0) return;
  BufU32 counter = BufU32(pc.counter);
  uint total = partial[0] + (pc.first != 0 ? 0u : counter.v[0]);
  if (pc.last != 0) BufF32(pc.grad_scale).v[0] = total > 0 ? 1.0 / float(total) : 0.0;
  else counter.v[0] = total;
}
