#pragma once
// The training loop: optimizer steps of K micro-batches through the recorded TrainingStep, the
// learning-rate schedule, evaluation every N steps, atomic checkpoints every N steps and exact
// resume, and metrics.jsonl.
//
// Exact resume: a checkpoint holds everything a step depends on: the trainable masters in f32
// (a PEFT adapter, or model.safetensors for full fine-tuning), AdamW's moments, the step, the
// data position and the random state the dropout seeds come from. Compute copies are rebuilt
// from the masters as every step does, so the losses after resuming equal those of an
// uninterrupted run, bit for bit.
//
// Overlap: while step n runs on the device, the host builds step n+1's micro-batches and writes
// them into the step's free input slot (TrainingStep::prepare). They come from a copy of the
// data position and random state, which becomes the run's own only when step n+1 is submitted:
// a checkpoint written after step n (evaluation and checkpoints read the parameters, so they
// run between finish(n) and submit(n+1)) resumes at step n+1's batches, none skipped or
// repeated.
//
// Data parallel (train/communicator.hpp): every rank runs this loop on the same data order; a
// step takes N x K micro-batches, each rank trains its K (TrainingStep), so the data position,
// the schedule and the checkpoint are those of one rank with N x K. Rank 0 alone writes
// metrics and checkpoints; every rank reads the same checkpoint on resume. Evaluation is
// sharded: each rank scores every N-th validation batch and the sums are reduced. A stop (Ctrl-C) on
// any rank stops every rank after the same step.
#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "data/batches.hpp"
#include "train/schedule.hpp"
#include "train/step.hpp"
#include "train/train_state.hpp"

namespace vktrain::train {

struct TrainerOptions {
  std::string run_dir;
  int64_t steps = 0;  // optimizer steps of the whole run
  StepShape shape;
  ops::AdamwOptions adamw;
  ScheduleOptions schedule;  // total_steps is set from `steps`
  int64_t eval_every = 0;    // 0: never (evaluation also runs after the last step)
  int64_t eval_batches = 0;  // 0: the whole validation set
  int64_t save_every = 0;    // 0: only after the last step
  uint64_t seed = 0;         // dropout masks
  bool resume = false;       // continue from the run directory's latest checkpoint
  std::string base_model;    // written into adapters (base_model_name_or_path)
  nlohmann::json settings;   // what must not change on resume
  const Communicator* ranks = nullptr;  // the data-parallel job (null: one rank)
  bool shard_optimizer = false;         // the optimizer state sharded over `ranks` (ZeRO-1)
  OptimizerKind optimizer = OptimizerKind::adamw;  // with `adamw`'s hyperparameters
};

struct StepReport {
  int64_t step = 0, steps = 0;
  double loss = 0, lr = 0, grad_norm = 0;
  int64_t tokens = 0;          // tokens processed, padding aside (data::count_tokens)
  int64_t trained_tokens = 0;  // those of them that are targets of the loss
  double seconds = 0;     // wall time of the step
  std::optional<double> eval_loss;
};

// Data parallel: the time of the run's steps and, of it, the gradients' staging copies and the
// MPI not hidden behind the backward (StepResult), summed over the steps this process ran.
struct DataParallelTime {
  int64_t steps = 0;
  double seconds = 0, staging = 0, mpi = 0;
};

class Trainer {
 public:
  Trainer(model::Transformer& model, const data::Batcher& train, const data::Batcher* valid,
          TrainerOptions options);
  // Runs the remaining steps. `report` sees every step and returns true to stop early (Ctrl-C):
  // the run then saves a checkpoint of the step it reached and returns true (on every rank
  // when any rank's `report` asked to stop).
  bool run(const std::function<bool(const StepReport&)>& report = {});
  // Mean loss over the validation batches.
  double evaluate();
  void save_checkpoint();
  int64_t step() const { return state_.step; }
  const TrainerOptions& options() const { return options_; }
  // Whether this process writes the run's files: rank 0, or the only rank.
  bool writes_outputs() const { return !options_.ranks || options_.ranks->rank() == 0; }
  const DataParallelTime& data_parallel_time() const { return overhead_; }
  const Optimizer& optimizer() { return step_.optimizer(); }

 private:
  void restore(const std::string& checkpoint);
  // Step `index` (0-based) from `cursor`'s data position and random state, which it advances.
  void prepare(TrainState& cursor, int64_t index);
  std::vector<data::HostBatch> next_micro_batches(TrainState& cursor) const;

  model::Transformer& model_;
  const data::Batcher& train_;
  const data::Batcher* valid_;
  TrainerOptions options_;
  TrainState state_;
  TrainingStep step_;
  DataParallelTime overhead_;
};

}  // namespace vktrain::train
