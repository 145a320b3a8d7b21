#pragma once
// The loss of a model on batches without updating anything: one recording (forward, then the
// summed token loss) replayed per batch. It works in activation memory it is given, so a
// training step and its evaluations share one plan.
#include <memory>
#include <utility>

#include "data/batches.hpp"
#include "model/activations.hpp"
#include "model/transformer.hpp"
#include "train/communicator.hpp"

namespace vktrain::vk {
class Recorder;
}

namespace vktrain::train {

struct LossSum {
  double loss = 0;  // summed over the targets
  int64_t targets = 0, batches = 0;
};

class Evaluator {
 public:
  Evaluator(model::Transformer& model, model::Activations& acts, model::BatchTensors& batch);
  ~Evaluator();
  Evaluator(const Evaluator&) = delete;
  Evaluator& operator=(const Evaluator&) = delete;

  // The summed token loss of one batch and how many targets it has.
  std::pair<double, int64_t> loss(const data::HostBatch& batch);
  // The same over batches 0, 1, ... of epoch 0 of `data` (unshuffled data: every example once),
  // at most `max_batches` of them (0: all). Data parallel (`ranks`), rank r evaluates batches
  // r, r + N, ... and every rank returns the sums over all of them.
  LossSum loss(const data::Batcher& data, int64_t max_batches,
               const Communicator* ranks = nullptr);

 private:
  model::Transformer& model_;
  model::Activations& acts_;
  model::BatchTensors& batch_;
  std::unique_ptr<vk::Recorder> recording_;
};

}  // namespace vktrain::train
