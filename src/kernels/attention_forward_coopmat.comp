#version 450
// attention_forward on cooperative matrices: the contract of attention_forward.comp for f16 or bf16
// tensors (IN_F16 / OUT_F16 or IN_BF16 / OUT_BF16). Workgroup (query tile x, head y, batch z), 4
// subgroups with RB blocks of F query rows each (attention_coopmat.glsl), latest query tiles
// first; it visits the key tiles of BC rows its masks leave visible. Per key tile: S = q k^T on
// coopmats (q as A in registers, the staged k tile read column-major as B, each k fragment once
// for the RB row blocks); scale, masks and P = exp2(S - max) element-wise in registers
// (element_index()), the row maxima through an F x F stage of maxima per element and block, one
// lane per row finishing them; the O accumulators (f32 coopmats, RB x D/F per subgroup) and
// per-element partial sums are rescaled per row; P is staged as ELEM and O += P v with the v tile
// staged in the same region. The row sums are finished once, at the end, with the sink's term
// where SINKS is set. Shared memory at D = 128, F = 16: 33 KiB (RB 1, BC 64), 25 KiB (RB 2,
// BC 32). A fully masked row ends with sum 0: o = 0 and lse = -inf (with a sink: o = 0, lse =
// the sink), never NaN.
#define TILE_REGIONS 1
#define HALF_STAGES 1
#include "common.glsl"
#include "attention_push.h"
layout(push_constant) uniform Push { ATTENTION_FORWARD_PUSH } pc;
#include "attention_coopmat.glsl"
// Whether the rows take a sink (pc.sinks): a constant, so that without sinks nothing of theirs
// runs. (Tested on a push value instead, this kernel crashed lavapipe 26.1 without sinks: the
// load of address 0 ran although its branch did not.)
layout(constant_id = 6) const bool SINKS = false;

const uint P_LD = F + 4;  // F floats and 16 bytes of padding
shared float partial[SUBGROUPS * SG_ROWS * P_LD];  // per subgroup [RB F][F]: maxima, at the end sums
shared float row_max[BR];     // per own row: the running maximum
shared float row_factor[BR];  // per own row: this tile's rescale, at the end 1 / sum
shared float row_base[BR];    // per own row: the running maximum, 0 while it is -inf

// The maxima (or sums) over the F columns of each of this subgroup's rows in `partial`: one lane
// per row, every lane of the subgroup taking rows in turn (no lane layout assumed).
float row_reduce(uint m_at, uint r, bool sum) {
  float x = sum ? 0.0 : negative_infinity();
  for (uint c = 0; c < F; ++c) {
    float y = partial[m_at + r * P_LD + c];
    x = sum ? x + y : max(x, y);
  }
  return x;
}

