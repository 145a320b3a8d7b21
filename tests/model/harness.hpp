#pragma once
// Runs a model's forward and backward once on the device and reads back what tests compare:
// the logits, the mean loss and every trainable parameter's gradient.
#include <map>
#include <string>
#include <vector>

#include "data/batch.hpp"
#include "model/transformer.hpp"

namespace vktrain::test {

struct GpuRun {
  std::vector<float> logits;  // [B, T, V]
  double loss = 0;            // mean over the targets
  std::map<std::string, std::vector<float>> grads;  // trainable parameters only
};

GpuRun run_gradients(model::Transformer& model, const data::HostBatch& batch, bool recompute);

}  // namespace vktrain::test
