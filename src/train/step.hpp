#pragma once
// One optimizer step recorded once and replayed (DESIGN.md decision 3): zero the gradients; for
// each of K micro-batches the forward and the backward (gradients accumulate); the global
// gradient norm; AdamW with clipping; the refresh of compute copies from the f32 masters. The
// host only rewrites the inputs (token ids, targets, positions, documents), the AdamW step
// values and the dropout seed before each replay.
//
// No synchronous transfer per step: the host writes a step's inputs with memcpy into one of two
// host-visible input slots, and a small recording per slot copies them into the device tensors
// the kernels read (device-local on discrete GPUs) just ahead of the step's recording. The step
// ends with copies of its three result scalars into host-visible readback memory. So while step
// n runs, the host can build step n+1's batches and write them into the other slot (prepare);
// submitting n+1 still waits for finish(n), which reads n's results.
//
// The loss is the mean over every target of the K micro-batches (transformers' loss over one
// batch of K x B rows): the 1/count is computed on the device from all K target tensors.
// f16 activations: gradients of the mean underflow f16 (softmax / count), so the loss gradient is
// multiplied by a power-of-two loss scale and the f32 gradients are divided by it (exactly)
// before clipping; bf16 and f32 need none.
#include <memory>
#include <vector>

#include "model/activations.hpp"
#include "model/transformer.hpp"
#include "ops/adamw.hpp"
#include "train/evaluator.hpp"

namespace vktrain::train {

struct StepShape {
  int64_t batch = 1, time = 1;  // B, T of one micro-batch
  int64_t micro_batches = 1;    // gradient accumulation: K
  bool recompute = false;       // activation checkpointing per layer
};

struct StepResult {
  double loss = 0;          // mean over the step's targets
  double grad_norm = 0;     // before clipping
  int64_t targets = 0;      // tokens that counted
  int64_t tokens = 0;       // tokens processed: every position but padding (count_tokens)
  double wait_seconds = 0;  // finish()'s time blocked on the device
};

class TrainingStep {
 public:
  TrainingStep(model::Transformer& model, const StepShape& shape, const ops::AdamwOptions& adamw);
  TrainingStep(const TrainingStep&) = delete;
  TrainingStep& operator=(const TrainingStep&) = delete;

  // Writes the inputs of one optimizer step on K micro-batches with learning rate `lr` (`step`
  // counts from 1: AdamW's bias correction) into the input slot that the step in flight, if
  // any, does not read. Everything is checked first (an error names the bad value), so a bad
  // batch writes nothing. A second prepare() before submit() replaces the first.
  void prepare(const std::vector<model::HostBatch>& micro, double lr, int64_t step,
               int32_t dropout_seed);
  // Submits the prepared step; one step is in flight at a time.
  void submit();
  // Waits for the submitted step and returns its results; fails if they are not finite.
  StepResult finish();
  StepResult run(const std::vector<model::HostBatch>& micro, double lr, int64_t step,
                 int32_t dropout_seed) {
    prepare(micro, lr, step, dropout_seed);
    submit();
    return finish();
  }
  // Evaluation on the step's own activation memory (nothing is updated); only while no step is
  // in flight, since it writes the first micro-batch's tensors and the activations.
  Evaluator& evaluator() { return evaluator_; }

  float loss_scale() const { return loss_scale_; }
  model::Activations& activations() { return acts_; }

 private:
  void record_step(vk::Recorder& rec);

  model::Transformer& model_;
  StepShape shape_;
  ops::AdamwOptions adamw_;
  float loss_scale_;
  model::Activations acts_;
  std::vector<model::BatchTensors> batches_;
  Evaluator evaluator_;  // on the first micro-batch's tensors and the step's activations
  Tensor step_values_;    // f32 [3]: ops::adamw_step_values
  Tensor grad_norm_sq_;   // f32 [1]
  // One step's inputs in host-visible memory: each micro-batch's arrays (batch_inputs), the
  // AdamW step values, the dropout seed; `copies` moves them to the tensors the step reads.
  struct InputSlot {
    vk::Allocation memory;
    std::unique_ptr<vk::Recorder> copies;
    int64_t step = 0, targets = 0, tokens = 0;
  };
  InputSlot slots_[2];
  int prepared_ = -1, in_flight_ = -1;  // slot indices, -1: none
  vk::Allocation results_;              // f32 [3] host-visible: loss, grad_scale, grad_norm_sq
  // Last, so that it is destroyed first: a Recorder waits for its submission when destroyed,
  // and the step in flight reads and writes everything above.
  std::unique_ptr<vk::Recorder> step_;
};

int64_t count_targets(const model::HostBatch& batch);
// The positions that hold a token rather than padding (document -1; a batch without document
// ids is all tokens): the work a step does, as bench_train_step counts B x T of full rows.
int64_t count_tokens(const model::HostBatch& batch);

}  // namespace vktrain::train
