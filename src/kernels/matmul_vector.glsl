// The matrix-vector products on a block-quantized weight (matmul_vector.comp,
// moe_matmul_vector.comp): `rows` (<= MAX_M) rows of A times one row of W, the decode step's
// product, bound by reading W. The workgroup's threads walk the row's runs of 8 values in turn
// (quant.glsl), so together they read each block once and decode each value once, and each
// thread keeps MAX_M partial sums; subgroupAdd reduces them within each subgroup and the
// workgroup adds the subgroups' sums in shared memory, in order, at any subgroup size.
// After common.glsl and quant.glsl, with MAX_M and THREADS (the local size) declared.

// One sum per row of A and subgroup (up to THREADS subgroups, of one invocation each).
shared float vector_sums[MAX_M * THREADS];

// c[m * ldc + n] = alpha * sum_k a[m * lda + k] w_row[k] + beta * c[m * ldc + n] (beta 0: c not
// read) for m < rows; w_row is the address of W's row, K (whole blocks) values long.
void vector_column(IN_BUF a, uint lda, uint64_t w_row, uint K, uint rows, OUT_BUF c, uint ldc,
                   uint n, float alpha, float beta) {
  float acc[MAX_M];
  [[unroll]] for (uint m = 0; m < MAX_M; ++m) acc[m] = 0.0;
  // Runs of 8 values (K is whole blocks): one header read and a few word loads per run.
  for (uint k = gl_LocalInvocationID.x * QUANT_RUN; k < K; k += THREADS * QUANT_RUN) {
    float v[QUANT_RUN];
    quant_unpack(quant_fetch(quant_block(w_row, k), k % QUANT_ELEMENTS), k % QUANT_ELEMENTS, v);
    [[unroll]] for (uint m = 0; m < MAX_M; ++m)
      if (m < rows)
        [[unroll]] for (uint j = 0; j < QUANT_RUN; ++j)
          acc[m] = fma(in_load(a, m * lda + k + j), v[j], acc[m]);
  }

  [[unroll]] for (uint m = 0; m < MAX_M; ++m) {
    float sum = subgroupAdd(acc[m]);
    if (subgroupElect()) vector_sums[m * THREADS + gl_SubgroupID] = sum;
  }
  barrier();
  const uint m = gl_LocalInvocationID.x;
  if (m < rows) {
    float total = 0.0;
    for (uint s = 0; s < gl_NumSubgroups; ++s) total += vector_sums[m * THREADS + s];
    uint at = m * ldc + n;
    float y = alpha * total;
    if (beta != 0.0) y += beta * out_load(c, at);
    out_store(c, at, y);
  }
  barrier();  // before the next column writes vector_sums again
}
