#version 450
// attention_backward_kv: dv (+)= P^T dout and dk (+)= scale * dS^T q (added where ACCUMULATE is
// set, else written), with P recomputed from q, k and the forward's lse and dS = P * (dout v^T -
// delta) (FlashAttention-2 backward, key side).
// q, dout [B, T, Hq, D], k, v, dk, dv [B, T, Hkv, D] (IN_*/OUT_*, one dtype), lse and delta f32
// [B, Hq, T]. Workgroup (key tile x, kv head y, batch z; in parts, kv head x part) owns BR
// keys and loops over the Hq / Hkv query heads of its group and, for each, the query tiles of BC
// its masks leave visible (under a causal mask only those at or after the keys; tiles whose
// documents cannot meet are skipped), or over its part of those visits
// (attention_kv_parts.glsl). Per query tile: k q^T and v dout^T in BD-column steps
// (attention.glsl, two products per step); P into shared memory, P^T . dout added into the dv
// accumulators; then dS (kept in registers meanwhile) into the same shared memory and dS^T . q
// into the dk accumulators. Every dk/dv element (or its part's partial sum) is written by one
// thread, once: deterministic, no atomics. 256 threads. Tiles (chosen by the op): up to
// D = 128, BR = 64 keys and BC = 32 queries, 4 x ceil(D/16) dk and as many dv accumulators per
// thread; beyond, BR = 32 and BC = 64, 2 x ceil(D/16) each (64 in all at D = 256, as the
// forward). Shared memory at D = 256 (BD = 16, BV = 8): stage 12.25 KiB + P or dS 8.1 KiB +
// lse, delta, document ids 0.9 KiB.
#extension GL_EXT_control_flow_attributes : require
#define SCORE_PAIRS 2
#include "common.glsl"
#include "attention_push.h"
layout(push_constant) uniform Push { ATTENTION_BACKWARD_PUSH } pc;
#include "attention.glsl"
#define KV_PARTS_ID 11
#include "attention_kv_parts.glsl"

shared float visit_lse[BC];  // log2 units
shared float visit_delta[BC];

void main() {
  const uint k0 = gl_WorkGroupID.x * BR;
  const uint hk = kv_head(), b = gl_WorkGroupID.z;
  const uint group = pc.heads_q / pc.heads_kv;
  const uint q_stride = pc.heads_q * D, kv_stride = pc.heads_kv * D;
  const uint own_valid = min(BR, pc.T - k0);
  const uint64_t kv_at = ((uint64_t(b) * pc.T + k0) * pc.heads_kv + hk) * D;
  IN_BUF k = IN_BUF(pc.k + kv_at * IN_BYTES);
  IN_BUF v = IN_BUF(pc.v + kv_at * IN_BYTES);
  const float scale2 = pc.scale * LOG2E;

  load_docs(true, b, k0);
  barrier();
  const ivec2 own_span = own_doc_span(own_valid);

  float acc_k[ACCS], acc_v[ACCS];
  for (uint i = 0; i < ACCS; ++i) acc_k[i] = acc_v[i] = 0.0;

  const uint V_AT = BD * OWN_LD, Q_AT = 2 * BD * OWN_LD, DOUT_AT = Q_AT + BD * VISIT_LD;
  const uvec2 queries = query_range(k0, k0 + own_valid);
  const uint first_q0 = queries.x / BC * BC;
  const uint query_tiles = (queries.y - first_q0 + BC - 1) / BC;
  const uvec2 visits = part_visits(group, query_tiles);
  for (uint n = visits.x; n < visits.y; ++n) {
    const uint h = hk * group + n / query_tiles, q0 = first_q0 + n % query_tiles * BC;
    const uint visit_valid = min(BC, pc.T - q0);
    if (pc.documents != 0) {
      load_docs(false, b, q0);
      barrier();
      bool meet = documents_meet(own_span, visit_valid);
      barrier();
      if (!meet) continue;
    }
    const uint64_t q_at = ((uint64_t(b) * pc.T + q0) * pc.heads_q + h) * D;
    IN_BUF q = IN_BUF(pc.q + q_at * IN_BYTES);
    IN_BUF dout = IN_BUF(pc.dout + q_at * IN_BYTES);
    const uint64_t row_at = ((uint64_t(b) * pc.heads_q + h) * pc.T + q0) * 4;
    for (uint c = thread_id(); c < BC; c += THREADS) {
      visit_lse[c] = c < visit_valid ? BufF32(pc.lse + row_at).v[c] * LOG2E : 0.0;
      visit_delta[c] = c < visit_valid ? BufF32(pc.delta + row_at).v[c] : 0.0;
    }

    float s[SCORES], dp[SCORES];
    for (uint i = 0; i < SCORES; ++i) s[i] = dp[i] = 0.0;
    [[dont_unroll]] for (uint d0 = 0; d0 < D; d0 += BD) {
      load_slice(k, kv_stride, BR, own_valid, d0, 0, OWN_LD);
      load_slice(v, kv_stride, BR, own_valid, d0, V_AT, OWN_LD);
      load_slice(q, q_stride, BC, visit_valid, d0, Q_AT, VISIT_LD);
      load_slice(dout, q_stride, BC, visit_valid, d0, DOUT_AT, VISIT_LD);
      barrier();
      multiply_slice(s, 0, Q_AT);
      multiply_slice(dp, V_AT, DOUT_AT);
      barrier();
    }
    float ds[SCORES];
    for (uint i = 0; i < SR; ++i)
      for (uint j = 0; j < SC; ++j) {
        uint r = score_row(i), c = score_col(j);
        bool keep = r < own_valid && c < visit_valid && visible(q0 + c, k0 + r) &&
                    same_document(r, c);
        float p = keep ? exp2(s[i * SC + j] * scale2 - visit_lse[c]) : 0.0;
        ds[i * SC + j] = p * (dp[i * SC + j] - visit_delta[c]);
        weights[r * W_LD + c] = p;
      }
    barrier();
    accumulate(acc_v, dout, q_stride, visit_valid);
    for (uint i = 0; i < SR; ++i)
      for (uint j = 0; j < SC; ++j) weights[score_row(i) * W_LD + score_col(j)] = ds[i * SC + j];
    barrier();
    accumulate(acc_k, q, q_stride, visit_valid);
  }

  for (uint i = 0; i < TR; ++i) {
    uint r = acc_row(i);
    if (r >= own_valid) continue;
    for (uint j = 0; j < TC; ++j)
      if (acc_col(j) < D)
        write_kv(kv_at, r * kv_stride + acc_col(j), pc.scale * acc_k[i * TC + j],
                 acc_v[i * TC + j]);
  }
}
