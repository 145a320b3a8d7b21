#version 450
// dequantize: a slab of a block-quantized weight decoded into a dense matrix (the slabs that
// ops::matmul multiplies with its float kernels, ops/matmul.hpp): dst[r * cols + c] = value c of
// source row r, r < rows, c < cols, as quant.glsl decodes it (io::dequantize's floats), rounded
// once to OUT_*. Source rows are src_stride bytes apart and start at a block; cols is a multiple
// of the block size. One invocation decodes a run of 8 values, grid-stride.
#include "common.glsl"
#include "quant.glsl"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { DEQUANTIZE_PUSH } pc;

void main() {
  OUT_BUF dst = OUT_BUF(pc.dst);
  const uint runs_per_row = pc.cols / QUANT_RUN;
  for (uint j = gl_GlobalInvocationID.x; j < pc.rows * runs_per_row; j += TOTAL_THREADS) {
    const uint r = j / runs_per_row, c = (j - r * runs_per_row) * QUANT_RUN;
    const uint i = c % QUANT_ELEMENTS;
    float v[QUANT_RUN];
    quant_unpack(quant_fetch(quant_block(pc.src + uint64_t(r) * pc.src_stride, c), i), i, v);
    [[unroll]] for (uint k = 0; k < QUANT_RUN; ++k) out_store(dst, r * pc.cols + c + k, v[k]);
  }
}
