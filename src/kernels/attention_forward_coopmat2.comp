#version 450
// attention_forward on GL_NV_cooperative_matrix2: the contract of attention_forward.comp for f16
// or bf16 tensors (IN_F16 / OUT_F16 or IN_BF16 / OUT_BF16), FlashAttention-2 on workgroup-scope
// matrices (attention_coopmat2.glsl). Workgroup (query tile x, head y, batch z), latest query
// tiles first; it holds its BR x DP queries as one A matrix and visits the key tiles of BC rows
// its masks leave visible: S = q k^T (k loaded through a transposed view), scale and masks per
// element (a whole tile, which the masks leave untouched, only scales), the row maxima by a row
// reduction, P = exp2(S - max) in f32 with per-element partial sums rescaled alongside, P rounded
// to ELEM as an A matrix, and O = O * rescale + P v. The sums' rows are reduced once, at the end,
// with the sink's term where SINKS is set; lse goes out from column 0 of a per-element pass and
// o through a clamped store. A fully masked row ends with sum 0: o = 0 and lse = -inf (with a
// sink: o = 0, lse = the sink), never NaN.
#include "common.glsl"
#include "attention_push.h"
layout(push_constant) uniform Push { ATTENTION_FORWARD_PUSH } pc;
#include "attention_coopmat2.glsl"
// Whether the rows take a sink (pc.sinks): a constant, so that without sinks nothing of theirs
// runs.
layout(constant_id = 4) const bool SINKS = false;

#define Q_MAT coopmat<ELEM, gl_ScopeWorkgroup, BR, DP, gl_MatrixUseA>
#define KT_MAT coopmat<ELEM, gl_ScopeWorkgroup, DP, BC, gl_MatrixUseB>
#define P_MAT coopmat<ELEM, gl_ScopeWorkgroup, BR, BC, gl_MatrixUseA>
#define V_MAT coopmat<ELEM, gl_ScopeWorkgroup, BC, DP, gl_MatrixUseB>
#define O_OUT coopmat<ELEM, gl_ScopeWorkgroup, BR, DP, gl_MatrixUseAccumulator>

// Writes lse[first + r] = x from column 0 of rows below `rows`; x unchanged.
float store_lse(const in uint r, const in uint c, const in float x, const in uint first,
                const in uint rows) {
  if (c == 0 && r < rows) BufF32(pc.lse).v[first + r] = x;
  return x;
}

