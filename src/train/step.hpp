#pragma once
// One optimizer step recorded once and replayed (DESIGN.md decision 3): zero the gradients; for
// each of K micro-batches the forward and the backward (gradients accumulate); the global
// gradient norm; AdamW with clipping; the refresh of compute copies from the f32 masters. The
// host only rewrites the inputs (token ids, targets, positions, documents), the AdamW step
// values and the dropout seed before each replay.
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
  double loss = 0;       // mean over the step's targets
  double grad_norm = 0;  // before clipping
  int64_t targets = 0;   // tokens that counted
};

class TrainingStep {
 public:
  TrainingStep(model::Transformer& model, const StepShape& shape, const ops::AdamwOptions& adamw);
  TrainingStep(const TrainingStep&) = delete;
  TrainingStep& operator=(const TrainingStep&) = delete;

  // One optimizer step on K micro-batches with learning rate `lr`; `step` counts from 1 (AdamW's
  // bias correction).
  StepResult run(const std::vector<model::HostBatch>& micro, double lr, int64_t step,
                 int32_t dropout_seed);
  // Evaluation on the step's own activation memory (nothing is updated).
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
  std::unique_ptr<vk::Recorder> step_;
};

int64_t count_targets(const model::HostBatch& batch);

}  // namespace vktrain::train
