#pragma once
// The memory plan of a training run: the model's part (model/memory_plan.hpp: weights, the
// master and gradient arenas, activations, workspace) and the optimizer's state, which the
// optimizer sizes (train/optimizer.hpp), since model/ sits below train/. Data parallel over N
// ranks, each device holds the same plus the host-visible staging ring of the gradients'
// buckets (`staging`: train/gradient_buckets.hpp, for buckets of `bucket_bytes`), and each
// step all-reduces the gradients; with the optimizer sharded (ZeRO-1), each holds 1/N of the
// optimizer's state and, in f16/bf16 runs, of the f32 masters (rank 0 the most; an f32 run's
// masters are its weights, whole), and each step reduce-scatters the gradients and all-gathers
// the masters instead. The gradients stay whole (the backward accumulates into them).
#include <cstdint>

#include "model/memory_plan.hpp"
#include "train/optimizer.hpp"

namespace vktrain::train {

model::MemoryPlan plan_training(const io::ModelConfig& config, const model::ModelSetup& setup,
                                int64_t batch, int64_t seq, int64_t micro_batches,
                                const vk::Capabilities& device,
                                OptimizerKind optimizer = OptimizerKind::adamw, int64_t ranks = 1,
                                bool shard_optimizer = false,
                                uint64_t bucket_bytes = 25'000'000);

// The bytes each rank sends (and receives) per step in a ring all-reduce of `gradient_bytes`
// over `ranks`: 2 (N - 1) / N of them, as Open MPI's large-message allreduce moves them.
uint64_t allreduce_bytes_per_rank(uint64_t gradient_bytes, int64_t ranks);
// Those of a ring reduce-scatter or all-gather of `bytes` (the sharded optimizer's gradients
// and masters): (N - 1) / N of them.
uint64_t ring_pass_bytes_per_rank(uint64_t bytes, int64_t ranks);

}  // namespace vktrain::train
