// The optimizer state sharded over data-parallel ranks (ZeRO-1). The shards of any N split the
// arenas once, in rank order, on whole rows. The second test runs on every rank of the job that
// runs it: alone, one rank (unsharded); as tests/cli's train.sharded_optimizer_2_ranks, under
// mpirun -np 2. There each rank's AdamW (and AdamW 8-bit) state takes the bytes of its shard,
// rank 0's being what the memory plan counts per device, and a checkpoint's state written
// through the optimizer (each rank keeping its part) and read back (rank 0 gathering the parts)
// is what was written.
// The third, a whole bf16 step on two ranks: the model holds only its shard of the masters,
// the step's staging is a ring of bucket-sized buffers, and the allocator's peak is what
// plan_training says per device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "model/tiny_models.hpp"
#include "support/support.hpp"
#include "train/optimizer.hpp"
#include "train/step.hpp"
#include "train/training_plan.hpp"
#include "vk/context.hpp"

namespace vktrain {
namespace {

// The job this process runs in, for every test: MPI is initialised once and finalised at exit.
const train::Communicator& job() {
  static const std::unique_ptr<train::Communicator> ranks = train::Communicator::from_launch();
  return *ranks;
}

TEST(OptimizerShard, SplitsTheArenasOnceInRankOrder) {
  constexpr uint64_t kRow = model::kArenaRow;
  for (uint64_t rows : {1, 5, 8}) {
    for (int64_t ranks : {1, 2, 3, 8}) {
      uint64_t end = 0, largest = 0;
      for (int64_t r = 0; r < ranks; ++r) {
        const train::ArenaRange shard = train::optimizer_shard(rows * kRow, r, ranks);
        EXPECT_EQ(shard.first, end) << rows << " rows, rank " << r << " of " << ranks;
        EXPECT_EQ(shard.count % kRow, 0u);
        end = shard.first + shard.count;
        largest = std::max(largest, shard.count);
      }
      EXPECT_EQ(end, rows * kRow) << rows << " rows over " << ranks;
      // Rank 0 holds the most: the plan's bytes per device.
      EXPECT_EQ(train::optimizer_shard(rows * kRow, 0, ranks).count, largest);
      EXPECT_EQ(train::optimizer_state_bytes(train::OptimizerKind::adamw, rows * kRow * 4, ranks),
                2 * largest * 4);
    }
  }
}

// The optimizer of `kind` on every rank holds its shard of the state, as much as the plan says
// (rank 0 the most), and a checkpoint's state tensors written on every rank read back whole on
// rank 0.
void check_shard_and_checkpoint_state(train::OptimizerKind kind) {
  const train::Communicator* ranks = &job();
  const io::ModelConfig config = test::tiny_config("qwen3");
  model::ModelSetup setup;
  setup.full = true;
  auto m = test::random_model(config, setup, 5);
  model::Parameters& params = m->parameters();
  vk::Context& ctx = m->context();

  // What the optimizer allocates besides its state: the step values (f32 [3]).
  uint64_t before = ctx.allocator.stats().in_use;
  const Tensor step_values = make_tensor(ctx, DType::f32, {3}, "step values");
  const uint64_t values_bytes = ctx.allocator.stats().in_use - before;
  before = ctx.allocator.stats().in_use;
  auto optimizer = train::make_optimizer(params, {}, ranks, kind);
  const uint64_t state = ctx.allocator.stats().in_use - before - values_bytes;
  const uint64_t arena = params.trainable_elements();
  EXPECT_EQ(optimizer->kind(), kind);
  EXPECT_EQ(optimizer->sharded(), ranks->distributed());
  EXPECT_EQ(optimizer->updated().count,
            train::optimizer_shard(arena, ranks->rank(), ranks->size()).count);
  const model::MemoryPlan plan = train::plan_training(config, setup, 2, 11, 1, ctx.caps(), kind,
                                                      ranks->size(), true);
  if (ranks->rank() == 0) {
    EXPECT_EQ(state, plan.optimizer);
  } else {
    EXPECT_LE(state, plan.optimizer);
  }
  if (ranks->distributed()) {
    EXPECT_LT(state, train::optimizer_state_bytes(kind, arena * sizeof(float)));
  }

  // Every rank writes the same values (codes 0..255, absmax and moments as floats); rank 0 reads
  // back each tensor whole.
  std::map<std::string, std::vector<float>> written;
  uint32_t seed = 0;
  for (const auto& p : params.all()) {
    if (!p.trainable) continue;
    const std::vector<train::StateTensor> tensors = optimizer->state_tensors(p);
    for (size_t i = 0; i < tensors.size(); ++i) {
      uint64_t count = 1;
      for (int64_t d : tensors[i].shape) count *= uint64_t(d);
      std::vector<float> values = test::random_values(count, ++seed);
      for (float& x : values) x = tensors[i].codes ? std::floor((x + 1) * 127.9f) : std::fabs(x);
      optimizer->write_state(p, i, values);
      written[tensors[i].name] = std::move(values);
    }
  }
  for (const auto& p : params.all()) {
    if (!p.trainable) continue;
    const std::vector<train::StateTensor> tensors = optimizer->state_tensors(p);
    for (size_t i = 0; i < tensors.size(); ++i) {
      const std::vector<float> read = optimizer->read_state(p, i);
      if (ranks->rank() == 0) EXPECT_EQ(read, written[tensors[i].name]) << tensors[i].name;
      else EXPECT_TRUE(read.empty());
    }
  }
}

TEST(ShardedAdamw, HoldsItsShardAndGathersTheCheckpointState) {
  check_shard_and_checkpoint_state(train::OptimizerKind::adamw);
}

TEST(ShardedAdamw8bit, HoldsItsShardAndGathersTheCheckpointState) {
  check_shard_and_checkpoint_state(train::OptimizerKind::adamw_8bit);
}

TEST(ShardedStep, HoldsTheShardOfTheMastersAndThePlannedPeak) {
  const train::Communicator* ranks = &job();
  const io::ModelConfig config = test::tiny_config("qwen3");
  model::ModelSetup setup;
  setup.dtype = DType::bf16;
  setup.full = true;
  setup.master_shard = ranks->rank();
  setup.master_shards = ranks->size();
  constexpr uint64_t kBucketBytes = 40'000;  // several buckets through the ring
  vk::Context ctx;  // its own allocator: a peak no earlier test has raised
  const uint64_t before = ctx.allocator.stats().in_use;
  const model::MemoryPlan plan = train::plan_training(config, setup, 2, 11, 1, ctx.caps(), {},
                                                      ranks->size(), true, kBucketBytes);
  {
    model::Transformer m(ctx, config, setup);
    model::Parameters& params = m.parameters();
    EXPECT_EQ(params.masters_sharded(), ranks->distributed());
    EXPECT_EQ(params.master_arena().bytes(), params.master_shard().count * sizeof(float));
    // Rank 0 holds the most. The model: weights (every trainable one a compute copy when
    // sharded), masters, gradients.
    if (ranks->rank() == 0) {
      EXPECT_EQ(params.master_arena().bytes(), plan.master);
      EXPECT_EQ(ctx.allocator.stats().in_use - before,
                plan.weights + plan.master + plan.gradients);
    }
    auto weights = test::random_weights(model::base_parameters(config), 5);
    for (const auto& p : params.all()) params.write(p.spec.name, weights.at(p.spec.name));
    train::TrainingStep step(m, {2, 11, 1, false, kBucketBytes}, {}, ranks, true);
    std::vector<data::HostBatch> micro;
    for (int r = 0; r < ranks->size(); ++r) micro.push_back(test::tiny_batch(config, 1 + r));
    EXPECT_TRUE(std::isfinite(step.run(micro, 1e-3, 1, 7).loss));
    step.evaluator().loss(test::tiny_batch(config, 9));
  }
  const uint64_t measured = ctx.allocator.stats().peak_in_use - before;
  std::printf("rank %d of %d: planned %llu bytes (staging %llu), measured peak %llu\n",
              ranks->rank(), ranks->size(), (unsigned long long)plan.total(false),
              (unsigned long long)plan.staging, (unsigned long long)measured);
  if (ranks->rank() == 0) {
    EXPECT_NEAR(double(plan.total(false)) / double(measured), 1.0, 0.10);
  }
}

}  // namespace
}  // namespace vktrain
