#version 450
// attention_backward_kv on cooperative matrices: the contract of attention_backward_kv.comp for
// f16 or bf16 tensors (IN_F16 / OUT_F16 or IN_BF16 / OUT_BF16). Workgroup (key tile x, kv head
// y, batch z; in parts, kv head x part), 4 subgroups of 32 lanes with 16 keys each
// (attention_coopmat.glsl), k and v of its keys as A matrices in registers; it loops over the
// Hq / Hkv query heads of its group and, for each, the query tiles of BC = 32 its masks leave
// visible, or over its part of those visits (attention_kv_parts.glsl; q and dout staged side by
// side). Per 16 queries: S^T = k q^T and dP^T = v dout^T on coopmats, then element-wise in
// registers (element_index) P^T under the masks and dS^T = P^T (dP^T - delta), both stored as
// ELEM; then dV (+)= P^T dout and dK (+)= dS^T q, while the next q tile is fetched. Each dk/dv
// element is stored (or its part's partial sum) by one lane, once: deterministic, no atomics.
// Shared memory: 29 KiB at D = 128, 45 KiB at D = 256 (where the k, v, dk and dv registers,
// 2 x 2 x D / 16 matrices, spill).
#define TILE_REGIONS 2
#define HALF_STAGES 2
#include "common.glsl"
#include "attention_push.h"
layout(push_constant) uniform Push { ATTENTION_BACKWARD_PUSH } pc;
#include "attention_coopmat.glsl"
#define KV_PARTS_ID 2
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
  const uint sg = gl_SubgroupID;
  const float scale2 = pc.scale * LOG2E;

  load_docs(true, b, k0);
  MAT_A kf[DB], vf[DB];  // k and v of this subgroup's keys
  for (uint c0 = 0; c0 < BR; c0 += BC) {
    uint valid = own_valid > c0 ? own_valid - c0 : 0;
    stage_rows(pc.k + (kv_at + uint64_t(c0) * kv_stride) * 2, kv_stride, valid, 0);
    stage_rows(pc.v + (kv_at + uint64_t(c0) * kv_stride) * 2, kv_stride, valid, 1);
    barrier();
    if (sg * 16 >= c0 && sg * 16 < c0 + BC)
      [[unroll]] for (uint d = 0; d < DB; ++d) {
        coopMatLoad(kf[d], tiles, tile_at(0, sg * 16 - c0, d), LD4, ROW_MAJOR);
        coopMatLoad(vf[d], tiles, tile_at(1, sg * 16 - c0, d), LD4, ROW_MAJOR);
      }
    barrier();
  }
  const ivec2 own_span = own_doc_span(own_valid);
  const ACC index = element_index();

  ACC acc_k[DB], acc_v[DB];
  [[unroll]] for (uint d = 0; d < DB; ++d) acc_k[d] = acc_v[d] = ACC(0.0);
  const uint p_at = sg * 16 * HALF_LD, ds_at = (4 + sg) * 16 * HALF_LD;

  // This part's visits (query head g, query tile q0) in order (attention_kv_parts.glsl); the
  // next visit's q is fetched during this one's dK and dV products (fetch_rows), dout is staged
  // directly.
  const uvec2 queries = query_range(k0, k0 + own_valid);
  const uint first_q0 = queries.x / BC * BC;
  const uint query_tiles = (queries.y - first_q0 + BC - 1) / BC;
  const uvec2 visits = part_visits(group, query_tiles);
  uint g = visits.x / query_tiles, q0 = first_q0 + visits.x % query_tiles * BC;
  fetch_rows(pc.q + ((uint64_t(b) * pc.T + q0) * pc.heads_q + hk * group + g) * D * 2, q_stride,
             visits.x < visits.y ? pc.T - q0 : 0, 0);
  for (uint n = visits.x; n < visits.y; ++n) {
    const uint h = hk * group + g;
    const uint visit_valid = min(BC, pc.T - q0);
    // The next visit, and its q for fetch_rows (0 rows past the last).
    const uint next_g = q0 + BC < queries.y ? g : g + 1;
    const uint next_q0 = q0 + BC < queries.y ? q0 + BC : first_q0;
    const uint next_valid = n + 1 < visits.y ? pc.T - next_q0 : 0;
    const uint64_t next_q =
        pc.q + ((uint64_t(b) * pc.T + next_q0) * pc.heads_q + hk * group + next_g) * D * 2;
    barrier();  // the previous tile's reads of shared memory are done
    if (pc.documents != 0) {
      load_docs(false, b, q0);
      barrier();
      bool meet = documents_meet(own_span, visit_valid);
      if (!meet) {
        fetch_rows(next_q, q_stride, next_valid, 0);
        g = next_g;
        q0 = next_q0;
        continue;
      }
    }
    const bool whole = tile_all_visible(q0, visit_valid, k0, own_valid);
    const uint64_t q_at = ((uint64_t(b) * pc.T + q0) * pc.heads_q + h) * D;
    store_rows(0, 0);  // q
    stage_rows(pc.dout + q_at * 2, q_stride, visit_valid, 1);
    const uint64_t row_at = ((uint64_t(b) * pc.heads_q + h) * pc.T + q0) * 4;
    for (uint c = thread_id(); c < BC; c += THREADS) {
      visit_lse[c] = c < visit_valid ? BufF32(pc.lse + row_at).v[c] * LOG2E : 0.0;
      visit_delta[c] = c < visit_valid ? BufF32(pc.delta + row_at).v[c] : 0.0;
    }
    barrier();

    [[unroll]] for (uint j = 0; j < CB; ++j) {
      ACC s = ACC(0.0), dp = ACC(0.0);
      [[unroll]] for (uint d = 0; d < DB; ++d) {
        MAT_B qb, gb;
        coopMatLoad(qb, tiles, tile_at(0, j * 16, d), LD4, COLUMN_MAJOR);
        coopMatLoad(gb, tiles, tile_at(1, j * 16, d), LD4, COLUMN_MAJOR);
        s = coopMatMulAdd(kf[d], qb, s);
        dp = coopMatMulAdd(vf[d], gb, dp);
      }
      [[unroll]] for (uint i = 0; i < s.length(); ++i) {
        uint r = sg * 16 + element_row(index, i), c = j * 16 + element_col(index, i);
        bool keep = r < own_valid && c < visit_valid &&
                    (whole || (visible(q0 + c, k0 + r) && same_document(r, c)));
        float p = keep ? exp2(s[i] * scale2 - visit_lse[c]) : 0.0;
        dp[i] = p * (dp[i] - visit_delta[c]);
        s[i] = p;
      }
      stage_product(s, index, p_at + j * 16);
      stage_product(dp, index, ds_at + j * 16);
    }
    subgroupMemoryBarrierShared();
    subgroupBarrier();
    fetch_rows(next_q, q_stride, next_valid, 0);
    [[unroll]] for (uint j = 0; j < CB; ++j) {
      MAT_A pa, da;
      coopMatLoad(pa, half_stage, p_at + j * 16, HALF_LD, ROW_MAJOR);
      coopMatLoad(da, half_stage, ds_at + j * 16, HALF_LD, ROW_MAJOR);
      [[unroll]] for (uint d = 0; d < DB; ++d) {
        MAT_B qb, gb;
        coopMatLoad(gb, tiles, tile_at(1, j * 16, d), LD4, ROW_MAJOR);
        coopMatLoad(qb, tiles, tile_at(0, j * 16, d), LD4, ROW_MAJOR);
        acc_v[d] = coopMatMulAdd(pa, gb, acc_v[d]);
        acc_k[d] = coopMatMulAdd(da, qb, acc_k[d]);
      }
    }
    g = next_g;
    q0 = next_q0;
  }

  [[unroll]] for (uint i = 0; i < index.length(); ++i) {
    uint r = sg * 16 + element_row(index, i);
    if (r >= own_valid) continue;
    [[unroll]] for (uint d = 0; d < DB; ++d)
      write_kv(kv_at, r * kv_stride + d * 16 + element_col(index, i), pc.scale * acc_k[d][i],
               acc_v[d][i]);
  }
}
