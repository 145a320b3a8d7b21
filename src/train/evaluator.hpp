#pragma once
// The loss of a model on batches without updating anything: one recording (forward, then the
// summed token loss) replayed per batch. It works in activation memory it is given, so a
// training step and its evaluations share one plan.
#include <memory>
#include <utility>

#include "model/activations.hpp"
#include "model/transformer.hpp"

namespace vktrain::vk {
class Recorder;
}

namespace vktrain::train {

class Evaluator {
 public:
  Evaluator(model::Transformer& model, model::Activations& acts, model::BatchTensors& batch);
  ~Evaluator();
  Evaluator(const Evaluator&) = delete;
  Evaluator& operator=(const Evaluator&) = delete;

  // The summed token loss of one batch and how many targets it has.
  std::pair<double, int64_t> loss(const model::HostBatch& batch);

 private:
  model::Transformer& model_;
  model::Activations& acts_;
  model::BatchTensors& batch_;
  std::unique_ptr<vk::Recorder> recording_;
};

}  // namespace vktrain::train
