#version 450
// attention_backward_q on cooperative matrices: the contract of attention_backward_q.comp for f16
// or bf16 tensors (IN_F16 / OUT_F16 or IN_BF16 / OUT_BF16). Workgroup (query tile x, head y, batch
// z), 4 subgroups with RB blocks of F query rows each (attention_coopmat.glsl), q and dout of its
// rows as A matrices in registers, latest query tiles first. Per visible key tile (k and v staged
// side by side): per F keys, S = q k^T and dP = dout v^T on coopmats, then element-wise in
// registers (element_index) P = exp2(scale S - lse) under the masks and dS = P (dP - delta), stored
// as ELEM; then dQ += dS k. The next tile's v and k are fetched into registers during the
// products. Each dq element is stored by one lane, once, after a fixed sequence of products:
// deterministic, no atomics. Shared memory at F = 16, RB = 1 (BC = 64 up to D = 128, 32 beyond):
// 45 KiB at D = 128, 40 KiB at D = 256.
#define TILE_REGIONS 2
#define HALF_STAGES 1
#define FETCH_SLOTS 2
#include "common.glsl"
#include "attention_push.h"
layout(push_constant) uniform Push { ATTENTION_BACKWARD_PUSH } pc;
#include "attention_coopmat.glsl"
// Whether dq is added into (the op's GradientStore::add) or written: after the tiles' constants.
layout(constant_id = 6) const bool ACCUMULATE = true;

shared float own_lse[BR];  // log2 units
shared float own_delta[BR];

