#include "train/training_plan.hpp"

#include "train/gradient_buckets.hpp"
#include "vk/memory.hpp"

namespace vktrain::train {

model::MemoryPlan plan_training(const io::ModelConfig& config, const model::ModelSetup& setup,
                                int64_t batch, int64_t seq, int64_t micro_batches,
                                const vk::Capabilities& device,
                                OptimizerKind optimizer, int64_t ranks,
                                bool shard_optimizer, uint64_t bucket_bytes) {
  // Sharded, the masters too where the run has any apart from its weights (f16/bf16).
  model::ModelSetup sharded = setup;
  if (shard_optimizer && ranks > 1) sharded.master_shards = ranks;
  model::MemoryPlan plan =
      model::plan_memory(config, sharded, batch, seq, micro_batches, device);
  plan.optimizer = optimizer_state_bytes(optimizer, plan.gradients, shard_optimizer ? ranks : 1);
  if (ranks > 1) {  // TrainingStep's staging ring and, sharded, its norm exchange (f32 [2])
    const StagingRing ring =
        staging_ring(plan.gradients / sizeof(float), bucket_bytes, device.max_allocation);
    plan.staging = ring.slots * vk::allocated_bytes(ring.slot_elements * sizeof(float));
    if (shard_optimizer) plan.staging += vk::allocated_bytes(2 * sizeof(float));
  }
  return plan;
}

uint64_t allreduce_bytes_per_rank(uint64_t gradient_bytes, int64_t ranks) {
  if (ranks <= 1) return 0;
  return uint64_t(2.0 * double(ranks - 1) / double(ranks) * double(gradient_bytes));
}

uint64_t ring_pass_bytes_per_rank(uint64_t bytes, int64_t ranks) {
  if (ranks <= 1) return 0;
  return uint64_t(double(ranks - 1) / double(ranks) * double(bytes));
}

}  // namespace vktrain::train
