// A gpt_oss model on the device, in f32: every part it adds to the other families (attention
// sinks, the o_proj and router biases, the top-k-then-softmax router, the experts' biases, the
// clamped SwiGLU and the load-balancing loss) has the gradient of the device's own loss, checked
// by central differences where each parameter's gradient is largest, and recompute gives the
// same bits; LoRA on its experts trains. The CPU reference model and the transformers fixture
// check the values themselves.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "arch/tensor_names.hpp"
#include "model/activations.hpp"
#include "model/harness.hpp"
#include "model/layout.hpp"
#include "model/tiny_models.hpp"
#include "ops/elementwise.hpp"
#include "support/support.hpp"
#include "train/batch_upload.hpp"
#include "train/step.hpp"
#include "vk/recorder.hpp"

namespace vktrain {
namespace {

// The mean loss (the router loss included) of a forward pass, on buffers kept across calls.
class ForwardLoss {
 public:
  ForwardLoss(model::Transformer& m, const data::HostBatch& batch)
      : model_(m),
        acts_(m.context(), m.config(), m.setup().dtype, batch.batch, batch.time, false, 0),
        device_(m.make_batch(batch.batch, batch.time)) {
    train::upload_batch(m, device_, batch);
  }
  double operator()() {
    vk::Recorder rec(model_.context());
    ops::fill(rec, acts_.loss, 0.0f);
    model_.record_forward(rec, acts_, device_, false);
    model_.record_loss(rec, acts_, device_);
    rec.run();
    return double(read_floats(model_.context(), acts_.loss)[0]) *
           read_floats(model_.context(), acts_.grad_scale)[0];
  }

 private:
  model::Transformer& model_;
  model::Activations acts_;
  model::BatchTensors device_;
};

TEST(GptOssModel, GradientsMatchCentralDifferencesOfTheLoss) {
  const io::ModelConfig config = test::tiny_config("gpt_oss");
  model::ModelSetup setup;
  setup.full = true;
  auto m = test::random_model(config, setup, 3);
  const data::HostBatch batch = test::tiny_batch(config, 4);
  const test::GpuRun at = test::run_gradients(*m, batch, false);
  model::Parameters& params = m->parameters();
  // Recompute replays each layer's forward (sinks, biases, routing) to the same bits.
  const test::GpuRun replayed = test::run_gradients(*m, batch, true);
  EXPECT_EQ(replayed.loss, at.loss);
  EXPECT_EQ(replayed.grads, at.grads);
  ForwardLoss forward_loss(*m, batch);
  EXPECT_NEAR(forward_loss(), at.loss, 1e-6 * at.loss);
  const int64_t F = config.moe.intermediate_size, C = config.hidden_size;

  // The loss with element i of `name` moved by delta (then put back).
  auto loss_at = [&](const std::string& name, size_t i, float delta) {
    std::vector<float> values = params.read(name);
    const float original = values[i];
    values[i] = original + delta;
    params.write(name, values);
    const double loss = forward_loss();
    values[i] = original;
    params.write(name, values);
    return loss;
  };
  // Where the gradient of the elements of `name` that `keep` keeps is largest, the central
  // difference agrees.
  auto probe = [&](int64_t layer, const char* suffix, auto keep) {
    const std::string name = model::layer_name(layer, suffix);
    SCOPED_TRACE(name);
    const std::vector<float>& grad = at.grads.at(name);
    size_t i = 0;
    for (size_t j = 0; j < grad.size(); ++j)
      if (keep(int64_t(j)) && std::abs(grad[j]) > std::abs(grad[i])) i = j;
    EXPECT_GT(std::abs(grad[i]), 1e-3);
    constexpr float kEps = 5e-3f;
    const double numeric = (loss_at(name, i, kEps) - loss_at(name, i, -kEps)) / (2 * kEps);
    EXPECT_NEAR(numeric, grad[i], 0.03 * std::abs(grad[i]) + 1.5e-4) << "element " << i;
  };
  auto any = [](int64_t) { return true; };
  // gate_up [E, 2F, C] and its bias [E, 2F]: gate rows [0, F) of each expert, then up rows.
  auto gate_row = [&](int64_t j) { return (j / C) % (2 * F) < F; };
  auto up_row = [&](int64_t j) { return !gate_row(j); };
  auto gate_bias = [&](int64_t j) { return j % (2 * F) < F; };
  auto up_bias = [&](int64_t j) { return !gate_bias(j); };
  probe(0, arch::hf::kSinks, any);  // the sliding layer
  probe(1, arch::hf::kSinks, any);
  probe(1, "self_attn.o_proj.bias", any);
  probe(1, arch::hf::kRouterOwn, any);
  probe(1, arch::hf::kRouterBias, any);
  probe(1, arch::hf::kExpertsGateUp, gate_row);
  probe(1, arch::hf::kExpertsGateUp, up_row);
  probe(0, arch::hf::kExpertsGateUpBias, gate_bias);
  probe(0, arch::hf::kExpertsGateUpBias, up_bias);
  probe(0, arch::hf::kExpertsDown, any);
  probe(0, arch::hf::kExpertsDownBias, any);
}

// LoRA on the attention and the experts (PEFT's target_parameters): the sinks and biases stay
// frozen with the base, every expert adapter gets a gradient, and a few AdamW steps on one batch
// lower the loss.
TEST(GptOssModel, LoraOnTheExpertsTrainsWithTheSinksFrozen) {
  const io::ModelConfig config = test::tiny_config("gpt_oss");
  model::ModelSetup setup;
  setup.lora.rank = 2;
  setup.lora.alpha = 4;
  setup.lora.targets = model::parse_lora_targets("q,k,v,o,experts");
  auto m = test::random_model(config, setup, 5);
  const data::HostBatch batch = test::tiny_batch(config, 2);
  const test::GpuRun run = test::run_gradients(*m, batch, false);
  EXPECT_EQ(run.grads.count(model::layer_name(0, arch::hf::kSinks)), 0u);
  EXPECT_EQ(run.grads.count(model::layer_name(0, "self_attn.o_proj.lora_B.weight")), 1u);
  size_t expert_adapters = 0;
  for (const auto& [name, grad] : run.grads)
    if (name.find("mlp.experts") != std::string::npos) {
      ++expert_adapters;
      EXPECT_TRUE(std::ranges::any_of(grad, [](float g) { return g != 0.0f; })) << name;
    }
  EXPECT_EQ(expert_adapters, size_t(4 * config.num_layers));  // A and B of gate_up and down
  train::TrainingStep step(*m, {batch.batch, batch.time, 1, false}, ops::AdamwOptions{});
  double first = 0, last = 0;
  for (int64_t s = 1; s <= 6; ++s) {
    last = step.run({batch}, 1e-2, s, 0).loss;
    if (s == 1) first = last;
  }
  EXPECT_LT(last, first);
}

}  // namespace
}  // namespace vktrain
