#version 450
// attention_backward_q: dq (+)= scale * dS k (added where ACCUMULATE is set, else written) with
// dS = P * (dout v^T - delta), P recomputed from q, k and the forward's lse (FlashAttention-2
// backward, query side). q, dout, dq [B, T, Hq, D], k, v [B, T, Hkv, D] (IN_*/OUT_*, one
// dtype), lse and delta f32 [B, Hq, T]. Workgroup (query
// tile x, head y, batch z) owns BR = 64 query rows and loops over the key tiles of BC = 32 its
// masks leave visible (the forward's skipping), latest query tiles first. Per key tile: scores
// and dout v^T in BD-column steps (attention.glsl, two products per step), dS into shared
// memory, then dS . k added into 4 x ceil(D/16) accumulators per thread. Each dq element is
// written by one thread, once, in a fixed order: deterministic, no atomics. 256 threads;
// shared memory at D = 256 (BD = BV = 16): stage 16 KiB + dS 8.25 KiB + document ids.
#extension GL_EXT_control_flow_attributes : require
#define SCORE_PAIRS 2
#include "common.glsl"
#include "attention_push.h"
layout(push_constant) uniform Push { ATTENTION_BACKWARD_PUSH } pc;
#include "attention.glsl"
// Whether dq is added into (the op's GradientStore::add) or written: after the tiles' constants.
layout(constant_id = 11) const bool ACCUMULATE = true;

void main() {
  const uint tiles = (pc.T + BR - 1) / BR;
  const uint q0 = (tiles - 1 - gl_WorkGroupID.x) * BR;
  const uint h = gl_WorkGroupID.y, b = gl_WorkGroupID.z;
  const uint hk = h / (pc.heads_q / pc.heads_kv);
  const uint q_stride = pc.heads_q * D, kv_stride = pc.heads_kv * D;
  const uint own_valid = min(BR, pc.T - q0);
  const uint64_t q_at = ((uint64_t(b) * pc.T + q0) * pc.heads_q + h) * D;
  IN_BUF q = IN_BUF(pc.q + q_at * IN_BYTES);
  IN_BUF dout = IN_BUF(pc.dout + q_at * IN_BYTES);
  const float scale2 = pc.scale * LOG2E;

  // lse (log2 units) and delta of this thread's score rows.
  const uint64_t row_at = ((uint64_t(b) * pc.heads_q + h) * pc.T + q0) * 4;
  BufF32 lse = BufF32(pc.lse + row_at), delta = BufF32(pc.delta + row_at);
  float own_lse[SR], own_delta[SR];
  for (uint i = 0; i < SR; ++i) {
    uint r = score_row(i);
    own_lse[i] = r < own_valid ? lse.v[r] * LOG2E : 0.0;
    own_delta[i] = r < own_valid ? delta.v[r] : 0.0;
  }
  load_docs(true, b, q0);
  barrier();
  const ivec2 own_span = own_doc_span(own_valid);

  float acc[ACCS];
  for (uint i = 0; i < ACCS; ++i) acc[i] = 0.0;

  const uint DOUT_AT = BD * OWN_LD, K_AT = 2 * BD * OWN_LD, V_AT = K_AT + BD * VISIT_LD;
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

    float s[SCORES], dp[SCORES];
    for (uint i = 0; i < SCORES; ++i) s[i] = dp[i] = 0.0;
    [[dont_unroll]] for (uint d0 = 0; d0 < D; d0 += BD) {
      load_slice(q, q_stride, BR, own_valid, d0, 0, OWN_LD);
      load_slice(dout, q_stride, BR, own_valid, d0, DOUT_AT, OWN_LD);
      load_slice(k, kv_stride, BC, visit_valid, d0, K_AT, VISIT_LD);
      load_slice(v, kv_stride, BC, visit_valid, d0, V_AT, VISIT_LD);
      barrier();
      multiply_slice(s, 0, K_AT);
      multiply_slice(dp, DOUT_AT, V_AT);
      barrier();
    }
    for (uint i = 0; i < SR; ++i)
      for (uint j = 0; j < SC; ++j) {
        uint r = score_row(i), c = score_col(j);
        bool keep = r < own_valid && c < visit_valid && visible(q0 + r, k0 + c) &&
                    same_document(r, c);
        float p = keep ? exp2(s[i * SC + j] * scale2 - own_lse[i]) : 0.0;
        weights[r * W_LD + c] = p * (dp[i * SC + j] - own_delta[i]);
      }
    barrier();
    accumulate(acc, k, kv_stride, visit_valid);
  }

  OUT_BUF dq = OUT_BUF(pc.grad_a + q_at * OUT_BYTES);
  for (uint i = 0; i < TR; ++i) {
    uint r = acc_row(i);
    if (r >= own_valid) continue;
    for (uint j = 0; j < TC; ++j) {
      uint at = r * q_stride + acc_col(j);
      if (acc_col(j) >= D) continue;
      float grad = pc.scale * acc[i * TC + j];
      if (ACCUMULATE) grad += out_load(dq, at);
      out_store(dq, at, grad);
    }
  }
}
