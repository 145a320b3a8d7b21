#pragma once
// The copy task the trainer tests learn: BOS, five symbols, SEP, the same five symbols; only the
// copy is scored. Chance is 1 in 20 (loss ln 20 = 3.0); a model must learn to attend five tokens
// back to do better.
#include <cstdint>
#include <vector>

#include "data/batches.hpp"
#include "model/transformer.hpp"
#include "train/trainer.hpp"

namespace vktrain::test {

// A qwen3 model of 24 tokens (tied embeddings), 4 query and 2 kv heads, for the task.
io::ModelConfig copy_model_config(int64_t hidden, int64_t intermediate, int64_t layers,
                                  int64_t head_dim);
// `n` examples drawn with `seed`.
std::vector<data::TokenSequence> copy_examples(size_t n, uint32_t seed);
// copy_examples(n, seed) in batches of `batch` rows of 12 tokens, unpacked; training data is
// shuffled, scored data is not.
data::Batcher copy_batcher(size_t n, uint32_t seed, int64_t batch, bool shuffle);
// A run of `steps` steps of copy_batcher's batches, gradients clipped at 1.
train::TrainerOptions copy_options(const std::string& run_dir, int64_t steps, int64_t batch,
                                   const train::ScheduleOptions& schedule);

// Greedy accuracy of `m` on the scored targets of every batch of `data`.
double copy_accuracy(model::Transformer& m, const data::Batcher& data);

struct CopyRun {
  double first_loss = 0, last_loss = 0;  // of the first and last steps
  double loss = 0, accuracy = 0;         // on `scored` after the run
};
// Trains `m` on `train` for options.steps steps, then scores it on `scored`.
CopyRun train_copy(model::Transformer& m, const data::Batcher& train, const data::Batcher& scored,
                   const train::TrainerOptions& options);

}  // namespace vktrain::test
