#version 450
// embedding_backward: dtable[v, :] += scale * sum of dout[t, :] over the tokens t with ids[t] ==
// v, without atomics. `order` holds the token indices sorted stably by id (from the host), so
// equal ids form runs; the workgroup at the first position of a run owns that table row and
// sums the run's dout rows in order, its threads over the columns. Every row is written by one
// workgroup, so the bits are the same on every run; memory is O(tokens), never tokens x vocab.
// dout is IN_* (f32, f16 or bf16), dtable f32 [vocab, cols]. The op dispatches once per span of
// dtable and per span of dout (runs then add their pieces in span order); positions past the
// run starts are skipped, as are ids of other spans. Ids and order are clamped like forward.
#include "common.glsl"
#include "embedding_push.h"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { EMBEDDING_BACKWARD_PUSH } pc;

layout(buffer_reference, std430, buffer_reference_align = 4) buffer BufI32 { int v[]; };

uint token_at(BufI32 order, uint p) { return uint(clamp(order.v[p], 0, int(pc.tokens) - 1)); }
uint id_of(BufI32 ids, uint t) { return uint(clamp(ids.v[t], 0, int(pc.vocab) - 1)); }

void main() {
  BufI32 ids = BufI32(pc.ids);
  BufI32 order = BufI32(pc.order);
  for (uint p = gl_WorkGroupID.x; p < pc.tokens; p += gl_NumWorkGroups.x) {
    uint id = id_of(ids, token_at(order, p));
    if (p > 0 && id_of(ids, token_at(order, p - 1)) == id) continue;  // not a run start
    if (id < pc.first_row || id - pc.first_row >= pc.span_rows) continue;
    BufF32 row = BufF32(pc.dtable + uint64_t(id - pc.first_row) * pc.cols * 4);
    for (uint c = gl_LocalInvocationID.x; c < pc.cols; c += gl_WorkGroupSize.x) {
      float sum = 0.0;
      bool any = false;
      for (uint q = p; q < pc.tokens; ++q) {
        uint t = token_at(order, q);
        if (id_of(ids, t) != id) break;
        if (t - pc.first_token >= pc.piece_tokens) continue;  // unsigned: also t < first_token
        sum += in_load(IN_BUF(pc.dout + uint64_t(t - pc.first_token) * pc.cols * IN_BYTES), c);
        any = true;
      }
      if (any) row.v[c] += pc.scale * sum;
    }
  }
}
