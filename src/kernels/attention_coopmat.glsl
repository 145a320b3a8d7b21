// Shared by the attention kernels on GL_KHR_cooperative_matrix (forward, backward dq, backward
// dk/dv; FlashAttention-2 on F x F x F matrices of ELEM, f16 or bf16 as the kernel's IN_F16 /
// IN_BF16 says, into f32 accumulators; F = 16 on GPUs, 8 where the device lists only 8x8x8, as
// lavapipe). A workgroup is 4 subgroups of SUBGROUP lanes (any size the device runs at, required
// through subgroup size control where it offers a range); it owns BR = 4 x RB x F rows of one
// head (its own tile), RB blocks of F rows per subgroup, whose operands each subgroup keeps in
// registers as A matrices, and visits tiles of BC rows of the other side: each B fragment of a
// visited tile is loaded once for RB products. Visited tiles are staged in `tiles`
// ([region][BC][D + 8 elements], ELEM4, 16-byte loads from global memory, zero past T); each
// subgroup stages its 16-bit products (P, dS) in its slice of `half_stage`
// ([HALF_STAGES][4][RB F][BC + 8]) to feed them back as A matrices.
// Element-wise work on accumulators uses element_index(): the element order of a coopmat is the
// implementation's, but the same for every matrix of one type (element-wise operators rely on
// it), so one accumulator loaded with row * F + column tells each lane where its elements lie.
// Row statistics (the forward's maxima and sums) go through shared memory, one lane per row, so
// no lane layout is assumed.
// Include after the kernel's `pc` block, with TILE_REGIONS and HALF_STAGES defined. head_dim D:
// a multiple of 16 up to 256; BC a multiple of F up to 64. Specialization constants 0-5 here,
// the kernel's own from 6.
#extension GL_KHR_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_EXT_control_flow_attributes : require

// ELEM: the element type of the tensors and of the A and B matrices; ELEM4 four of them.
// to_elem4 turns four elements' bits (two 32-bit words) into an ELEM4.
#if defined(IN_BF16)
#extension GL_EXT_bfloat16 : require
#define ELEM bfloat16_t
#define ELEM4 bf16vec4
ELEM4 to_elem4(uint lo, uint hi) {
  return uintBitsToBFloat16EXT(u16vec4(unpack16(lo), unpack16(hi)));
}
#else
#define ELEM float16_t
#define ELEM4 f16vec4
ELEM4 to_elem4(uint lo, uint hi) { return f16vec4(unpackFloat2x16(lo), unpackFloat2x16(hi)); }
#endif

layout(constant_id = 0) const uint D = 128;        // head_dim
layout(constant_id = 1) const uint BC = 64;        // rows of a visited tile
layout(constant_id = 2) const uint F = 16;         // side of the matrices
layout(constant_id = 3) const uint RB = 1;         // blocks of F own rows per subgroup
layout(constant_id = 4) const uint SUBGROUP = 32;  // lanes per subgroup
layout(local_size_x_id = 5) in;                    // THREADS

const uint SUBGROUPS = 4;
const uint THREADS = SUBGROUPS * SUBGROUP;
const uint SG_ROWS = RB * F;       // own rows per subgroup
const uint BR = SUBGROUPS * SG_ROWS;
const uint DB = D / F;   // F-column blocks of head_dim
const uint CB = BC / F;  // F-row blocks of a visited tile
const uint LD4 = D / 4 + 2;  // ELEM4 per staged row: 16 bytes of padding against bank conflicts
const uint HALF_LD = BC + 8;
const float LOG2E = 1.4426950408889634;
const float LN2 = 0.6931471805599453;

#define ACC coopmat<float, gl_ScopeSubgroup, F, F, gl_MatrixUseAccumulator>
#define MAT_A coopmat<ELEM, gl_ScopeSubgroup, F, F, gl_MatrixUseA>
#define MAT_B coopmat<ELEM, gl_ScopeSubgroup, F, F, gl_MatrixUseB>
#define ROW_MAJOR gl_CooperativeMatrixLayoutRowMajor
#define COLUMN_MAJOR gl_CooperativeMatrixLayoutColumnMajor

