#version 450
// attention_backward_kv on GL_NV_cooperative_matrix2: the contract of attention_backward_kv.comp
// for f16 or bf16 tensors (IN_F16 / OUT_F16 or IN_BF16 / OUT_BF16) on workgroup-scope matrices
// (attention_coopmat2.glsl). Workgroup (key tile x, kv head y, batch z; in parts, kv head x
// part), k and v of its BR keys as A matrices; it loops over the Hq / Hkv query heads of its
// group and, for each, the query tiles of BC its masks leave visible, or over its part of those
// visits (attention_kv_parts.glsl). Per visit: the queries' lse (log2 units) and delta go to
// shared memory, S^T = k q^T and dP^T = v dout^T (q and dout through a transposed view), scale
// and masks per element, P^T = exp2(S^T - lse) and dS^T = P^T (dP^T - delta) element-wise with
// lse and delta smeared over the columns, both rounded to ELEM as A matrices; then
// dV += P^T dout and dK += dS^T q. dk = scale dK and dv are added (ACCUMULATE) or written through
// clamped layouts, or in parts stored as f32 partial sums: deterministic, no atomics.
#include "common.glsl"
#include "attention_push.h"
layout(push_constant) uniform Push { ATTENTION_BACKWARD_PUSH } pc;
#include "attention_coopmat2.glsl"
#define KV_PARTS_ID 4
#include "attention_kv_parts.glsl"

#define ROW_MAT coopmat<ELEM, gl_ScopeWorkgroup, BR, DP, gl_MatrixUseA>
#define QT_MAT coopmat<ELEM, gl_ScopeWorkgroup, DP, BC, gl_MatrixUseB>
#define P_MAT coopmat<ELEM, gl_ScopeWorkgroup, BR, BC, gl_MatrixUseA>
#define Q_MAT coopmat<ELEM, gl_ScopeWorkgroup, BC, DP, gl_MatrixUseB>
#define GRAD coopmat<ELEM, gl_ScopeWorkgroup, BR, DP, gl_MatrixUseAccumulator>

shared float visit_lse[BC];  // log2 units, 0 past T
shared float visit_delta[BC];

// visit_delta (delta != 0) or visit_lse of column c.
float visit_column(const in uint r, const in uint c, const in float x, const in uint delta) {
  return delta != 0 ? visit_delta[c] : visit_lse[c];
}

// Score (r, c) of S^T, keys from k0 (rows) and queries from q0 (columns): scaled by `scale` where
// key k0 + r is visible from query q0 + c, else -inf (attention_coopmat2.glsl's mask_score with
// the roles swapped; own_doc holds the keys' ids, visit_doc the queries').
float mask_score_transposed(const in uint r, const in uint c, const in float s, const in uint k0,
                            const in uint q0, const in float scale) {
  const uint i = q0 + c, j = k0 + r;
  const bool keep = i < pc.T && j < pc.T && visible(i, j) && same_document(r, c);
  return keep ? s * scale : negative_infinity();
}

// Adds the gradient `grad` of keys [k0, k0 + BR) into the [B, T, Hkv, D] tensor at `address`
// (ACCUMULATE) or writes it.
void store_gradient(ROWS_ACC grad, uint64_t address, CLAMPED kv_layout, uint k0) {
  BufElem out_rows = BufElem(address);
  if (ACCUMULATE) {
    GRAD old;
    coopMatLoadTensorNV(old, out_rows.v, 0, sliceTensorLayoutNV(kv_layout, k0, BR, 0, DP));
    grad = grad + ROWS_ACC(old);
  }
  GRAD result = GRAD(grad);
  coopMatStoreTensorNV(result, out_rows.v, 0, sliceTensorLayoutNV(kv_layout, k0, BR, 0, DP));
}