void main() {
  const uint tiles_q = (pc.T + BR - 1) / BR;
  const uint q0 = (tiles_q - 1 - gl_WorkGroupID.x) * BR;
  const uint h = gl_WorkGroupID.y, b = gl_WorkGroupID.z;
  const uint hk = h / (pc.heads_q / pc.heads_kv);
  const uint q_stride = pc.heads_q * D, kv_stride = pc.heads_kv * D;
  const uint own_valid = min(BR, pc.T - q0);
  const uint64_t q_at = ((uint64_t(b) * pc.T + q0) * pc.heads_q + h) * D;
  const uint sg0 = subgroup_row();
  const float scale2 = pc.scale * LOG2E;

  const uint64_t row_at = ((uint64_t(b) * pc.heads_q + h) * pc.T + q0) * 4;
  for (uint r = thread_id(); r < BR; r += THREADS) {
    own_lse[r] = r < own_valid ? BufF32(pc.lse + row_at).v[r] * LOG2E : 0.0;
    own_delta[r] = r < own_valid ? BufF32(pc.delta + row_at).v[r] : 0.0;
  }
  load_docs(true, b, q0);
  MAT_A qf[RB][DB], gf[RB][DB];  // q and dout of this subgroup's rows
  for (uint c0 = 0; c0 < BR; c0 += BC) {
    uint valid = own_valid > c0 ? own_valid - c0 : 0;
    stage_rows(pc.q + (q_at + uint64_t(c0) * q_stride) * 2, q_stride, valid, 0);
    stage_rows(pc.dout + (q_at + uint64_t(c0) * q_stride) * 2, q_stride, valid, 1);
    barrier();
    [[unroll]] for (uint rb = 0; rb < RB; ++rb) {
      const uint row = sg0 + rb * F;
      if (row >= c0 && row < c0 + BC)
        [[unroll]] for (uint d = 0; d < DB; ++d) {
          coopMatLoad(qf[rb][d], tiles, tile_at(0, row - c0, d), LD4, ROW_MAJOR);
          coopMatLoad(gf[rb][d], tiles, tile_at(1, row - c0, d), LD4, ROW_MAJOR);
        }
    }
    barrier();
  }
  const ivec2 own_span = own_doc_span(own_valid);
  const ACC index = element_index();

  ACC acc[RB][DB];
  [[unroll]] for (uint rb = 0; rb < RB; ++rb)
    [[unroll]] for (uint d = 0; d < DB; ++d) acc[rb][d] = ACC(0.0);
  const uint ds_at = sg0 * HALF_LD;

  // The next tile's v is fetched during this one's S and dP products, its k during dS k
  // (fetch_rows into registers 1 and 0): global loads overlap the matrix work.
  const uvec2 keys = key_range(q0, q0 + own_valid);
  const uint64_t kv_head = (uint64_t(b) * pc.T * pc.heads_kv + hk) * D;
  uint k0 = keys.x / BC * BC;
  fetch_rows(pc.k + (kv_head + uint64_t(k0) * kv_stride) * 2, kv_stride, pc.T - k0, 0);
  fetch_rows(pc.v + (kv_head + uint64_t(k0) * kv_stride) * 2, kv_stride, pc.T - k0, 1);
  for (; k0 < keys.y; k0 += BC) {
    const uint visit_valid = min(BC, pc.T - k0);
    const uint64_t next_k = pc.k + (kv_head + uint64_t(k0 + BC) * kv_stride) * 2;
    const uint64_t next_v = pc.v + (kv_head + uint64_t(k0 + BC) * kv_stride) * 2;
    const uint next_valid = k0 + BC < keys.y ? pc.T - (k0 + BC) : 0;
    barrier();  // the previous tile's reads of `tiles` and `visit_doc` are done
    if (pc.documents != 0) {
      load_docs(false, b, k0);
      barrier();
      bool meet = documents_meet(own_span, visit_valid);
      if (!meet) {
        fetch_rows(next_k, kv_stride, next_valid, 0);
        fetch_rows(next_v, kv_stride, next_valid, 1);
        continue;
      }
    }
    const bool whole = tile_all_visible(q0, own_valid, k0, visit_valid);
    store_rows(0, 0);  // k
    store_rows(1, 1);  // v
    barrier();
    fetch_rows(next_v, kv_stride, next_valid, 1);

    [[unroll]] for (uint j = 0; j < CB; ++j) {
      ACC s[RB], dp[RB];
      [[unroll]] for (uint rb = 0; rb < RB; ++rb) s[rb] = dp[rb] = ACC(0.0);
      [[unroll]] for (uint d = 0; d < DB; ++d) {
        MAT_B kb, vb;
        coopMatLoad(kb, tiles, tile_at(0, j * F, d), LD4, COLUMN_MAJOR);
        coopMatLoad(vb, tiles, tile_at(1, j * F, d), LD4, COLUMN_MAJOR);
        [[unroll]] for (uint rb = 0; rb < RB; ++rb) {
          s[rb] = coopMatMulAdd(qf[rb][d], kb, s[rb]);
          dp[rb] = coopMatMulAdd(gf[rb][d], vb, dp[rb]);
        }
      }
      [[unroll]] for (uint rb = 0; rb < RB; ++rb) {
        [[unroll]] for (uint i = 0; i < index.length(); ++i) {
          uint r = sg0 + rb * F + element_row(index, i), c = j * F + element_col(index, i);
          bool keep = r < own_valid && c < visit_valid &&
                      (whole || (visible(q0 + r, k0 + c) && same_document(r, c)));
          float p = keep ? exp2(s[rb][i] * scale2 - own_lse[r]) : 0.0;
          s[rb][i] = p * (dp[rb][i] - own_delta[r]);
        }
        stage_product(s[rb], index, ds_at + rb * F * HALF_LD + j * F);
      }
    }
    subgroupMemoryBarrierShared();
    subgroupBarrier();
    fetch_rows(next_k, kv_stride, next_valid, 0);
    [[unroll]] for (uint j = 0; j < CB; ++j) {
      MAT_A da[RB];
      [[unroll]] for (uint rb = 0; rb < RB; ++rb)
        coopMatLoad(da[rb], half_stage, ds_at + rb * F * HALF_LD + j * F, HALF_LD, ROW_MAJOR);
      [[unroll]] for (uint d = 0; d < DB; ++d) {
        MAT_B kb;
        coopMatLoad(kb, tiles, tile_at(0, j * F, d), LD4, ROW_MAJOR);
        [[unroll]] for (uint rb = 0; rb < RB; ++rb) acc[rb][d] = coopMatMulAdd(da[rb], kb, acc[rb][d]);
      }
    }
  }

  OUT_BUF dq = OUT_BUF(pc.grad_a + q_at * OUT_BYTES);
  [[unroll]] for (uint rb = 0; rb < RB; ++rb)
    [[unroll]] for (uint i = 0; i < index.length(); ++i) {
      uint r = sg0 + rb * F + element_row(index, i);
      if (r >= own_valid) continue;
      [[unroll]] for (uint d = 0; d < DB; ++d) {
        uint at = r * q_stride + d * F + element_col(index, i);
        float grad = pc.scale * acc[rb][d][i];
        if (ACCUMULATE) grad += out_load(dq, at);
        out_store(dq, at, grad);
      }
    }
}
