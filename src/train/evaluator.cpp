#include "train/evaluator.hpp"

#include <algorithm>

#include "ops/elementwise.hpp"
#include "train/batch_upload.hpp"
#include "vk/recorder.hpp"

namespace vktrain::train {

Evaluator::Evaluator(model::Transformer& model, model::Activations& acts,
                     model::BatchTensors& batch)
    : model_(model), acts_(acts), batch_(batch) {}

Evaluator::~Evaluator() = default;

std::pair<double, int64_t> Evaluator::loss(const data::HostBatch& batch) {
  vk::Context& ctx = model_.context();
  upload_batch(model_, batch_, batch);
  if (!recording_) {
    recording_ = std::make_unique<vk::Recorder>(ctx);
    ops::fill(*recording_, acts_.loss, 0.0f);
    model_.record_forward(*recording_, acts_, batch_, false);
    model_.record_loss(*recording_, acts_, batch_);
  }
  recording_->run();
  return {double(read_floats(ctx, acts_.loss)[0]), data::count_targets(batch)};
}

LossSum Evaluator::loss(const data::Batcher& data, int64_t max_batches,
                        const Communicator* ranks) {
  LossSum sum;
  sum.batches = data.batches_in_epoch(0);
  if (max_batches > 0) sum.batches = std::min(sum.batches, max_batches);
  const int64_t first = ranks ? ranks->rank() : 0, stride = ranks ? ranks->size() : 1;
  for (int64_t i = first; i < sum.batches; i += stride) {
    auto [batch_loss, batch_targets] = loss(data.batch(0, i));
    sum.loss += batch_loss;
    sum.targets += batch_targets;
  }
  if (ranks && ranks->distributed()) {
    sum.loss = ranks->sum(sum.loss);
    sum.targets = int64_t(ranks->sum(double(sum.targets)));  // exact below 2^53
  }
  return sum;
}

}  // namespace vktrain::train
