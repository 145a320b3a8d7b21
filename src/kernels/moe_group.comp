#version 450
// moe_group: a stable counting sort of the S = T * k routing slots by expert, so each expert's
// rows are contiguous and keep token order: deterministic, no float atomics, on the device.
// Slots are cut into blocks of 256 (one workgroup each); STAGE picks the dispatch:
//   0  counts[b, e]: the slots of block b that chose expert e (bucket E: ids outside [0, E)),
//      counted with shared-memory integer atomics, whose sums do not depend on order;
//   1  one workgroup: offsets (an exclusive scan of the experts' totals) and counts[b, e]
//      replaced by the slots of expert e in blocks before b (one thread per expert, in order);
//   2  each slot's position: its expert's offset, plus its block's start, plus the slots of the
//      same expert before it in its block (a count over the block's 256 ids in shared memory).
// Limits: E < MAX_EXPERTS (the shared arrays); stage 1 loops about (E / 256 + 1) * blocks + E.
#include "common.glsl"
#include "moe_push.h"
layout(local_size_x = 256) in;
layout(constant_id = 0) const uint STAGE = 0;
layout(push_constant) uniform Push { MOE_GROUP_PUSH } pc;

const uint MAX_EXPERTS = 1024;
shared uint bucket_counts[MAX_EXPERTS + 1];
shared uint block_buckets[256];

uint bucket(uint slot) {
  uint e = BufU32(pc.ids).v[slot];
  return e < pc.experts ? e : pc.experts;  // negative ids read as huge: bucket E too
}

void main() {
  uint buckets = pc.experts + 1;
  uint tid = gl_LocalInvocationID.x;
  BufU32 counts = BufU32(pc.counts);
  BufU32 offsets = BufU32(pc.offsets);
  if (STAGE == 0) {
    uint b = gl_WorkGroupID.x;
    for (uint e = tid; e < buckets; e += 256) bucket_counts[e] = 0;
    barrier();
    uint slot = b * 256 + tid;
    if (slot < pc.slots) atomicAdd(bucket_counts[bucket(slot)], 1);
    barrier();
    for (uint e = tid; e < buckets; e += 256) counts.v[b * buckets + e] = bucket_counts[e];
  } else if (STAGE == 1) {
    for (uint e = tid; e < buckets; e += 256) {
      uint running = 0;
      for (uint b = 0; b < pc.blocks; ++b) {
        uint c = counts.v[b * buckets + e];
        counts.v[b * buckets + e] = running;
        running += c;
      }
      bucket_counts[e] = running;
    }
    barrier();
    if (tid == 0) {
      uint running = 0;
      for (uint e = 0; e < buckets; ++e) {
        uint c = bucket_counts[e];
        offsets.v[e] = running;  // offsets[E]: where bucket E (invalid ids) starts
        running += c;
      }
    }
  } else {
    uint b = gl_WorkGroupID.x;
    uint slot = b * 256 + tid;
    block_buckets[tid] = slot < pc.slots ? bucket(slot) : buckets;
    barrier();
    if (slot >= pc.slots) return;
    uint mine = block_buckets[tid], rank = 0;
    for (uint i = 0; i < tid; ++i) rank += block_buckets[i] == mine ? 1 : 0;
    uint position = offsets.v[mine] + counts.v[b * buckets + mine] + rank;
    BufU32(pc.rows).v[position] = slot;
    BufU32(pc.positions).v[slot] = position;
  }
}
