#version 450
// embedding_forward: out[t, :] = scale * table[ids[t], :] for i32 ids [tokens], table [vocab,
// cols] and out [tokens, cols] (IN_* table, OUT_* out, the same dtype; the product in f32,
// rounded once, which equals transformers multiplying two tensors of that dtype). A workgroup
// per token (grid-stride over tokens), its threads over the columns. The table may be split
// over several allocations: the op dispatches once per span, and a token whose id is in
// another span is skipped. With BLOCK (and BLOCK_<type>) the table is block-quantized
// (quant.glsl) and OUT_* any float type: a row decodes to exactly io::dequantize's floats. Ids
// are clamped to [0, vocab): the kernel cannot report a bad id, so it reads a real row instead
// of stray memory (the host validates ids where it has them).
#include "common.glsl"
#include "embedding_push.h"
#ifdef BLOCK
#include "quant.glsl"
#define table_row_bytes(cols) quant_row_bytes(cols)
#define table_load(row, c) quant_load(row, c)
#else
#define table_row_bytes(cols) (uint64_t(cols) * IN_BYTES)
#define table_load(row, c) in_load(IN_BUF(row), c)
#endif
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { EMBEDDING_FORWARD_PUSH } pc;

layout(buffer_reference, std430, buffer_reference_align = 4) buffer BufI32 { int v[]; };

void main() {
  BufI32 ids = BufI32(pc.ids);
  for (uint t = gl_WorkGroupID.x; t < pc.tokens; t += gl_NumWorkGroups.x) {
    uint id = uint(clamp(ids.v[t], 0, int(pc.vocab) - 1));
    if (id < pc.first_row || id - pc.first_row >= pc.span_rows) continue;
    uint64_t row = pc.table + uint64_t(id - pc.first_row) * table_row_bytes(pc.cols);
    OUT_BUF dst = OUT_BUF(pc.dst + uint64_t(t) * pc.cols * OUT_BYTES);
    for (uint c = gl_LocalInvocationID.x; c < pc.cols; c += gl_WorkGroupSize.x)
      out_store(dst, c, pc.scale * table_load(row, c));
  }
}
