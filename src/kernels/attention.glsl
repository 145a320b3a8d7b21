// Shared by the tiled attention kernels (forward, backward dq, backward dk/dv). A workgroup owns
// BR rows of one head (its own tile: queries, or keys) and visits the tiles of BC rows of the
// other side that its mask leaves visible. Per visited tile it forms scores own . visited^T
// ([BR, BC], inner dimension D) in steps of BD columns through shared memory, and then adds
// W . X (W [BR, BC] in shared memory, X the visited tile's [BC, D] rows, BV rows per step) into
// register accumulators [BR, D]. Include after the kernel's `pc` push block and after defining
// SCORE_PAIRS (1: one product per step, 2: two, as the backward needs).
//
// Threads: score element (r, c) of [BR, BC] belongs to thread (r % (BR/SR)) * (BC/SC) +
// c % (BC/SC), SR x SC of them each; accumulator (r, d) of [BR, D] to thread
// (r % (BR/TR)) * AL + d % AL, TR x TC each (TC = ceil(D / AL)). So
// (BR/SR) * (BC/SC) = (BR/TR) * AL = the workgroup size. Any head_dim up to AL * TC works.
// The loops over steps (head_dim slices, visited rows) carry [[dont_unroll]]: on lavapipe that
// cut the compile time of the backward kernels about 3x and their run time by a third. Loops
// over a thread's register arrays unroll, as they must for the arrays to stay in registers.

layout(constant_id = 0) const uint D = 128;  // head_dim
layout(constant_id = 1) const uint BR = 64;  // rows of the own tile
layout(constant_id = 2) const uint BC = 32;  // rows of a visited tile
layout(constant_id = 3) const uint BD = 32;  // head_dim columns per step of the scores
layout(constant_id = 4) const uint BV = 16;  // visited rows per step of the accumulation
layout(constant_id = 5) const uint SR = 4;   // score rows per thread
layout(constant_id = 6) const uint SC = 2;   // score columns per thread
layout(constant_id = 7) const uint TR = 4;   // accumulator rows per thread
layout(constant_id = 8) const uint TC = 8;   // accumulator columns per thread
layout(constant_id = 9) const uint AL = 16;  // threads across the accumulator columns
layout(local_size_x_id = 10) in;

const uint THREADS = (BR / SR) * (BC / SC);
const uint SCORES = SR * SC;  // per thread (named: arrays sized by spec constant expressions
const uint ACCS = TR * TC;    // must share one name to pass as function arguments)
const float LOG2E = 1.4426950408889634;
const float LN2 = 0.6931471805599453;

// Score steps hold a BD-column slice of each operand, transposed ([BD][rows + 1], the padding
// keeps the transposing stores free of bank conflicts); accumulation steps hold BV rows of X.
const uint OWN_LD = BR + 1;
const uint VISIT_LD = BC + 1;
const uint SLICE_FLOATS = SCORE_PAIRS * BD * (OWN_LD + VISIT_LD);
const uint ROWS_FLOATS = BV * D;
shared float stage[SLICE_FLOATS > ROWS_FLOATS ? SLICE_FLOATS : ROWS_FLOATS];
const uint W_LD = BC + 1;
shared float weights[BR * W_LD];  // W [BR][BC]: probabilities or their score gradients

uint thread_id() { return gl_LocalInvocationID.x; }
#include "attention_mask.glsl"

uint score_row(uint i) { return thread_id() / (BC / SC) + i * (BR / SR); }
uint score_col(uint j) { return thread_id() % (BC / SC) + j * (BC / SC); }
uint acc_row(uint i) { return thread_id() / AL + i * (BR / TR); }
uint acc_col(uint j) { return thread_id() % AL + j * AL; }

// Stores columns [d0, d0 + BD) of `rows` rows (row r at src[r * stride], zero past `valid` rows
// and past D) transposed into stage[at + d * ld + r].
void load_slice(IN_BUF src, uint stride, uint rows, uint valid, uint d0, uint at, uint ld) {
  for (uint i = thread_id(); i < rows * BD; i += THREADS) {
    uint r = i / BD, d = i % BD;
    float x = 0.0;
    if (r < valid && d0 + d < D) x = in_load(src, r * stride + d0 + d);
    stage[at + d * ld + r] = x;
  }
}

// s[i][j] += sum over the slice of own[score_row(i)] * visited[score_col(j)].
void multiply_slice(inout float s[SCORES], uint own_at, uint visit_at) {
  [[dont_unroll]] for (uint d = 0; d < BD; ++d) {
    float a[SR], b[SC];
    for (uint i = 0; i < SR; ++i) a[i] = stage[own_at + d * OWN_LD + score_row(i)];
    for (uint j = 0; j < SC; ++j) b[j] = stage[visit_at + d * VISIT_LD + score_col(j)];
    for (uint i = 0; i < SR; ++i)
      for (uint j = 0; j < SC; ++j) s[i * SC + j] = fma(a[i], b[j], s[i * SC + j]);
  }
}

// acc[i][j] += sum over c < BC of weights[acc_row(i)][c] * x[c][acc_col(j)], x = the visited
// tile's rows (row c at src[c * stride], zero past `valid`).
void accumulate(inout float acc[ACCS], IN_BUF src, uint stride, uint valid) {
  [[dont_unroll]] for (uint c0 = 0; c0 < BC; c0 += BV) {
    for (uint i = thread_id(); i < BV * D; i += THREADS) {
      uint c = i / D, d = i % D;
      stage[i] = c0 + c < valid ? in_load(src, (c0 + c) * stride + d) : 0.0;
    }
    barrier();
    [[dont_unroll]] for (uint c = 0; c < BV; ++c) {
      float w[TR], x[TC];
      for (uint i = 0; i < TR; ++i) w[i] = weights[acc_row(i) * W_LD + c0 + c];
      for (uint j = 0; j < TC; ++j) x[j] = acc_col(j) < D ? stage[c * D + acc_col(j)] : 0.0;
      for (uint i = 0; i < TR; ++i)
        for (uint j = 0; j < TC; ++j) acc[i * TC + j] = fma(w[i], x[j], acc[i * TC + j]);
    }
    barrier();
  }
}
