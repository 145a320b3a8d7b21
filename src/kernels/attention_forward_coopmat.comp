#version 450
// attention_forward on cooperative matrices: the contract of attention_forward.comp for f16 or bf16
// tensors (IN_F16 / OUT_F16 or IN_BF16 / OUT_BF16). Workgroup (query tile x, head y, batch z), 4
// subgroups of 32 lanes with 16 query rows each (attention_coopmat.glsl), latest query tiles first;
// it visits the key tiles of BC rows its masks leave visible. Per key tile: S = q k^T on coopmats
// (q as A in registers, the staged k tile read column-major as B); scale, masks and P = exp2(S -
// max) element-wise in registers (element_index()), the row maxima through a 16 x 16 stage of
// maxima per element (two lanes per row finish them); the O accumulators (f32 coopmats, D/16 per
// subgroup) and per-element partial sums are rescaled per row; P is staged as ELEM and O += P v
// with the v tile staged in the same region. The row sums are finished once, at the end. Shared
// memory (BC = 64 up to D = 128, 32 beyond): 33 KiB at D = 128, 28 KiB at D = 256. A fully masked
// row ends with sum 0: o = 0 and lse = -inf, never NaN.
#extension GL_KHR_shader_subgroup_shuffle : require
#define TILE_REGIONS 1
#define HALF_STAGES 1
#include "common.glsl"
#include "attention_push.h"
layout(push_constant) uniform Push { ATTENTION_FORWARD_PUSH } pc;
#include "attention_coopmat.glsl"

const uint P_LD = 20;  // 16 floats and 16 bytes of padding
shared float partial[4 * 16 * P_LD];  // per subgroup [16][16]: maxima, at the end sums
shared float row_factor[BR];  // per own row: this tile's rescale, at the end 1 / sum
shared float row_base[BR];    // per own row: the running maximum, 0 while it is -inf

