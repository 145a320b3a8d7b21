#pragma once
// A host micro-batch (data/batch.hpp) into the device tensors a recording reads
// (model::BatchTensors), checked in one place for the training step, which copies the arrays
// through its host-visible input slots (step.hpp), and the evaluator, which writes them directly.
#include <utility>
#include <vector>

#include "data/batch.hpp"
#include "model/transformer.hpp"

namespace vktrain::train {

using BatchInputs = std::vector<std::pair<Tensor*, std::vector<int32_t>>>;

// What the device reads for `host`, one i32 array per tensor of `device`: ids, targets,
// positions, documents (zeros for a batch without), order (when the embedding trains), the
// token mask (when the model has one: documents >= 0). The batch is checked first against the
// recorded shape and the model's vocabulary, the error naming the bad value, so a caller that
// writes only after this call never writes half a batch.
BatchInputs batch_inputs(const model::Transformer& model, model::BatchTensors& device,
                         const data::HostBatch& host);
// Writes batch_inputs to the device, one transfer per tensor.
void upload_batch(const model::Transformer& model, model::BatchTensors& device,
                  const data::HostBatch& host);

}  // namespace vktrain::train
