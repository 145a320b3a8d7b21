#version 450
// attention_backward_q on GL_NV_cooperative_matrix2: the contract of attention_backward_q.comp
// for f16 or bf16 tensors (IN_F16 / OUT_F16 or IN_BF16 / OUT_BF16) on workgroup-scope matrices
// (attention_coopmat2.glsl). Workgroup (query tile x, head y, batch z), latest query tiles first;
// it holds its q and dout rows as A matrices and its rows' lse (log2 units) and delta smeared
// over score-shaped matrices. Per visible key tile: S = q k^T and dP = dout v^T (k and v through
// a transposed view), scale and masks per element, then element-wise P = exp2(S - lse) and
// dS = P (dP - delta), rounded to ELEM as an A matrix for dQ += dS k. dq = scale dQ is added
// into dq (ACCUMULATE) or written, through clamped layouts: deterministic, no atomics.
#include "common.glsl"
#include "attention_push.h"
layout(push_constant) uniform Push { ATTENTION_BACKWARD_PUSH } pc;
#include "attention_coopmat2.glsl"
// Whether dq is added into (the op's GradientStore::add) or written.
layout(constant_id = 4) const bool ACCUMULATE = true;

#define ROW_MAT coopmat<ELEM, gl_ScopeWorkgroup, BR, DP, gl_MatrixUseA>
#define KT_MAT coopmat<ELEM, gl_ScopeWorkgroup, DP, BC, gl_MatrixUseB>
#define DS_MAT coopmat<ELEM, gl_ScopeWorkgroup, BR, BC, gl_MatrixUseA>
#define K_MAT coopmat<ELEM, gl_ScopeWorkgroup, BC, DP, gl_MatrixUseB>
#define GRAD coopmat<ELEM, gl_ScopeWorkgroup, BR, DP, gl_MatrixUseAccumulator>

shared float own_lse[BR];  // log2 units, 0 past T
shared float own_delta[BR];

// own_delta (delta != 0) or own_lse of row r.
float own_row(const in uint r, const in uint c, const in float x, const in uint delta) {
  return delta != 0 ? own_delta[r] : own_lse[r];
}

