#include "train/evaluator.hpp"

#include "ops/elementwise.hpp"
#include "train/step.hpp"
#include "vk/recorder.hpp"

namespace vktrain::train {

Evaluator::Evaluator(model::Transformer& model, model::Activations& acts,
                     model::BatchTensors& batch)
    : model_(model), acts_(acts), batch_(batch) {}

Evaluator::~Evaluator() = default;

std::pair<double, int64_t> Evaluator::loss(const model::HostBatch& batch) {
  vk::Context& ctx = model_.context();
  model_.upload(batch_, batch);
  if (!recording_) {
    recording_ = std::make_unique<vk::Recorder>(ctx);
    ops::fill(*recording_, acts_.loss, 0.0f);
    model_.record_forward(*recording_, acts_, batch_, false);
    model_.record_loss(*recording_, acts_, batch_);
  }
  recording_->run();
  return {double(read_floats(ctx, acts_.loss)[0]), count_targets(batch)};
}

}  // namespace vktrain::train
