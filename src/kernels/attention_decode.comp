#version 450
// attention_decode: o = softmax(scale * q k^T) v for ONE query per (batch row, head) against a
// KV cache, positions [key_begin, key_end) (attention_decode_push.h): the newest token of an
// incremental decode. q, o [B, Hq, D], k, v [B, capacity, Hkv, D] (IN_*/OUT_*, one dtype); query
// head h reads kv head h / (Hq / Hkv); a per-head sink where SINKS is set. Workgroup (head x,
// batch y) of 256 threads walks the keys in chunks of 256 with an online softmax: each thread
// scores one key of the chunk (a dot product over D against q held in shared memory), the
// workgroup reduces the chunk's max and sum in fixed-order trees (the same bits every run), and
// then G = 256 / D groups of D threads each add P . V over every G-th key of the chunk into one
// accumulator per thread; the G partial accumulators are summed at the end. All math f32.
// head_dim up to 256; decoding is bound by reading the cache, which this reads once.
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"
#include "attention_decode_push.h"
layout(push_constant) uniform Push { ATTENTION_DECODE_PUSH } pc;
layout(constant_id = 0) const uint D = 128;  // head_dim
// Whether the query takes a sink (pc.sinks): a constant, so that without sinks nothing of theirs
// runs.
layout(constant_id = 1) const bool SINKS = false;
layout(local_size_x = 256) in;

const uint CHUNK = 256;          // keys per step: one score per thread
const uint G = CHUNK / D;        // groups accumulating P . V, D threads each
const float LOG2E = 1.4426950408889634;

shared float q_shared[D];
shared float p[CHUNK];           // the chunk's scores, then its probabilities
shared float tree[CHUNK];        // reductions, then the groups' partial accumulators

float negative_infinity() { return uintBitsToFloat(0xff800000u); }

// The workgroup's max (is_max) or sum of `value`, in a fixed tree order; every thread gets it.
float reduce(float value, bool is_max) {
  uint t = gl_LocalInvocationID.x;
  tree[t] = value;
  barrier();
  [[dont_unroll]] for (uint width = CHUNK / 2; width > 0; width >>= 1) {
    if (t < width) tree[t] = is_max ? max(tree[t], tree[t + width]) : tree[t] + tree[t + width];
    barrier();
  }
  float total = tree[0];
  barrier();  // before the next call writes tree again
  return total;
}

void main() {
  const uint t = gl_LocalInvocationID.x, h = gl_WorkGroupID.x, b = gl_WorkGroupID.y;
  const uint hk = h / (pc.heads_q / pc.heads_kv);
  const uint kv_stride = pc.heads_kv * D;
  const uint64_t q_at = (uint64_t(b) * pc.heads_q + h) * D;
  const uint64_t kv_at = uint64_t(b) * pc.capacity * kv_stride + uint64_t(hk) * D;
  IN_BUF q = IN_BUF(pc.q + q_at * IN_BYTES);
  IN_BUF k = IN_BUF(pc.k + kv_at * IN_BYTES);
  IN_BUF v = IN_BUF(pc.v + kv_at * IN_BYTES);
  const float scale2 = pc.scale * LOG2E;
  if (t < D) q_shared[t] = in_load(q, t);
  barrier();

  const uint d = t % D, group = t / D;
  const bool accumulates = group < G;
  // A sink is one more score with a zero value: the running max and sum start from it.
  float acc = 0.0, row_max = negative_infinity(), row_sum = 0.0;
  if (SINKS) {  // a branch, not a select: no load of the sinks without them
    row_max = BufF32(pc.sinks).v[h] * LOG2E;
    row_sum = 1.0;
  }
  [[dont_unroll]] for (uint k0 = pc.key_begin; k0 < pc.key_end; k0 += CHUNK) {
    const uint valid = min(CHUNK, pc.key_end - k0);
    float s = negative_infinity();
    if (t < valid) {
      float dot = 0.0;
      [[dont_unroll]] for (uint i = 0; i < D; ++i) dot += q_shared[i] * in_load(k, (k0 + t) * kv_stride + i);
      s = dot * scale2;
    }
    // Every chunk holds at least one key, so the new max is finite.
    float m = max(row_max, reduce(s, true));
    float e = t < valid ? exp2(s - m) : 0.0;
    p[t] = e;
    float rescale = exp2(row_max - m);  // 0 on the first chunk without a sink (row_max = -inf)
    row_sum = row_sum * rescale + reduce(e, false);
    row_max = m;
    acc *= rescale;
    if (accumulates)
      [[dont_unroll]] for (uint j = group; j < valid; j += G)
        acc += p[j] * in_load(v, (k0 + j) * kv_stride + d);
    barrier();  // p is rewritten by the next chunk
  }

  tree[t] = acc;
  barrier();
  if (t < D) {
    float total = 0.0;
    for (uint g = 0; g < G; ++g) total += tree[g * D + t];
    OUT_BUF o = OUT_BUF(pc.o + q_at * OUT_BYTES);
    out_store(o, t, row_sum > 0.0 ? total / row_sum : 0.0);
  }
}