void main() {
  const uint tiles_q = (pc.T + BR - 1) / BR;
  const uint q0 = (tiles_q - 1 - gl_WorkGroupID.x) * BR;
  const uint h = gl_WorkGroupID.y, b = gl_WorkGroupID.z;
  const uint hk = h / (pc.heads_q / pc.heads_kv);
  const uint own_valid = min(BR, pc.T - q0);
  const float scale2 = pc.scale * LOG2E;
  const uint q_stride = pc.heads_q * D, kv_stride = pc.heads_kv * D;
  const uint64_t q_at = pc.q + uint64_t(head_start(b, h, pc.heads_q)) * 2;
  const uint64_t o_at = pc.o + uint64_t(head_start(b, h, pc.heads_q)) * 2;
  const uint64_t kv_offset = uint64_t(head_start(b, hk, pc.heads_kv)) * 2;

  load_docs(true, b, q0);
  barrier();
  const ivec2 own_span = own_doc_span(own_valid);

  tensorViewNV<2, false, 1, 0> transposed = createTensorViewNV(2, false, 1, 0);
  CLAMPED q_layout = createTensorLayoutNV(2, gl_CooperativeMatrixClampModeConstantNV);
  q_layout = setTensorLayoutDimensionNV(q_layout, pc.T, D);
  q_layout = setTensorLayoutStrideNV(q_layout, q_stride, 1);
  CLAMPED kv_layout = createTensorLayoutNV(2, gl_CooperativeMatrixClampModeConstantNV);
  kv_layout = setTensorLayoutDimensionNV(kv_layout, pc.T, D);
  kv_layout = setTensorLayoutStrideNV(kv_layout, kv_stride, 1);
  // Interior tiles: the same rows, unclamped; the masked stride tells the compiler what the
  // op's alignment checks promise (D a multiple of 16 there).
  tensorLayoutNV<2> kv_fast = createTensorLayoutNV(2);
  kv_fast = setTensorLayoutDimensionNV(kv_fast, pc.T, D);
  kv_fast = setTensorLayoutStrideNV(kv_fast, kv_stride & ~7u, 1);
  BufElem k = BufElem(pc.k + kv_offset), v = BufElem(pc.v + kv_offset);
  BufElemAligned k_aligned = BufElemAligned(pc.k + kv_offset);
  BufElemAligned v_aligned = BufElemAligned(pc.v + kv_offset);

  Q_MAT q;
  coopMatLoadTensorNV(q, BufElem(q_at).v, 0, sliceTensorLayoutNV(q_layout, q0, BR, 0, DP));
  ROWS_ACC o = ROWS_ACC(0.0);
  // Per row, smeared over its columns: the running maximum (log2 units; it starts from the sink,
  // one more column of every row with a zero value); per element: partial sums.
  float sink = negative_infinity();
  if (SINKS) sink = BufF32(pc.sinks).v[h] * LOG2E;  // a branch, not a select: no load without sinks
  SCORES running_max = SCORES(sink);
  SCORES sums = SCORES(0.0);

  const uvec2 keys = key_range(q0, q0 + own_valid);
  [[dont_unroll]] for (uint k0 = keys.x / BC * BC; k0 < keys.y; k0 += BC) {
    const uint visit_valid = min(BC, pc.T - k0);
    if (pc.documents != 0) {
      barrier();  // the previous tile's masks are done with visit_doc
      load_docs(false, b, k0);
      barrier();
      if (!documents_meet(own_span, visit_valid)) continue;
    }
    KT_MAT kt;
    if (interior(k0, BC))
      coopMatLoadTensorNV(kt, k_aligned.v, 0, sliceTensorLayoutNV(kv_fast, k0, BC, 0, DP), transposed);
    else
      coopMatLoadTensorNV(kt, k.v, 0, sliceTensorLayoutNV(kv_layout, k0, BC, 0, DP), transposed);
    SCORES s = coopMatMulAdd(q, kt, SCORES(0.0));
    if (visit_valid == BC && tile_all_visible(q0, own_valid, k0, BC))
      s = s * scale2;
    else
      coopMatPerElementNV(s, s, mask_score, q0, k0, scale2);

    SCORES tile_max;
    coopMatReduceNV(tile_max, s, gl_CooperativeMatrixReduceRowNV, max_of);
    SCORES factor = SCORES(0.0);
    [[unroll]] for (uint i = 0; i < s.length(); ++i) {
      const float new_max = max(running_max[i], tile_max[i]);
      const float base = isinf(new_max) ? 0.0 : new_max;  // -inf: nothing visible yet, all p 0
      factor[i] = exp2(running_max[i] - base);
      s[i] = exp2(s[i] - base);
      sums[i] = sums[i] * factor[i] + s[i];
      running_max[i] = new_max;
    }
    ROWS_ACC o_factor;
    coopMatReduceNV(o_factor, factor, gl_CooperativeMatrixReduceRowNV, max_of);  // one value a row
    o = o * o_factor;

    P_MAT p = P_MAT(s);
    V_MAT vt;
    if (interior(k0, BC))
      coopMatLoadTensorNV(vt, v_aligned.v, 0, sliceTensorLayoutNV(kv_fast, k0, BC, 0, DP));
    else
      coopMatLoadTensorNV(vt, v.v, 0, sliceTensorLayoutNV(kv_layout, k0, BC, 0, DP));
    o = coopMatMulAdd(p, vt, o);
  }

  SCORES row_sum;
  coopMatReduceNV(row_sum, sums, gl_CooperativeMatrixReduceRowNV, sum_of);
  SCORES inverse = SCORES(0.0);
  [[unroll]] for (uint i = 0; i < row_sum.length(); ++i) {
    float total = row_sum[i];
    if (SINKS) total += exp2(sink - running_max[i]);
    inverse[i] = total > 0.0 ? 1.0 / total : 0.0;
    row_sum[i] = total > 0.0 ? (running_max[i] + log2(total)) * LN2 : negative_infinity();
  }
  coopMatPerElementNV(row_sum, row_sum, store_lse, (b * pc.heads_q + h) * pc.T + q0, own_valid);
  ROWS_ACC o_scale;
  coopMatReduceNV(o_scale, inverse, gl_CooperativeMatrixReduceRowNV, max_of);
  O_OUT result = O_OUT(o * o_scale);
  coopMatStoreTensorNV(result, BufElem(o_at).v, 0, sliceTensorLayoutNV(q_layout, q0, BR, 0, DP));
}
