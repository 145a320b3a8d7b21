#version 450
// cross_entropy: the per-row softmax step of the fused lm_head loss, over one chunk of f32
// logits [rows, vocab] (IN_F32; the op computes them by matmul and never holds all tokens at
// once). A workgroup per row (grid-stride over rows): each thread keeps an online max and sum of
// exp over its strided columns, a shared-memory tree combines them in a fixed order (no
// subgroup operations, same bits every run), giving logsumexp; thread 0 writes the f32 loss
// lse - logit[label] (0 for a negative, ignored label). With GRAD = 1 a second pass writes
// dlogits = (softmax - onehot(label)) * grad_scale[0] in OUT_* (zero rows for ignored tokens).
// A label >= vocab cannot be reported from here; it reads as vocab - 1.
#include "common.glsl"
#include "cross_entropy_push.h"
layout(local_size_x = 256) in;
layout(constant_id = 0) const uint GRAD = 1;
layout(push_constant) uniform Push { CROSS_ENTROPY_PUSH } pc;

layout(buffer_reference, std430, buffer_reference_align = 4) buffer BufI32 { int v[]; };

const float kLowest = -3.0e38;  // finite, so exp(kLowest - m) is 0 and never NaN
shared float shared_max[256];
shared float shared_sum[256];

void main() {
  const uint tid = gl_LocalInvocationID.x;
  for (uint r = gl_WorkGroupID.x; r < pc.rows; r += gl_NumWorkGroups.x) {
    int label = BufI32(pc.labels).v[r];
    BufF32 logits = BufF32(pc.logits + uint64_t(r) * pc.vocab * 4);
    float m = kLowest, s = 0.0;
    if (label >= 0) {
      for (uint c = tid; c < pc.vocab; c += gl_WorkGroupSize.x) {
        float x = logits.v[c];
        if (x > m) {
          s = s * exp(m - x) + 1.0;
          m = x;
        } else {
          s += exp(x - m);
        }
      }
    }
    shared_max[tid] = m;
    shared_sum[tid] = s;
    barrier();
    for (uint width = 128; width > 0; width >>= 1) {
      if (tid < width) {
        float m1 = shared_max[tid], m2 = shared_max[tid + width];
        float top = max(m1, m2);
        shared_sum[tid] = shared_sum[tid] * exp(m1 - top) + shared_sum[tid + width] * exp(m2 - top);
        shared_max[tid] = top;
      }
      barrier();
    }
    float lse = shared_max[0] + log(shared_sum[0]);
    uint target = uint(min(label, int(pc.vocab) - 1));
    if (tid == 0) BufF32(pc.losses).v[r] = label >= 0 ? lse - logits.v[target] : 0.0;
    if (GRAD == 1) {
      float scale = BufF32(pc.grad_scale).v[0];
      OUT_BUF dlogits = OUT_BUF(pc.dlogits + uint64_t(r) * pc.vocab * OUT_BYTES);
      for (uint c = tid; c < pc.vocab; c += gl_WorkGroupSize.x) {
        float d = 0.0;
        if (label >= 0) d = (exp(logits.v[c] - lse) - (c == target ? 1.0 : 0.0)) * scale;
        out_store(dlogits, c, d);
      }
    }
    barrier();  // shared memory is reused by the next row
  }
}