void main() {
  const uint tiles_q = (pc.T + BR - 1) / BR;
  const uint q0 = (tiles_q - 1 - gl_WorkGroupID.x) * BR;
  const uint h = gl_WorkGroupID.y, b = gl_WorkGroupID.z;
  const uint hk = h / (pc.heads_q / pc.heads_kv);
  const uint q_stride = pc.heads_q * D, kv_stride = pc.heads_kv * D;
  const uint own_valid = min(BR, pc.T - q0);
  const uint64_t q_at = ((uint64_t(b) * pc.T + q0) * pc.heads_q + h) * D;
  const uint sg0 = subgroup_row(), lane = gl_SubgroupInvocationID;
  const float scale2 = pc.scale * LOG2E;

  load_docs(true, b, q0);
  MAT_A qf[RB][DB];
  for (uint c0 = 0; c0 < BR; c0 += BC) {
    stage_rows(pc.q + (q_at + uint64_t(c0) * q_stride) * 2, q_stride,
               own_valid > c0 ? own_valid - c0 : 0, 0);
    barrier();
    [[unroll]] for (uint rb = 0; rb < RB; ++rb) {
      const uint row = sg0 + rb * F;
      if (row >= c0 && row < c0 + BC)
        [[unroll]] for (uint d = 0; d < DB; ++d)
          coopMatLoad(qf[rb][d], tiles, tile_at(0, row - c0, d), LD4, ROW_MAJOR);
    }
    barrier();
  }
  const ivec2 own_span = own_doc_span(own_valid);
  const ACC index = element_index();

  ACC o[RB][DB];
  ACC sums[RB];  // per element, rescaled with o; rows summed at the end
  [[unroll]] for (uint rb = 0; rb < RB; ++rb) {
    sums[rb] = ACC(0.0);
    [[unroll]] for (uint d = 0; d < DB; ++d) o[rb][d] = ACC(0.0);
  }
  const uint m_at = sg0 * P_LD, p_at = sg0 * HALF_LD;
  // A sink is one more column of every row with a zero value: the running maximum starts from
  // it, and its exp2(sink - maximum) joins the row sums at the end.
  float sink = negative_infinity();
  if (SINKS) sink = BufF32(pc.sinks).v[h] * LOG2E;  // a branch, not a select: no load without sinks
  for (uint r = lane; r < SG_ROWS; r += SUBGROUP) row_max[sg0 + r] = sink;

  // The k tile of the next visited tile is fetched during this one's P v, its v tile during
  // this one's scores and softmax (fetch_rows): global loads overlap the matrix work.
  const uvec2 keys = key_range(q0, q0 + own_valid);
  const uint64_t kv_head = (uint64_t(b) * pc.T * pc.heads_kv + hk) * D;
  uint k0 = keys.x / BC * BC;
  fetch_rows(pc.k + (kv_head + uint64_t(k0) * kv_stride) * 2, kv_stride, pc.T - k0, 0);
  for (; k0 < keys.y; k0 += BC) {
    const uint visit_valid = min(BC, pc.T - k0);
    const uint64_t next_k = pc.k + (kv_head + uint64_t(k0 + BC) * kv_stride) * 2;
    const uint next_valid = k0 + BC < keys.y ? pc.T - (k0 + BC) : 0;
    barrier();  // the previous tile's reads of `tiles` and `visit_doc` are done
    if (pc.documents != 0) {
      load_docs(false, b, k0);
      barrier();
      bool meet = documents_meet(own_span, visit_valid);
      if (!meet) {
        fetch_rows(next_k, kv_stride, next_valid, 0);
        continue;
      }
    }
    const bool whole = tile_all_visible(q0, own_valid, k0, visit_valid);
    store_rows(0, 0);  // k
    barrier();
    fetch_rows(pc.v + (kv_head + uint64_t(k0) * kv_stride) * 2, kv_stride, visit_valid, 0);

    ACC s[RB][CB];
    [[unroll]] for (uint rb = 0; rb < RB; ++rb)
      [[unroll]] for (uint j = 0; j < CB; ++j) s[rb][j] = ACC(0.0);
    [[unroll]] for (uint d = 0; d < DB; ++d)
      [[unroll]] for (uint j = 0; j < CB; ++j) {
        MAT_B kb;
        coopMatLoad(kb, tiles, tile_at(0, j * F, d), LD4, COLUMN_MAJOR);
        [[unroll]] for (uint rb = 0; rb < RB; ++rb) s[rb][j] = coopMatMulAdd(qf[rb][d], kb, s[rb][j]);
      }
    // Scale and masks in registers; the row maxima through an F x F stage of maxima per element.
    [[unroll]] for (uint rb = 0; rb < RB; ++rb) {
      ACC top = ACC(0.0);
      [[unroll]] for (uint i = 0; i < top.length(); ++i) {
        const uint r = sg0 + rb * F + element_row(index, i);
        float m = negative_infinity();
        [[unroll]] for (uint j = 0; j < CB; ++j) {
          const uint c = j * F + element_col(index, i);
          bool keep = r < own_valid && c < visit_valid &&
                      (whole || (visible(q0 + r, k0 + c) && same_document(r, c)));
          s[rb][j][i] = keep ? s[rb][j][i] * scale2 : negative_infinity();
          m = max(m, s[rb][j][i]);
        }
        top[i] = m;
      }
      coopMatStore(top, partial, m_at + rb * F * P_LD, P_LD, ROW_MAJOR);
    }
    subgroupMemoryBarrierShared();
    subgroupBarrier();
    for (uint r = lane; r < SG_ROWS; r += SUBGROUP) {
      const float old_max = row_max[sg0 + r];
      const float new_max = max(old_max, row_reduce(m_at, r, false));
      const float base = isinf(new_max) ? 0.0 : new_max;  // -inf: nothing visible yet, all p 0
      row_factor[sg0 + r] = exp2(old_max - base);
      row_base[sg0 + r] = base;
      row_max[sg0 + r] = new_max;
    }
    subgroupMemoryBarrierShared();
    subgroupBarrier();
    [[unroll]] for (uint rb = 0; rb < RB; ++rb) {
      [[unroll]] for (uint i = 0; i < index.length(); ++i) {
        const uint r = sg0 + rb * F + element_row(index, i);
        const float row_base_i = row_base[r], factor = row_factor[r];
        float sum = 0.0;
        [[unroll]] for (uint j = 0; j < CB; ++j) {
          s[rb][j][i] = exp2(s[rb][j][i] - row_base_i);
          sum += s[rb][j][i];
        }
        sums[rb][i] = sums[rb][i] * factor + sum;
        [[unroll]] for (uint d = 0; d < DB; ++d) o[rb][d][i] *= factor;
      }
      [[unroll]] for (uint j = 0; j < CB; ++j)
        stage_product(s[rb][j], index, p_at + rb * F * HALF_LD + j * F);
    }

    barrier();  // every subgroup is done with the k tile
    store_rows(0, 0);  // v
    barrier();
    fetch_rows(next_k, kv_stride, next_valid, 0);
    [[unroll]] for (uint j = 0; j < CB; ++j) {
      MAT_A pa[RB];
      [[unroll]] for (uint rb = 0; rb < RB; ++rb)
        coopMatLoad(pa[rb], half_stage, p_at + rb * F * HALF_LD + j * F, HALF_LD, ROW_MAJOR);
      [[unroll]] for (uint d = 0; d < DB; ++d) {
        MAT_B vb;
        coopMatLoad(vb, tiles, tile_at(0, j * F, d), LD4, ROW_MAJOR);
        [[unroll]] for (uint rb = 0; rb < RB; ++rb) o[rb][d] = coopMatMulAdd(pa[rb], vb, o[rb][d]);
      }
    }
  }

  [[unroll]] for (uint rb = 0; rb < RB; ++rb)
    coopMatStore(sums[rb], partial, m_at + rb * F * P_LD, P_LD, ROW_MAJOR);
  subgroupMemoryBarrierShared();
  subgroupBarrier();
  BufF32 lse = BufF32(pc.lse + ((uint64_t(b) * pc.heads_q + h) * pc.T + q0) * 4);
  for (uint r = lane; r < SG_ROWS; r += SUBGROUP) {
    const uint own = sg0 + r;
    float row_sum = row_reduce(m_at, r, true);
    if (SINKS) row_sum += exp2(sink - row_max[own]);
    row_factor[own] = row_sum > 0.0 ? 1.0 / row_sum : 0.0;
    if (own < own_valid)
      lse.v[own] = row_sum > 0.0 ? (row_max[own] + log2(row_sum)) * LN2 : negative_infinity();
  }
  subgroupMemoryBarrierShared();
  subgroupBarrier();
  OUT_BUF out_o = OUT_BUF(pc.o + q_at * OUT_BYTES);
  [[unroll]] for (uint rb = 0; rb < RB; ++rb)
    [[unroll]] for (uint i = 0; i < index.length(); ++i) {
      uint r = sg0 + rb * F + element_row(index, i);
      if (r >= own_valid) continue;
      [[unroll]] for (uint d = 0; d < DB; ++d)
        out_store(out_o, r * q_stride + d * F + element_col(index, i), o[rb][d][i] * row_factor[r]);
    }
}
