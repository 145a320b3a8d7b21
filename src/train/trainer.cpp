#include "train/trainer.hpp"

#include <chrono>
#include <exception>
#include <filesystem>

#include "base/error.hpp"
#include "base/random.hpp"
#include "io/atomic_dir.hpp"
#include "io/peft_adapter.hpp"
#include "io/safetensors.hpp"
#include "train/checkpoint_files.hpp"
#include "train/metrics.hpp"
#include "vk/context.hpp"

namespace vktrain::train {

Trainer::Trainer(model::Transformer& model, const data::Batcher& train,
                 const data::Batcher* valid, TrainerOptions options)
    : model_(model),
      train_(train),
      valid_(valid),
      options_(std::move(options)),
      step_(model, options_.shape, options_.adamw, options_.ranks, options_.shard_optimizer,
            options_.optimizer) {
  if (options_.steps < 1) fail("[train] the run needs at least one step");
  options_.schedule.total_steps = options_.steps;
  state_.rng = {options_.seed};
  state_.settings = options_.settings;
  state_.loss_scale = step_.loss_scale();
  if (options_.resume) {
    auto latest = latest_checkpoint(options_.run_dir);
    if (!latest)
      fail("[train] --resume: {} has no checkpoint to resume from", options_.run_dir);
    restore(*latest);
  }
}

void Trainer::restore(const std::string& checkpoint) {
  TrainState saved = read_train_state(checkpoint);
  require_same_settings(saved, options_.settings, checkpoint);
  read_trainable(model_.parameters(), step_.optimizer(), checkpoint);
  state_ = saved;
  state_.settings = options_.settings;  // this run's ranks and --grad-accum, for its checkpoints
}

std::vector<data::HostBatch> Trainer::next_micro_batches(TrainState& cursor) const {
  std::vector<data::HostBatch> micro;
  const int64_t ranks = options_.ranks ? options_.ranks->size() : 1;
  for (int64_t k = 0; k < ranks * options_.shape.micro_batches; ++k) {
    if (cursor.data_position >= train_.batches_in_epoch(cursor.epoch)) {
      ++cursor.epoch;
      cursor.data_position = 0;
    }
    micro.push_back(train_.batch(cursor.epoch, cursor.data_position++));
  }
  return micro;
}

void Trainer::prepare(TrainState& cursor, int64_t index) {
  std::vector<data::HostBatch> micro = next_micro_batches(cursor);
  int32_t dropout_seed = int32_t(splitmix64(cursor.rng[0]) >> 33);
  step_.prepare(micro, learning_rate(options_.schedule, index), index + 1, dropout_seed);
}

bool Trainer::run(const std::function<bool(const StepReport&)>& report) {
  std::optional<MetricsLog> metrics;
  if (writes_outputs()) {
    std::filesystem::create_directories(options_.run_dir);
    metrics = MetricsLog::open(options_.run_dir + "/metrics.jsonl",
                               options_.resume ? state_.step : -1);
  }
  if (state_.step >= options_.steps) return false;
  TrainState cursor = state_;  // after the prepared step's batches
  prepare(cursor, state_.step);
  // A step that fails to prepare (a bad batch) fails where it would be submitted: the step in
  // flight is finished, reported and checkpointed first, as without the overlap.
  std::exception_ptr prepare_error;
  while (state_.step < options_.steps) {
    if (prepare_error) std::rethrow_exception(prepare_error);
    auto start = std::chrono::steady_clock::now();
    StepReport r;
    r.steps = options_.steps;
    r.lr = learning_rate(options_.schedule, state_.step);
    step_.submit();
    // Its batches are the run's now: a checkpoint from here on resumes after them.
    state_.epoch = cursor.epoch;
    state_.data_position = cursor.data_position;
    state_.rng = cursor.rng;
    bool last = state_.step + 1 == options_.steps;
    try {
      if (!last) prepare(cursor, state_.step + 1);
    } catch (...) {
      prepare_error = std::current_exception();
    }
    StepResult result = step_.finish();
    r.step = ++state_.step;
    r.loss = result.loss;
    r.grad_norm = result.grad_norm;
    r.tokens = result.tokens;
    r.trained_tokens = result.targets;
    if (valid_ && ((options_.eval_every > 0 && state_.step % options_.eval_every == 0) || last))
      r.eval_loss = evaluate();
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    nlohmann::json line = {{"step", r.step},
                           {"loss", r.loss},
                           {"lr", r.lr},
                           {"grad_norm", r.grad_norm},
                           {"tokens", r.tokens},
                           {"trained_tokens", r.trained_tokens},
                           {"seconds", r.seconds},
                           {"device_bytes", model_.context().allocator.stats().in_use}};
    if (r.eval_loss) line["eval_loss"] = *r.eval_loss;
    if (options_.ranks && options_.ranks->distributed()) {
      // Where a data-parallel step's time goes (TrainingStep: StepResult).
      line["wait_seconds"] = result.wait_seconds;
      line["staging_seconds"] = result.staging_seconds;
      line["mpi_seconds"] = result.mpi_seconds;
      overhead_.steps += 1;
      overhead_.seconds += r.seconds;
      overhead_.staging += result.staging_seconds;
      overhead_.mpi += result.mpi_seconds;
    }
    if (metrics) metrics->write(line);
    bool stop = report && report(r);
    if (options_.ranks) stop = options_.ranks->any(stop);
    if ((options_.save_every > 0 && state_.step % options_.save_every == 0) || last || stop)
      save_checkpoint();
    if (stop) return true;
  }
  return false;
}

double Trainer::evaluate() {
  if (!valid_) fail("[train] no validation data to evaluate on");
  LossSum sum = step_.evaluator().loss(*valid_, options_.eval_batches, options_.ranks);
  if (sum.targets == 0) fail("[train] the validation batches have no target to score");
  return sum.loss / double(sum.targets);
}

void Trainer::save_checkpoint() {
  if (!writes_outputs()) {
    // A sharded optimizer's state (and masters) reach rank 0's files from every rank.
    if (step_.optimizer().sharded()) send_trainable(model_.parameters(), step_.optimizer());
    return;
  }
  io::AtomicDirectory dir(checkpoint_dir(options_.run_dir, state_.step), "checkpoint");
  write_trainable(dir.path(), model_, step_.optimizer(), options_.base_model);
  write_train_state(dir.path(), state_);
  dir.commit();
}

}  // namespace vktrain::train