layout(buffer_reference, std430, buffer_reference_align = 16) buffer BufVec16 { uvec4 v[]; };

shared ELEM4 tiles[TILE_REGIONS * BC * LD4];
shared ELEM half_stage[HALF_STAGES * SUBGROUPS * SG_ROWS * HALF_LD];
shared float index_stage[F * F];  // row * F + column, for element_index()

uint thread_id() { return gl_LocalInvocationID.x; }
#include "attention_mask.glsl"

// Where F-column block `block` of row `row` of a staged tile starts in `tiles`.
uint tile_at(uint region, uint row, uint block) {
  return (region * BC + row) * LD4 + block * (F / 4);
}

// Staging a visited tile in two halves, so that its global loads (all in flight at once) can
// overlap other work: fetch_rows loads BC rows of an ELEM tensor (row r at element r * stride of
// the address `src`, zero at and past row `valid`) into registers `slot` (FETCH_SLOTS of them, 1
// unless the kernel defines more); store_rows writes them into region `region` of `tiles`.
// Callers barrier around store_rows.
#ifndef FETCH_SLOTS
#define FETCH_SLOTS 1
#endif
const uint VECTORS = D / 8;  // 16-byte vectors per row
const uint FETCH_STEPS = (BC * VECTORS + THREADS - 1) / THREADS;
uvec4 fetched[FETCH_SLOTS][FETCH_STEPS];

void fetch_rows(uint64_t src, uint stride, uint valid, uint slot) {
  BufVec16 rows = BufVec16(src);
  [[unroll]] for (uint step = 0; step < FETCH_STEPS; ++step) {
    uint i = thread_id() + step * THREADS, r = i / VECTORS, c = i % VECTORS;
    fetched[slot][step] = r < valid && r < BC ? rows.v[(r * stride) / 8 + c] : uvec4(0);
  }
}

void store_rows(uint region, uint slot) {
  [[unroll]] for (uint step = 0; step < FETCH_STEPS; ++step) {
    uint i = thread_id() + step * THREADS, r = i / VECTORS, c = i % VECTORS;
    if (r >= BC) continue;
    uvec4 x = fetched[slot][step];
    uint at = tile_at(region, r, 0) + 2 * c;
    tiles[at] = to_elem4(x.x, x.y);
    tiles[at + 1] = to_elem4(x.z, x.w);
  }
}

void stage_rows(uint64_t src, uint stride, uint valid, uint region) {
  fetch_rows(src, stride, valid, 0);
  store_rows(region, 0);
}

// row * F + column of each element this lane holds of every ACC (see the top of the file).
ACC element_index() {
  for (uint e = thread_id(); e < F * F; e += THREADS) index_stage[e] = float(e);
  barrier();
  ACC index;
  coopMatLoad(index, index_stage, 0, F, ROW_MAJOR);
  return index;
}

uint element_row(ACC index, uint i) { return uint(index[i]) / F; }
uint element_col(ACC index, uint i) { return uint(index[i]) % F; }

// This subgroup's own rows start at this row of the workgroup's.
uint subgroup_row() { return gl_SubgroupID * SG_ROWS; }

// An F x F product (P or dS) of this subgroup into half_stage at `at` (row stride HALF_LD), as
// ELEM, to be loaded back as an A matrix. f16 goes through an f16 accumulator; bf16 is written
// element by element: the op checks only the bf16 x bf16 -> f32 shape, and a bf16 accumulator
// is a type the device need not list (the H200 lists none; its bf16 timings are within 3% of
// f16's, bench/RESULTS.md).
// Callers make the stores visible to the subgroup before loading.
void stage_product(ACC product, ACC index, uint at) {
#if defined(IN_BF16)
  [[unroll]] for (uint i = 0; i < product.length(); ++i)
    half_stage[at + element_row(index, i) * HALF_LD + element_col(index, i)] = ELEM(product[i]);
#else
  coopMatStore(coopmat<float16_t, gl_ScopeSubgroup, F, F, gl_MatrixUseAccumulator>(product),
               half_stage, at, HALF_LD, ROW_MAJOR);
#endif
}
