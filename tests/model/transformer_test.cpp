// The GPU Transformer against the CPU reference model (tests/reference/model.*) for every family
// in f32: logits, loss and every trainable parameter's gradient, with LoRA and with full
// fine-tuning; recompute must give the same bits as saved activations.
#include <gtest/gtest.h>

#include "model/harness.hpp"
#include "model/tiny_models.hpp"
#include "model/transformer.hpp"
#include "reference/model.hpp"
#include "support/support.hpp"

namespace vktrain {
namespace {

using test::GpuRun;

GpuRun run_gpu(const io::ModelConfig& config, const model::ModelSetup& setup,
               const std::map<std::string, std::vector<float>>& weights,
               const data::HostBatch& batch, bool recompute) {
  model::Transformer m(test::context(), config, setup);
  for (const auto& p : m.parameters().all()) m.parameters().write(p.spec.name, weights.at(p.spec.name));
  return test::run_gradients(m, batch, recompute);
}

void expect_matches(const std::string& family, const model::ModelSetup& setup) {
  io::ModelConfig config = test::tiny_config(family);
  auto weights = test::random_weights(test::all_parameters(config, setup.lora), 11);
  test::expect_matches_reference(config, setup, weights, test::tiny_batch(config, 5), family);
}

TEST(Transformer, FullFineTuningMatchesReferenceForEveryFamily) {
  model::ModelSetup setup;
  setup.full = true;
  for (const auto& family : test::kTinyFamilies) expect_matches(family, setup);
}

TEST(Transformer, LoraMatchesReferenceForEveryFamily) {
  for (const auto& family : test::kTinyFamilies) expect_matches(family, test::tiny_lora_setup());
}

TEST(Transformer, RecomputeGivesTheSameBits) {
  for (const char* family : {"qwen3", "gemma3"}) {
    io::ModelConfig config = test::tiny_config(family);
    model::ModelSetup setup;
    setup.full = true;
    auto weights = test::random_weights(test::all_parameters(config, setup.lora), 3);
    data::HostBatch batch = test::tiny_batch(config, 8);
    GpuRun saved = run_gpu(config, setup, weights, batch, false);
    GpuRun recomputed = run_gpu(config, setup, weights, batch, true);
    EXPECT_EQ(saved.loss, recomputed.loss);
    for (const auto& [name, grad] : saved.grads) EXPECT_EQ(grad, recomputed.grads.at(name)) << name;
  }
}

TEST(Transformer, Bf16StaysCloseToTheF32Reference) {
  io::ModelConfig config = test::tiny_config("qwen3");
  model::ModelSetup setup = test::tiny_lora_setup();
  setup.dtype = DType::bf16;
  auto weights = test::random_weights(test::all_parameters(config, setup.lora), 21);
  data::HostBatch batch = test::tiny_batch(config, 2);
  reference::ModelBatch ref_batch{batch.batch, batch.time, batch.ids, batch.targets,
                                  batch.positions, batch.documents};
  auto want = reference::model_reference(config, weights, ref_batch, setup.lora.scale());
  GpuRun got = run_gpu(config, setup, weights, batch, false);
  // bf16 keeps 8 bits: weights, activations and the adapter's compute copies each round once
  // per layer step (about 2^-9 relative); a few percent bounds the accumulated error.
  EXPECT_LT(test::relative_error(got.logits, want.logits), 5e-2);
  EXPECT_NEAR(got.loss, want.loss, 2e-2 * want.loss);
  for (const auto& [name, grad] : got.grads)
    EXPECT_LT(test::relative_error(grad, want.grads.at(name)), 1e-1) << name;
}

}  // namespace
}  // namespace vktrain