void main() {
  const uint tiles_q = (pc.T + BR - 1) / BR;
  const uint q0 = (tiles_q - 1 - gl_WorkGroupID.x) * BR;
  const uint h = gl_WorkGroupID.y, b = gl_WorkGroupID.z;
  const uint hk = h / (pc.heads_q / pc.heads_kv);
  const uint own_valid = min(BR, pc.T - q0);
  const float scale2 = pc.scale * LOG2E;
  const uint64_t q_offset = uint64_t(head_start(b, h, pc.heads_q)) * 2;
  const uint64_t kv_offset = uint64_t(head_start(b, hk, pc.heads_kv)) * 2;

  const uint row_first = (b * pc.heads_q + h) * pc.T + q0;
  for (uint r = thread_id(); r < BR; r += THREADS) {
    own_lse[r] = r < own_valid ? BufF32(pc.lse).v[row_first + r] * LOG2E : 0.0;
    own_delta[r] = r < own_valid ? BufF32(pc.delta).v[row_first + r] : 0.0;
  }
  load_docs(true, b, q0);
  barrier();
  const ivec2 own_span = own_doc_span(own_valid);

  tensorViewNV<2, false, 1, 0> transposed = createTensorViewNV(2, false, 1, 0);
  CLAMPED q_layout = createTensorLayoutNV(2, gl_CooperativeMatrixClampModeConstantNV);
  q_layout = setTensorLayoutDimensionNV(q_layout, pc.T, D);
  q_layout = setTensorLayoutStrideNV(q_layout, pc.heads_q * D, 1);
  CLAMPED kv_layout = createTensorLayoutNV(2, gl_CooperativeMatrixClampModeConstantNV);
  kv_layout = setTensorLayoutDimensionNV(kv_layout, pc.T, D);
  kv_layout = setTensorLayoutStrideNV(kv_layout, pc.heads_kv * D, 1);
  tensorLayoutNV<2> kv_fast = createTensorLayoutNV(2);
  kv_fast = setTensorLayoutDimensionNV(kv_fast, pc.T, D);
  kv_fast = setTensorLayoutStrideNV(kv_fast, (pc.heads_kv * D) & ~7u, 1);
  BufElem k = BufElem(pc.k + kv_offset), v = BufElem(pc.v + kv_offset);
  BufElemAligned k_aligned = BufElemAligned(pc.k + kv_offset);
  BufElemAligned v_aligned = BufElemAligned(pc.v + kv_offset);

  ROW_MAT q, dout;
  coopMatLoadTensorNV(q, BufElem(pc.q + q_offset).v, 0, sliceTensorLayoutNV(q_layout, q0, BR, 0, DP));
  coopMatLoadTensorNV(dout, BufElem(pc.dout + q_offset).v, 0,
                      sliceTensorLayoutNV(q_layout, q0, BR, 0, DP));
  SCORES lse = SCORES(0.0), delta = SCORES(0.0);
  coopMatPerElementNV(lse, lse, own_row, 0u);
  coopMatPerElementNV(delta, delta, own_row, 1u);
  ROWS_ACC acc = ROWS_ACC(0.0);

  const uvec2 keys = key_range(q0, q0 + own_valid);
  [[dont_unroll]] for (uint k0 = keys.x / BC * BC; k0 < keys.y; k0 += BC) {
    const uint visit_valid = min(BC, pc.T - k0);
    if (pc.documents != 0) {
      barrier();  // the previous tile's masks are done with visit_doc
      load_docs(false, b, k0);
      barrier();
      if (!documents_meet(own_span, visit_valid)) continue;
    }
    KT_MAT kt, vt;
    K_MAT kb;
    if (interior(k0, BC)) {
      coopMatLoadTensorNV(kt, k_aligned.v, 0, sliceTensorLayoutNV(kv_fast, k0, BC, 0, DP), transposed);
      coopMatLoadTensorNV(vt, v_aligned.v, 0, sliceTensorLayoutNV(kv_fast, k0, BC, 0, DP), transposed);
      coopMatLoadTensorNV(kb, k_aligned.v, 0, sliceTensorLayoutNV(kv_fast, k0, BC, 0, DP));
    } else {
      coopMatLoadTensorNV(kt, k.v, 0, sliceTensorLayoutNV(kv_layout, k0, BC, 0, DP), transposed);
      coopMatLoadTensorNV(vt, v.v, 0, sliceTensorLayoutNV(kv_layout, k0, BC, 0, DP), transposed);
      coopMatLoadTensorNV(kb, k.v, 0, sliceTensorLayoutNV(kv_layout, k0, BC, 0, DP));
    }
    SCORES s = coopMatMulAdd(q, kt, SCORES(0.0));
    SCORES dp = coopMatMulAdd(dout, vt, SCORES(0.0));
    if (visit_valid == BC && tile_all_visible(q0, own_valid, k0, BC))
      s = s * scale2;
    else
      coopMatPerElementNV(s, s, mask_score, q0, k0, scale2);
    [[unroll]] for (uint i = 0; i < s.length(); ++i) {
      // A masked score is -inf; so is the lse of a row that sees no key: p 0, never NaN.
      const float p = s[i] == negative_infinity() ? 0.0 : exp2(s[i] - lse[i]);
      s[i] = p * (dp[i] - delta[i]);
    }
    acc = coopMatMulAdd(DS_MAT(s), kb, acc);
  }

  acc = acc * pc.scale;
  BufElem dq = BufElem(pc.grad_a + q_offset);
  if (ACCUMULATE) {
    GRAD old;
    coopMatLoadTensorNV(old, dq.v, 0, sliceTensorLayoutNV(q_layout, q0, BR, 0, DP));
    acc = acc + ROWS_ACC(old);
  }
  GRAD result = GRAD(acc);
  coopMatStoreTensorNV(result, dq.v, 0, sliceTensorLayoutNV(q_layout, q0, BR, 0, DP));
}
