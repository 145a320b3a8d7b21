// The dk/dv kernels' query visits, whole or cut into KV_PARTS parts: a workgroup of keys visits,
// in order, each query head g of its kv head's group and, per head, the query_tiles tiles of BC
// queries from first_q0 its masks leave visible: visit n is head n / query_tiles, tile
// first_q0 + (n % query_tiles) * BC. With KV_PARTS > 1, workgroup y is kv head * KV_PARTS +
// part, part p takes the visits [p * n / KV_PARTS, (p + 1) * n / KV_PARTS) and stores its f32
// partial sums of dk and dv at grad_a / grad_b [KV_PARTS, B, T, Hkv, D] (the op sums them in
// order into dk and dv): a group with one kv head (Gemma-3: 4 query heads per kv head) then fills
// a GPU that B x Hkv x key tiles workgroups would leave half idle. A specialization constant
// (constant_id KV_PARTS_ID, defined by the kernel), so that the whole kernel keeps its code.
// Include after `pc` (ATTENTION_BACKWARD_PUSH), D and BC.

layout(constant_id = KV_PARTS_ID) const uint KV_PARTS = 1;
// Whether dk and dv are added into (the op's GradientStore::add) or written; the next constant.
layout(constant_id = KV_PARTS_ID + 1) const bool ACCUMULATE = true;

uint kv_head() { return gl_WorkGroupID.y / KV_PARTS; }
uint kv_part() { return gl_WorkGroupID.y % KV_PARTS; }

// This part's visits [x, y) of the group x query_tiles ones.
uvec2 part_visits(uint group, uint query_tiles) {
  uint visits = group * query_tiles;
  return uvec2(kv_part() * visits / KV_PARTS, (kv_part() + 1) * visits / KV_PARTS);
}

// Element `at` (from element kv_at of [B, T, Hkv, D]) of dk and dv: the sums added into dk and dv
// (OUT_*) where ACCUMULATE is set, else written, or in parts stored as this part's f32 partial
// sums. Every part stores every element of its keys, zeros where it visited nothing, so the
// ordered sum reads only written values.
void write_kv(uint64_t kv_at, uint at, float dk_sum, float dv_sum) {
  if (KV_PARTS > 1) {
    uint64_t count = uint64_t(gl_NumWorkGroups.z) * pc.T * pc.heads_kv * D;
    uint64_t first = uint64_t(kv_part()) * count + kv_at;
    BufF32(pc.grad_a + first * 4).v[at] = dk_sum;
    BufF32(pc.grad_b + first * 4).v[at] = dv_sum;
    return;
  }
  OUT_BUF dk = OUT_BUF(pc.grad_a + kv_at * OUT_BYTES);
  OUT_BUF dv = OUT_BUF(pc.grad_b + kv_at * OUT_BYTES);
  if (ACCUMULATE) {
    dk_sum += out_load(dk, at);
    dv_sum += out_load(dv, at);
  }
  out_store(dk, at, dk_sum);
  out_store(dv, at, dv_sum);
}
