#include "train/step.hpp"

#include <cmath>

#include "base/error.hpp"
#include "ops/cross_entropy.hpp"
#include "ops/elementwise.hpp"
#include "ops/reduce.hpp"
#include "vk/recorder.hpp"

namespace vktrain::train {

namespace {

// 2^12: dlogits = softmax / count stays above f16's subnormals for counts up to ~10^5 tokens
// while activation gradients (of order 1 per token before the 1/count) stay far below 65504.
constexpr float kF16LossScale = 4096.0f;

float read_scalar(vk::Context& ctx, const Tensor& t) { return read_floats(ctx, t)[0]; }

std::vector<model::BatchTensors> micro_batch_tensors(const model::Transformer& model,
                                                    const StepShape& shape) {
  std::vector<model::BatchTensors> batches;
  for (int64_t k = 0; k < shape.micro_batches; ++k)
    batches.push_back(model.make_batch(shape.batch, shape.time));
  return batches;
}

}  // namespace

int64_t count_targets(const model::HostBatch& batch) {
  int64_t n = 0;
  for (int32_t t : batch.targets) n += t >= 0;
  return n;
}

TrainingStep::TrainingStep(model::Transformer& model, const StepShape& shape,
                           const ops::AdamwOptions& adamw)
    : model_(model),
      shape_(shape),
      adamw_(adamw),
      loss_scale_(model.setup().dtype == DType::f16 ? kF16LossScale : 1.0f),
      acts_(model.context(), model.config(), model.setup().dtype, shape.batch, shape.time,
            shape.recompute, model.setup().lora.rank),
      batches_(micro_batch_tensors(model, shape)),
      evaluator_(model, acts_, batches_[0]) {
  if (!model.parameters().any_trainable()) fail("[train] the model has nothing to train");
  step_values_ = make_tensor(model.context(), DType::f32, {3}, "AdamW step values");
  grad_norm_sq_ = make_tensor(model.context(), DType::f32, {1}, "squared gradient norm");
}

void TrainingStep::record_step(vk::Recorder& rec) {
  model::Parameters& params = model_.parameters();
  ops::fill(rec, params.grad_arena(), 0.0f);
  ops::fill(rec, acts_.loss, 0.0f);
  std::vector<const Tensor*> targets;
  for (const auto& b : batches_) targets.push_back(&b.targets);
  ops::cross_entropy_grad_scale(rec, acts_.grad_scale, targets);
  if (loss_scale_ != 1.0f) ops::scale(rec, acts_.grad_scale, acts_.grad_scale, loss_scale_);
  for (uint32_t k = 0; k < batches_.size(); ++k) {
    model_.record_forward(rec, acts_, batches_[k], true, k);
    model_.record_backward(rec, acts_, batches_[k], k);
  }
  if (loss_scale_ != 1.0f)
    ops::scale(rec, params.grad_arena(), params.grad_arena(), 1.0f / loss_scale_);
  ops::sum_squares(rec, grad_norm_sq_, params.grad_arena());
  ops::adamw_update(rec, params.master_arena(), params.first_moment_arena(),
                    params.second_moment_arena(), params.grad_arena(), step_values_,
                    adamw_.max_grad_norm > 0 ? &grad_norm_sq_ : nullptr, params.adamw_groups(),
                    adamw_);
  params.record_refresh(rec);
}

StepResult TrainingStep::run(const std::vector<model::HostBatch>& micro, double lr, int64_t step,
                             int32_t dropout_seed) {
  if (micro.size() != batches_.size())
    fail("[train] a step takes {} micro-batches, got {}", batches_.size(), micro.size());
  vk::Context& ctx = model_.context();
  StepResult result;
  for (size_t k = 0; k < micro.size(); ++k) {
    model_.upload(batches_[k], micro[k]);
    result.targets += count_targets(micro[k]);
  }
  auto values = ops::adamw_step_values(lr, step, adamw_);
  write_floats(ctx, step_values_, values);
  model_.set_dropout_seed(dropout_seed);
  if (!step_) {
    step_ = std::make_unique<vk::Recorder>(ctx);
    record_step(*step_);
  }
  step_->run();
  float scale = read_scalar(ctx, acts_.grad_scale) / loss_scale_;
  result.loss = double(read_scalar(ctx, acts_.loss)) * scale;
  result.grad_norm = std::sqrt(double(read_scalar(ctx, grad_norm_sq_)));
  if (!std::isfinite(result.grad_norm) || !std::isfinite(result.loss))
    fail("[train] step {}: the loss or the gradients are not finite (loss {}, gradient norm {}){}",
         step, result.loss, result.grad_norm,
         model_.setup().dtype == DType::f16 ? "; f16 overflowed, try --dtype bf16" : "");
  return result;
}

}  // namespace vktrain::train
