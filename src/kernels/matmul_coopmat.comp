#version 450
// matmul on GL_KHR_cooperative_matrix (subgroup scope): the same contract as matmul.comp with
// f16 inputs (IN_F16) and f32 or f16 C. Each workgroup computes a BM x BN tile of C; its
// (BM/WM)*(BN/WN) subgroups each own a WM x WN block made of CM x CN accumulators. A and B tiles
// (BM x BK, BK x BN) are staged in shared memory as f16, transposed on the way in where
// TRANS_A / TRANS_B say so, with padded rows against bank conflicts; edge tiles are zero-padded.
// Accumulators leave through a per-subgroup shared-memory patch so alpha, beta and the M/N
// bounds apply per element. The matrix shape (CM, CN, CK) must be one the device lists.
#extension GL_KHR_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#include "common.glsl"

layout(constant_id = 0) const uint TRANS_A = 0;
layout(constant_id = 1) const uint TRANS_B = 0;
layout(constant_id = 2) const uint BM = 128;
layout(constant_id = 3) const uint BN = 128;
layout(constant_id = 4) const uint BK = 32;
layout(constant_id = 5) const uint WM = 64;
layout(constant_id = 6) const uint WN = 32;
layout(local_size_x_id = 7) in;  // (BM / WM) * (BN / WN) * SUBGROUP
layout(constant_id = 8) const uint SUBGROUP = 32;
layout(constant_id = 9) const uint CM = 16;
layout(constant_id = 10) const uint CN = 16;
layout(constant_id = 11) const uint CK = 16;

layout(push_constant) uniform Push { MATMUL_PUSH } pc;

const uint PAD = 8;
const uint A_STRIDE = BK + PAD;
const uint B_STRIDE = BN + PAD;
shared float16_t tile_a[BM * A_STRIDE];  // [m][k]
shared float16_t tile_b[BK * B_STRIDE];  // [k][n]
shared float staging[(BM / WM) * (BN / WN) * CM * CN];

void main() {
  const uint threads = (BM / WM) * (BN / WN) * SUBGROUP;
  const uint batch = gl_WorkGroupID.z;
  IN_BUF a = IN_BUF(pc.a + uint64_t(batch) * pc.stride_a * IN_BYTES);
  IN_BUF b = IN_BUF(pc.b + uint64_t(batch) * pc.stride_b * IN_BYTES);
  OUT_BUF c = OUT_BUF(pc.c + uint64_t(batch) * pc.stride_c * OUT_BYTES);
  const uint m0 = gl_WorkGroupID.y * BM;
  const uint n0 = gl_WorkGroupID.x * BN;
  const uint tid = gl_LocalInvocationID.x;
  const uint sg = tid / SUBGROUP;
  const uint lane = tid % SUBGROUP;
  const uint wm0 = (sg / (BN / WN)) * WM;
  const uint wn0 = (sg % (BN / WN)) * WN;

  coopmat<float, gl_ScopeSubgroup, CM, CN, gl_MatrixUseAccumulator> acc[WM / CM][WN / CN];
  for (uint i = 0; i < WM / CM; ++i)
    for (uint j = 0; j < WN / CN; ++j)
      acc[i][j] = coopmat<float, gl_ScopeSubgroup, CM, CN, gl_MatrixUseAccumulator>(0.0);

  for (uint k0 = 0; k0 < pc.K; k0 += BK) {
    for (uint i = tid; i < BM * BK; i += threads) {
      uint r = TRANS_A == 0 ? i / BK : i % BM;
      uint kk = TRANS_A == 0 ? i % BK : i / BM;
      uint m = m0 + r, k = k0 + kk;
      float x = 0.0;
      if (m < pc.M && k < pc.K) x = in_load(a, TRANS_A == 0 ? m * pc.lda + k : k * pc.lda + m);
      tile_a[r * A_STRIDE + kk] = float16_t(x);
    }
    for (uint i = tid; i < BN * BK; i += threads) {
      uint col = TRANS_B == 0 ? i % BN : i / BK;
      uint kk = TRANS_B == 0 ? i / BN : i % BK;
      uint n = n0 + col, k = k0 + kk;
      float x = 0.0;
      if (n < pc.N && k < pc.K) x = in_load(b, TRANS_B == 0 ? k * pc.ldb + n : n * pc.ldb + k);
      tile_b[kk * B_STRIDE + col] = float16_t(x);
    }
    barrier();
    for (uint kk = 0; kk < BK; kk += CK) {
      coopmat<float16_t, gl_ScopeSubgroup, CM, CK, gl_MatrixUseA> fa[WM / CM];
      coopmat<float16_t, gl_ScopeSubgroup, CK, CN, gl_MatrixUseB> fb[WN / CN];
      for (uint i = 0; i < WM / CM; ++i)
        coopMatLoad(fa[i], tile_a, (wm0 + i * CM) * A_STRIDE + kk, A_STRIDE,
                    gl_CooperativeMatrixLayoutRowMajor);
      for (uint j = 0; j < WN / CN; ++j)
        coopMatLoad(fb[j], tile_b, kk * B_STRIDE + wn0 + j * CN, B_STRIDE,
                    gl_CooperativeMatrixLayoutRowMajor);
      for (uint i = 0; i < WM / CM; ++i)
        for (uint j = 0; j < WN / CN; ++j) acc[i][j] = coopMatMulAdd(fa[i], fb[j], acc[i][j]);
    }
    barrier();
  }

  const uint staging0 = sg * CM * CN;
  for (uint i = 0; i < WM / CM; ++i) {
    for (uint j = 0; j < WN / CN; ++j) {
      coopMatStore(acc[i][j], staging, staging0, CN, gl_CooperativeMatrixLayoutRowMajor);
      subgroupMemoryBarrierShared();
      subgroupBarrier();
      for (uint e = lane; e < CM * CN; e += SUBGROUP) {
        uint m = m0 + wm0 + i * CM + e / CN;
        uint n = n0 + wn0 + j * CN + e % CN;
        if (m >= pc.M || n >= pc.N) continue;
        uint at = m * pc.ldc + n;
        float y = pc.alpha * staging[staging0 + e];
        if (pc.beta != 0.0) y += pc.beta * out_load(c, at);
        out_store(c, at, y);
      }
      subgroupBarrier();
    }
  }
}
