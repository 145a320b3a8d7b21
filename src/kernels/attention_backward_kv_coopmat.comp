#version 450
// attention_backward_kv on cooperative matrices: the contract of attention_backward_kv.comp for
// f16 or bf16 tensors (IN_F16 / OUT_F16 or IN_BF16 / OUT_BF16). Workgroup (key tile x, kv head
// y, batch z; in parts, kv head x part), 4 subgroups with RB blocks of F keys each
// (attention_coopmat.glsl), k and v of its keys as A matrices in registers; it loops over the
// Hq / Hkv query heads of its group and, for each, the query tiles of BC its masks leave
// visible, or over its part of those visits (attention_kv_parts.glsl; q and dout staged side by
// side). Per F queries: S^T = k q^T and dP^T = v dout^T on coopmats, then element-wise in
// registers (element_index) P^T under the masks and dS^T = P^T (dP^T - delta), both stored as
// ELEM; then dV (+)= P^T dout and dK (+)= dS^T q, while the next visit's q, dout, lse and delta
// are fetched into registers: no visit waits on a global load. Each dk/dv element is stored (or
// its part's partial sum) by one lane, once: deterministic, no atomics. Shared memory at F = 16,
// RB = 1, BC = 32: 29 KiB at D = 128, 45 KiB at D = 256 (where the k, v, dk and dv registers,
// 2 x 2 x D / 16 matrices, spill).
#define TILE_REGIONS 2
#define HALF_STAGES 2
#define FETCH_SLOTS 2
#include "common.glsl"
#include "attention_push.h"
layout(push_constant) uniform Push { ATTENTION_BACKWARD_PUSH } pc;
#include "attention_coopmat.glsl"
#define KV_PARTS_ID 6
#include "attention_kv_parts.glsl"

shared float visit_lse[BC];  // log2 units
shared float visit_delta[BC];

// A visit's lse and delta in registers (LSE_STEPS per thread), fetched with its q and dout.
const uint LSE_STEPS = (BC + THREADS - 1) / THREADS;
float fetched_lse[LSE_STEPS], fetched_delta[LSE_STEPS];

// Fetches the q, dout, lse and delta of the visit to query head h, queries [q0, q0 + valid) of
// batch row b into registers (valid 0: none, past the last visit).
void fetch_visit(uint b, uint h, uint q0, uint valid) {
  const uint64_t q_at = ((uint64_t(b) * pc.T + q0) * pc.heads_q + h) * D * 2;
  fetch_rows(pc.q + q_at, pc.heads_q * D, valid, 0);
  fetch_rows(pc.dout + q_at, pc.heads_q * D, valid, 1);
  const uint64_t row_at = ((uint64_t(b) * pc.heads_q + h) * pc.T + q0) * 4;
  [[unroll]] for (uint step = 0; step < LSE_STEPS; ++step) {
    uint c = thread_id() + step * THREADS;
    bool live = c < BC && c < valid;
    fetched_lse[step] = live ? BufF32(pc.lse + row_at).v[c] * LOG2E : 0.0;
    fetched_delta[step] = live ? BufF32(pc.delta + row_at).v[c] : 0.0;
  }
}

// Stages the fetched visit: q in region 0, dout in region 1, lse and delta. Callers barrier
// before (the previous visit's reads) and after.
void store_visit() {
  store_rows(0, 0);
  store_rows(1, 1);
  [[unroll]] for (uint step = 0; step < LSE_STEPS; ++step) {
    uint c = thread_id() + step * THREADS;
    if (c >= BC) continue;
    visit_lse[c] = fetched_lse[step];
    visit_delta[c] = fetched_delta[step];
  }
}