void main() {
  const uint tiles_q = (pc.T + BR - 1) / BR;
  const uint q0 = (tiles_q - 1 - gl_WorkGroupID.x) * BR;
  const uint h = gl_WorkGroupID.y, b = gl_WorkGroupID.z;
  const uint hk = h / (pc.heads_q / pc.heads_kv);
  const uint q_stride = pc.heads_q * D, kv_stride = pc.heads_kv * D;
  const uint own_valid = min(BR, pc.T - q0);
  const uint64_t q_at = ((uint64_t(b) * pc.T + q0) * pc.heads_q + h) * D;
  const uint sg = gl_SubgroupID, lane = gl_SubgroupInvocationID;
  const float scale2 = pc.scale * LOG2E;

  load_docs(true, b, q0);
  MAT_A qf[DB];
  for (uint c0 = 0; c0 < BR; c0 += BC) {
    stage_rows(pc.q + (q_at + uint64_t(c0) * q_stride) * 2, q_stride,
               own_valid > c0 ? own_valid - c0 : 0, 0);
    barrier();
    if (sg * 16 >= c0 && sg * 16 < c0 + BC)
      [[unroll]] for (uint d = 0; d < DB; ++d)
        coopMatLoad(qf[d], tiles, tile_at(0, sg * 16 - c0, d), LD4, ROW_MAJOR);
    barrier();
  }
  const ivec2 own_span = own_doc_span(own_valid);
  const ACC index = element_index();

  ACC o[DB];
  [[unroll]] for (uint d = 0; d < DB; ++d) o[d] = ACC(0.0);
  // Softmax lanes: row `row` of this subgroup's 16, columns of parity `half_`.
  const uint row = lane % 16, half_ = lane / 16, own = sg * 16 + row;
  const uint m_at = sg * 16 * P_LD, p_at = sg * 16 * HALF_LD;
  float row_max = negative_infinity();
  ACC sums = ACC(0.0);  // per element, rescaled with o; rows summed at the end

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

    ACC s[CB];
    [[unroll]] for (uint j = 0; j < CB; ++j) s[j] = ACC(0.0);
    [[unroll]] for (uint d = 0; d < DB; ++d)
      [[unroll]] for (uint j = 0; j < CB; ++j) {
        MAT_B kb;
        coopMatLoad(kb, tiles, tile_at(0, j * 16, d), LD4, COLUMN_MAJOR);
        s[j] = coopMatMulAdd(qf[d], kb, s[j]);
      }
    // Scale and masks in registers; the row maxima through a 16 x 16 stage of maxima per element.
    ACC top = ACC(0.0);
    [[unroll]] for (uint i = 0; i < top.length(); ++i) {
      const uint r = sg * 16 + element_row(index, i);
      float m = negative_infinity();
      [[unroll]] for (uint j = 0; j < CB; ++j) {
        const uint c = j * 16 + element_col(index, i);
        bool keep = r < own_valid && c < visit_valid &&
                    (whole || (visible(q0 + r, k0 + c) && same_document(r, c)));
        s[j][i] = keep ? s[j][i] * scale2 : negative_infinity();
        m = max(m, s[j][i]);
      }
      top[i] = m;
    }
    coopMatStore(top, partial, m_at, P_LD, ROW_MAJOR);
    subgroupMemoryBarrierShared();
    subgroupBarrier();
    float tile_max = negative_infinity();
    [[unroll]] for (uint c = half_; c < 16; c += 2)
      tile_max = max(tile_max, partial[m_at + row * P_LD + c]);
    tile_max = max(tile_max, subgroupShuffleXor(tile_max, 16));
    const float new_max = max(row_max, tile_max);
    const float base = isinf(new_max) ? 0.0 : new_max;  // -inf: nothing visible yet, all p 0
    if (half_ == 0) {
      row_factor[own] = exp2(row_max - base);
      row_base[own] = base;
    }
    row_max = new_max;
    subgroupMemoryBarrierShared();
    subgroupBarrier();
    [[unroll]] for (uint i = 0; i < index.length(); ++i) {
      const uint r = sg * 16 + element_row(index, i);
      const float row_base_i = row_base[r], factor = row_factor[r];
      float sum = 0.0;
      [[unroll]] for (uint j = 0; j < CB; ++j) {
        s[j][i] = exp2(s[j][i] - row_base_i);
        sum += s[j][i];
      }
      sums[i] = sums[i] * factor + sum;
      [[unroll]] for (uint d = 0; d < DB; ++d) o[d][i] *= factor;
    }
    [[unroll]] for (uint j = 0; j < CB; ++j) stage_product(s[j], index, p_at + j * 16);

    barrier();  // every subgroup is done with the k tile
    store_rows(0, 0);  // v
    barrier();
    fetch_rows(next_k, kv_stride, next_valid, 0);
    [[unroll]] for (uint j = 0; j < CB; ++j) {
      MAT_A pa;
      coopMatLoad(pa, half_stage, p_at + j * 16, HALF_LD, ROW_MAJOR);
      [[unroll]] for (uint d = 0; d < DB; ++d) {
        MAT_B vb;
        coopMatLoad(vb, tiles, tile_at(0, j * 16, d), LD4, ROW_MAJOR);
        o[d] = coopMatMulAdd(pa, vb, o[d]);
      }
    }
  }

  coopMatStore(sums, partial, m_at, P_LD, ROW_MAJOR);
  subgroupMemoryBarrierShared();
  subgroupBarrier();
  float row_sum = 0.0;
  [[unroll]] for (uint c = half_; c < 16; c += 2) row_sum += partial[m_at + row * P_LD + c];
  row_sum += subgroupShuffleXor(row_sum, 16);
  if (half_ == 0) {
    row_factor[own] = row_sum > 0.0 ? 1.0 / row_sum : 0.0;
    if (own < own_valid) {
      BufF32 lse = BufF32(pc.lse + ((uint64_t(b) * pc.heads_q + h) * pc.T + q0) * 4);
      lse.v[own] = row_sum > 0.0 ? (row_max + log2(row_sum)) * LN2 : negative_infinity();
    }
  }
  subgroupMemoryBarrierShared();
  subgroupBarrier();
  OUT_BUF out_o = OUT_BUF(pc.o + q_at * OUT_BYTES);
  [[unroll]] for (uint i = 0; i < index.length(); ++i) {
    uint r = sg * 16 + element_row(index, i);
    if (r >= own_valid) continue;
    [[unroll]] for (uint d = 0; d < DB; ++d)
      out_store(out_o, r * q_stride + d * 16 + element_col(index, i), o[d][i] * row_factor[r]);
  }
}