void main() {
  const uint k0 = gl_WorkGroupID.x * BR;
  const uint hk = kv_head(), b = gl_WorkGroupID.z;
  const uint group = pc.heads_q / pc.heads_kv;
  const uint own_valid = min(BR, pc.T - k0);
  const float scale2 = pc.scale * LOG2E;
  const uint kv_start = head_start(b, hk, pc.heads_kv);

  load_docs(true, b, k0);
  barrier();
  const ivec2 own_span = own_doc_span(own_valid);

  tensorViewNV<2, false, 1, 0> transposed = createTensorViewNV(2, false, 1, 0);
  CLAMPED kv_layout = createTensorLayoutNV(2, gl_CooperativeMatrixClampModeConstantNV);
  kv_layout = setTensorLayoutDimensionNV(kv_layout, pc.T, D);
  kv_layout = setTensorLayoutStrideNV(kv_layout, pc.heads_kv * D, 1);
  CLAMPED q_layout = createTensorLayoutNV(2, gl_CooperativeMatrixClampModeConstantNV);
  q_layout = setTensorLayoutDimensionNV(q_layout, pc.T, D);
  q_layout = setTensorLayoutStrideNV(q_layout, pc.heads_q * D, 1);
  tensorLayoutNV<2> q_fast = createTensorLayoutNV(2);
  q_fast = setTensorLayoutDimensionNV(q_fast, pc.T, D);
  q_fast = setTensorLayoutStrideNV(q_fast, (pc.heads_q * D) & ~7u, 1);

  ROW_MAT k, v;
  coopMatLoadTensorNV(k, BufElem(pc.k + uint64_t(kv_start) * 2).v, 0,
                      sliceTensorLayoutNV(kv_layout, k0, BR, 0, DP));
  coopMatLoadTensorNV(v, BufElem(pc.v + uint64_t(kv_start) * 2).v, 0,
                      sliceTensorLayoutNV(kv_layout, k0, BR, 0, DP));
  ROWS_ACC dk = ROWS_ACC(0.0), dv = ROWS_ACC(0.0);

  const uvec2 queries = query_range(k0, k0 + own_valid);
  const uint first_q0 = queries.x / BC * BC;
  const uint query_tiles = queries.y > first_q0 ? (queries.y - first_q0 + BC - 1) / BC : 0;
  const uvec2 visits = query_tiles > 0 ? part_visits(group, query_tiles) : uvec2(0);
  [[dont_unroll]] for (uint n = visits.x; n < visits.y; ++n) {
    const uint h = hk * group + n / query_tiles, q0 = first_q0 + n % query_tiles * BC;
    const uint visit_valid = min(BC, pc.T - q0);
    const uint row_first = (b * pc.heads_q + h) * pc.T + q0;
    barrier();  // the previous visit is done with visit_lse, visit_delta and visit_doc
    for (uint c = thread_id(); c < BC; c += THREADS) {
      visit_lse[c] = c < visit_valid ? BufF32(pc.lse).v[row_first + c] * LOG2E : 0.0;
      visit_delta[c] = c < visit_valid ? BufF32(pc.delta).v[row_first + c] : 0.0;
    }
    load_docs(false, b, q0);
    barrier();
    if (pc.documents != 0 && !documents_meet(own_span, visit_valid)) continue;

    const uint64_t q_offset = uint64_t(head_start(b, h, pc.heads_q)) * 2;
    QT_MAT qt, dot;
    Q_MAT qb, dob;
    if (interior(q0, BC)) {
      BufElemAligned q = BufElemAligned(pc.q + q_offset), dout = BufElemAligned(pc.dout + q_offset);
      coopMatLoadTensorNV(qt, q.v, 0, sliceTensorLayoutNV(q_fast, q0, BC, 0, DP), transposed);
      coopMatLoadTensorNV(dot, dout.v, 0, sliceTensorLayoutNV(q_fast, q0, BC, 0, DP), transposed);
      coopMatLoadTensorNV(qb, q.v, 0, sliceTensorLayoutNV(q_fast, q0, BC, 0, DP));
      coopMatLoadTensorNV(dob, dout.v, 0, sliceTensorLayoutNV(q_fast, q0, BC, 0, DP));
    } else {
      BufElem q = BufElem(pc.q + q_offset), dout = BufElem(pc.dout + q_offset);
      coopMatLoadTensorNV(qt, q.v, 0, sliceTensorLayoutNV(q_layout, q0, BC, 0, DP), transposed);
      coopMatLoadTensorNV(dot, dout.v, 0, sliceTensorLayoutNV(q_layout, q0, BC, 0, DP), transposed);
      coopMatLoadTensorNV(qb, q.v, 0, sliceTensorLayoutNV(q_layout, q0, BC, 0, DP));
      coopMatLoadTensorNV(dob, dout.v, 0, sliceTensorLayoutNV(q_layout, q0, BC, 0, DP));
    }
    SCORES s = coopMatMulAdd(k, qt, SCORES(0.0));
    SCORES dp = coopMatMulAdd(v, dot, SCORES(0.0));
    if (visit_valid == BC && tile_all_visible(q0, BC, k0, own_valid))
      s = s * scale2;
    else
      coopMatPerElementNV(s, s, mask_score_transposed, k0, q0, scale2);
    SCORES lse = SCORES(0.0), delta = SCORES(0.0);
    coopMatPerElementNV(lse, lse, visit_column, 0u);
    coopMatPerElementNV(delta, delta, visit_column, 1u);
    [[unroll]] for (uint i = 0; i < s.length(); ++i) {
      // A masked score is -inf; so is the lse of a query that sees no key: p 0, never NaN.
      const float p = s[i] == negative_infinity() ? 0.0 : exp2(s[i] - lse[i]);
      s[i] = p;
      dp[i] = p * (dp[i] - delta[i]);
    }
    dv = coopMatMulAdd(P_MAT(s), dob, dv);
    dk = coopMatMulAdd(P_MAT(dp), qb, dk);
  }

  dk = dk * pc.scale;
  if (KV_PARTS > 1) {
    // This part's f32 partial sums, [KV_PARTS, B, T, Hkv, D] (every part stores all its keys).
    const uint64_t count = uint64_t(gl_NumWorkGroups.z) * pc.T * pc.heads_kv * D;
    const uint64_t first = (uint64_t(kv_part()) * count + kv_start) * 4;
    coopMatStoreTensorNV(dk, BufF32(pc.grad_a + first).v, 0,
                         sliceTensorLayoutNV(kv_layout, k0, BR, 0, DP));
    coopMatStoreTensorNV(dv, BufF32(pc.grad_b + first).v, 0,
                         sliceTensorLayoutNV(kv_layout, k0, BR, 0, DP));
    return;
  }
  store_gradient(dk, pc.grad_a + uint64_t(kv_start) * 2, kv_layout, k0);
  store_gradient(dv, pc.grad_b + uint64_t(kv_start) * 2, kv_layout, k0);
}
