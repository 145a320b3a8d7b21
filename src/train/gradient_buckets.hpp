#pragma once
// The gradient arena cut into buckets for the all-reduce overlapped with the backward (DESIGN.md
// decision 10). The backward produces gradients from the head down: the final norm and an
// untied lm_head, then layers L-1 .. 0, then the embedding (also an lm_head tied to it). A
// bucket is a contiguous range of the arena whose gradients are all final once the last
// micro-batch's backward of one layer is recorded; the step copies it to host-visible staging
// there and the host starts its MPI sum while the device goes on with the layers below.
//
// Buckets follow the backward: each gathers layers until it holds at least `bucket_bytes`
// (torch DDP's bucket_cap_mb, 25 MB by default), and the last one holds what is final only at
// the end (the embedding and the layers left over). The arena lays parameters out in the
// model's order (embedding, layers ascending, final norm, lm_head), so the range final after
// layer l is [start of layer l, end): contiguous. A bucket never exceeds `max_bytes` (one
// staging buffer, staging_ring): a longer range is cut into several buckets final at the same
// layer.
//
// Staging: the host sees a bucket only through a host-visible buffer, and one per bucket would
// hold the whole gradient arena again in host-visible memory (system memory on a discrete GPU,
// the device's own on a unified-memory APU; the allocator counts it either way). So a ring of
// a few bucket-sized buffers serves the buckets in turn: bucket i uses buffer i mod slots, and
// its download waits until the buckets before it in that buffer are summed and uploaded. The
// ring holds what is in flight, O(bucket x slots), not O(model).
#include <cstdint>
#include <vector>

#include "io/model_config.hpp"
#include "model/parameters.hpp"

namespace vktrain::train {

struct GradientBucket {
  uint64_t first = 0, count = 0;  // elements of the gradient arena
  int64_t after_layer = -1;       // final after this layer's backward; -1: after the whole one
};

// The buckets of `params`' gradient arena in backward order; together they cover it once.
std::vector<GradientBucket> gradient_buckets(const model::Parameters& params,
                                             const io::ModelConfig& config, uint64_t bucket_bytes,
                                             uint64_t max_bytes);

// The staging buffers in flight: four let the sums of three buckets run while the device
// copies out a fourth, as the backward of a layer or so takes.
inline constexpr uint64_t kStagingSlots = 4;

struct StagingRing {
  uint64_t slots = 0, slot_elements = 0;  // f32 elements per buffer, a whole number of rows
};

// The ring for a gradient arena of `arena_elements` whose buckets are cut at `bucket_bytes`
// (--bucket-mb, whole rows; 0, a bucket per layer: 1 MiB; at most one allocation of
// `max_allocation` and 1 GiB): its buffers hold the largest bucket gradient_buckets makes with
// max_bytes = slot_elements x 4, and no more buffers than the arena can fill.
StagingRing staging_ring(uint64_t arena_elements, uint64_t bucket_bytes, uint64_t max_allocation);

}  // namespace vktrain::train