void main() {
  const uint k0 = gl_WorkGroupID.x * BR;
  const uint hk = kv_head(), b = gl_WorkGroupID.z;
  const uint group = pc.heads_q / pc.heads_kv;
  const uint kv_stride = pc.heads_kv * D;
  const uint own_valid = min(BR, pc.T - k0);
  const uint64_t kv_at = ((uint64_t(b) * pc.T + k0) * pc.heads_kv + hk) * D;
  const uint sg0 = subgroup_row();
  const float scale2 = pc.scale * LOG2E;

  load_docs(true, b, k0);
  MAT_A kf[RB][DB], vf[RB][DB];  // k and v of this subgroup's keys
  for (uint c0 = 0; c0 < BR; c0 += BC) {
    uint valid = own_valid > c0 ? own_valid - c0 : 0;
    stage_rows(pc.k + (kv_at + uint64_t(c0) * kv_stride) * 2, kv_stride, valid, 0);
    stage_rows(pc.v + (kv_at + uint64_t(c0) * kv_stride) * 2, kv_stride, valid, 1);
    barrier();
    [[unroll]] for (uint rb = 0; rb < RB; ++rb) {
      const uint row = sg0 + rb * F;
      if (row >= c0 && row < c0 + BC)
        [[unroll]] for (uint d = 0; d < DB; ++d) {
          coopMatLoad(kf[rb][d], tiles, tile_at(0, row - c0, d), LD4, ROW_MAJOR);
          coopMatLoad(vf[rb][d], tiles, tile_at(1, row - c0, d), LD4, ROW_MAJOR);
        }
    }
    barrier();
  }
  const ivec2 own_span = own_doc_span(own_valid);
  const ACC index = element_index();

  ACC acc_k[RB][DB], acc_v[RB][DB];
  [[unroll]] for (uint rb = 0; rb < RB; ++rb)
    [[unroll]] for (uint d = 0; d < DB; ++d) acc_k[rb][d] = acc_v[rb][d] = ACC(0.0);
  const uint p_at = sg0 * HALF_LD, ds_at = (BR + sg0) * HALF_LD;

  // This part's visits (query head g, query tile q0) in order (attention_kv_parts.glsl); the
  // next visit's q, dout, lse and delta are fetched during this one's dK and dV products.
  const uvec2 queries = query_range(k0, k0 + own_valid);
  const uint first_q0 = queries.x / BC * BC;
  const uint query_tiles = (queries.y - first_q0 + BC - 1) / BC;
  const uvec2 visits = part_visits(group, query_tiles);
  uint g = visits.x / query_tiles, q0 = first_q0 + visits.x % query_tiles * BC;
  fetch_visit(b, hk * group + g, q0, visits.x < visits.y ? pc.T - q0 : 0);
  for (uint n = visits.x; n < visits.y; ++n) {
    const uint visit_valid = min(BC, pc.T - q0);
    // The next visit, fetched by fetch_visit (0 rows past the last).
    const uint next_g = q0 + BC < queries.y ? g : g + 1;
    const uint next_q0 = q0 + BC < queries.y ? q0 + BC : first_q0;
    const uint next_valid = n + 1 < visits.y ? pc.T - next_q0 : 0;
    const uint next_h = hk * group + min(next_g, group - 1);
    barrier();  // the previous tile's reads of shared memory are done
    if (pc.documents != 0) {
      load_docs(false, b, q0);
      barrier();
      bool meet = documents_meet(own_span, visit_valid);
      if (!meet) {
        fetch_visit(b, next_h, next_q0, next_valid);
        g = next_g;
        q0 = next_q0;
        continue;
      }
    }
    const bool whole = tile_all_visible(q0, visit_valid, k0, own_valid);
    store_visit();
    barrier();

    [[unroll]] for (uint j = 0; j < CB; ++j) {
      ACC s[RB], dp[RB];
      [[unroll]] for (uint rb = 0; rb < RB; ++rb) s[rb] = dp[rb] = ACC(0.0);
      [[unroll]] for (uint d = 0; d < DB; ++d) {
        MAT_B qb, gb;
        coopMatLoad(qb, tiles, tile_at(0, j * F, d), LD4, COLUMN_MAJOR);
        coopMatLoad(gb, tiles, tile_at(1, j * F, d), LD4, COLUMN_MAJOR);
        [[unroll]] for (uint rb = 0; rb < RB; ++rb) {
          s[rb] = coopMatMulAdd(kf[rb][d], qb, s[rb]);
          dp[rb] = coopMatMulAdd(vf[rb][d], gb, dp[rb]);
        }
      }
      [[unroll]] for (uint rb = 0; rb < RB; ++rb) {
        [[unroll]] for (uint i = 0; i < index.length(); ++i) {
          uint r = sg0 + rb * F + element_row(index, i), c = j * F + element_col(index, i);
          bool keep = r < own_valid && c < visit_valid &&
                      (whole || (visible(q0 + c, k0 + r) && same_document(r, c)));
          float p = keep ? exp2(s[rb][i] * scale2 - visit_lse[c]) : 0.0;
          dp[rb][i] = p * (dp[rb][i] - visit_delta[c]);
          s[rb][i] = p;
        }
        stage_product(s[rb], index, p_at + rb * F * HALF_LD + j * F);
        stage_product(dp[rb], index, ds_at + rb * F * HALF_LD + j * F);
      }
    }
    subgroupMemoryBarrierShared();
    subgroupBarrier();
    fetch_visit(b, next_h, next_q0, next_valid);
    [[unroll]] for (uint j = 0; j < CB; ++j) {
      MAT_A pa[RB], da[RB];
      [[unroll]] for (uint rb = 0; rb < RB; ++rb) {
        coopMatLoad(pa[rb], half_stage, p_at + rb * F * HALF_LD + j * F, HALF_LD, ROW_MAJOR);
        coopMatLoad(da[rb], half_stage, ds_at + rb * F * HALF_LD + j * F, HALF_LD, ROW_MAJOR);
      }
      [[unroll]] for (uint d = 0; d < DB; ++d) {
        MAT_B qb, gb;
        coopMatLoad(gb, tiles, tile_at(1, j * F, d), LD4, ROW_MAJOR);
        coopMatLoad(qb, tiles, tile_at(0, j * F, d), LD4, ROW_MAJOR);
        [[unroll]] for (uint rb = 0; rb < RB; ++rb) {
          acc_v[rb][d] = coopMatMulAdd(pa[rb], gb, acc_v[rb][d]);
          acc_k[rb][d] = coopMatMulAdd(da[rb], qb, acc_k[rb][d]);
        }
      }
    }
    g = next_g;
    q0 = next_q0;
  }

  [[unroll]] for (uint rb = 0; rb < RB; ++rb)
    [[unroll]] for (uint i = 0; i < index.length(); ++i) {
      uint r = sg0 + rb * F + element_row(index, i);
      if (r >= own_valid) continue;
      [[unroll]] for (uint d = 0; d < DB; ++d)
        write_kv(kv_at, r * kv_stride + d * F + element_col(index, i), pc.scale * acc_k[rb][d][i],
                 acc_v[rb][d][i]);
    }
}
