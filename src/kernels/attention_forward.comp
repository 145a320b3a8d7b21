#version 450
// attention_forward: o = softmax(scale * q k^T, masked) v and lse = the log-sum-exp of the
// scaled, masked scores per query row, online (flash-attention): the scores never leave the
// workgroup, memory is O(T). q, o [B, T, Hq, D], k, v [B, T, Hkv, D] (IN_*/OUT_*, one dtype),
// lse f32 [B, Hq, T]; query head h reads kv head h / (Hq / Hkv). Masks: causal, sliding window,
// document ids (attention_push.h); a per-head sink where SINKS is set. Workgroup (query tile
// x, head y, batch z) owns BR = 64 query rows and visits only the key tiles of BC = 32 its masks
// leave visible (about half under a causal mask; tiles whose documents cannot meet are skipped
// too), latest query tiles first so the longest rows start early. Per key tile: scores in
// BD-column steps (attention.glsl), a row-wise rescale of the running max / sum by one thread
// per row, then P . V added into 4 x ceil(D/16) accumulators per thread. 256 threads; shared
// memory at D = 256 (BD = BV = 16): stage 16 KiB + P 8.25 KiB + row state 1.1 KiB. All math f32;
// a fully masked tile adds exact zeros (exp2(-inf)), never NaN. head_dim up to 256.
#extension GL_EXT_control_flow_attributes : require
#define SCORE_PAIRS 1
#include "common.glsl"
#include "attention_push.h"
layout(push_constant) uniform Push { ATTENTION_FORWARD_PUSH } pc;
#include "attention.glsl"
// Whether the rows take a sink (pc.sinks): a constant, so that without sinks nothing of theirs
// runs (after the tiles' constants).
layout(constant_id = 11) const bool SINKS = false;

shared float row_max[BR];    // running max of the scores, log2 units
shared float row_sum[BR];    // running sum of exp2(score - max)
shared float row_scale[BR];  // what this key tile multiplies the accumulators by

void main() {
  const uint tiles = (pc.T + BR - 1) / BR;
  const uint q0 = (tiles - 1 - gl_WorkGroupID.x) * BR;
  const uint h = gl_WorkGroupID.y, b = gl_WorkGroupID.z;
  const uint hk = h / (pc.heads_q / pc.heads_kv);
  const uint q_stride = pc.heads_q * D, kv_stride = pc.heads_kv * D;
  const uint own_valid = min(BR, pc.T - q0);
  const uint64_t q_at = ((uint64_t(b) * pc.T + q0) * pc.heads_q + h) * D;
  IN_BUF q = IN_BUF(pc.q + q_at * IN_BYTES);
  const float scale2 = pc.scale * LOG2E;

  load_docs(true, b, q0);
  if (thread_id() < BR) {
    // A sink is one more column of every row, exp2(sink - max) with a zero value: the running
    // max and sum start from it, and the rescales below carry it.
    row_max[thread_id()] = negative_infinity();
    row_sum[thread_id()] = 0.0;
    if (SINKS) {  // a branch, not a select: no load of the sinks without them
      row_max[thread_id()] = BufF32(pc.sinks).v[h] * LOG2E;
      row_sum[thread_id()] = 1.0;
    }
  }
  barrier();
  const ivec2 own_span = own_doc_span(own_valid);

  float acc[ACCS];
  for (uint i = 0; i < ACCS; ++i) acc[i] = 0.0;

  const uvec2 keys = key_range(q0, q0 + own_valid);
  for (uint k0 = keys.x / BC * BC; k0 < keys.y; k0 += BC) {
    const uint visit_valid = min(BC, pc.T - k0);
    if (pc.documents != 0) {
      load_docs(false, b, k0);
      barrier();
      bool meet = documents_meet(own_span, visit_valid);
      barrier();
      if (!meet) continue;
    }
    const uint64_t kv_at = ((uint64_t(b) * pc.T + k0) * pc.heads_kv + hk) * D;
    IN_BUF k = IN_BUF(pc.k + kv_at * IN_BYTES);
    IN_BUF v = IN_BUF(pc.v + kv_at * IN_BYTES);

    float s[SCORES];
    for (uint i = 0; i < SCORES; ++i) s[i] = 0.0;
    [[dont_unroll]] for (uint d0 = 0; d0 < D; d0 += BD) {
      load_slice(q, q_stride, BR, own_valid, d0, 0, OWN_LD);
      load_slice(k, kv_stride, BC, visit_valid, d0, BD * OWN_LD, VISIT_LD);
      barrier();
      multiply_slice(s, 0, BD * OWN_LD);
      barrier();
    }
    for (uint i = 0; i < SR; ++i)
      for (uint j = 0; j < SC; ++j) {
        uint r = score_row(i), c = score_col(j);
        bool keep = r < own_valid && c < visit_valid && visible(q0 + r, k0 + c) &&
                    same_document(r, c);
        weights[r * W_LD + c] = keep ? s[i * SC + j] * scale2 : negative_infinity();
      }
    barrier();
    if (thread_id() < BR) {
      uint r = thread_id();
      float previous = row_max[r], m = previous;
      [[dont_unroll]] for (uint c = 0; c < BC; ++c) m = max(m, weights[r * W_LD + c]);
      float base = isinf(m) ? 0.0 : m;  // -inf: nothing visible yet; every term below is 0
      float sum = 0.0;
      [[dont_unroll]] for (uint c = 0; c < BC; ++c) {
        float p = exp2(weights[r * W_LD + c] - base);
        weights[r * W_LD + c] = p;
        sum += p;
      }
      float rescale = exp2(previous - base);
      row_scale[r] = rescale;
      row_sum[r] = row_sum[r] * rescale + sum;
      row_max[r] = m;
    }
    barrier();
    for (uint i = 0; i < TR; ++i) {
      float rescale = row_scale[acc_row(i)];
      for (uint j = 0; j < TC; ++j) acc[i * TC + j] *= rescale;
    }
    accumulate(acc, v, kv_stride, visit_valid);
  }

  OUT_BUF o = OUT_BUF(pc.o + q_at * OUT_BYTES);
  for (uint i = 0; i < TR; ++i) {
    uint r = acc_row(i);
    if (r >= own_valid) continue;
    float sum = row_sum[r];
    float inverse = sum > 0.0 ? 1.0 / sum : 0.0;
    for (uint j = 0; j < TC; ++j)
      if (acc_col(j) < D) out_store(o, r * q_stride + acc_col(j), acc[i * TC + j] * inverse);
  }
  if (thread_id() < own_valid) {
    uint r = thread_id();
    float sum = row_sum[r];
    BufF32 lse = BufF32(pc.lse + ((uint64_t(b) * pc.heads_q + h) * pc.T + q0) * 4);
    lse.v[r] = sum > 0.0 ? (row_max[r] + log2(sum)) * LN2 : negative_infinity();
  }
}
