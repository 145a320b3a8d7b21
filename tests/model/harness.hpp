#pragma once
// Runs a model's forward and backward once on the device and reads back what tests compare:
// the logits, the mean loss and every trainable parameter's gradient; and compares them with the
// CPU reference model's.
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

// A model of `config` and `setup` holding `weights` (every parameter by name) on the device
// against reference::model_reference on `batch`, in f32: the logits and every trainable
// gradient within 1e-4 of each tensor's largest value, the loss within 1e-5 relative. Returns
// the device's run.
GpuRun expect_matches_reference(const io::ModelConfig& config, const model::ModelSetup& setup,
                                const std::map<std::string, std::vector<float>>& weights,
                                const data::HostBatch& batch, const std::string& label);

}  // namespace vktrain::test
