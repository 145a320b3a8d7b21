// A mixtral model on the device against a mistral one with the same attention and an MLP that
// every expert copies: whatever the router picks, the top 2 weights renormalised sum to 1, so the
// block is that MLP and the logits, the loss and the attention adapter's gradients agree (an
// unnormalised top k, a gate and up swapped in the experts' layout or a lost sliding window
// would show). The MoE block itself is checked against the CPU reference in tests/ops.
#include <gtest/gtest.h>

#include "arch/tensor_names.hpp"
#include "model/harness.hpp"
#include "model/tiny_models.hpp"
#include "support/support.hpp"

namespace vktrain {
namespace {

// V 97, C 48, F 40, 2 layers, window 4 < T = 11; mixtral: 4 experts, 2 per token.
io::ModelConfig config_of(const std::string& model_type, const std::string& extra) {
  return io::parse_model_config(R"({"model_type": ")" + model_type + R"(",
      "vocab_size": 97, "hidden_size": 48, "intermediate_size": 40, "num_hidden_layers": 2,
      "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
      "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "rope_theta": 1000000.0,
      "sliding_window": 4, "tie_word_embeddings": false)" + extra + "}",
                                "tiny " + model_type);
}

// Each expert of layer l is mistral's MLP of layer l; the router is random.
std::map<std::string, std::vector<float>> experts_from_mlp(
    const io::ModelConfig& mixtral, std::map<std::string, std::vector<float>> weights) {
  const int64_t E = mixtral.moe.experts;
  for (int64_t l = 0; l < mixtral.num_layers; ++l) {
    auto take = [&](const char* name) {
      auto node = weights.extract(model::layer_name(l, name));
      return node.mapped();
    };
    const auto gate = take("mlp.gate_proj.weight"), up = take("mlp.up_proj.weight"),
               down = take("mlp.down_proj.weight");
    std::vector<float>& gate_up = weights[model::layer_name(l, arch::hf::kExpertsGateUp)];
    std::vector<float>& downs = weights[model::layer_name(l, arch::hf::kExpertsDown)];
    for (int64_t e = 0; e < E; ++e) {
      gate_up.insert(gate_up.end(), gate.begin(), gate.end());
      gate_up.insert(gate_up.end(), up.begin(), up.end());
      downs.insert(downs.end(), down.begin(), down.end());
    }
    weights[model::layer_name(l, arch::hf::kRouter)] =
        test::random_values(size_t(E * mixtral.hidden_size), uint32_t(100 + l), DType::f32, 2.0f);
  }
  return weights;
}

TEST(MixtralModel, IdenticalExpertsEqualMistralsMlp) {
  const io::ModelConfig mistral = config_of("mistral", "");
  const io::ModelConfig mixtral =
      config_of("mixtral", R"(, "num_local_experts": 4, "num_experts_per_tok": 2)");
  model::ModelSetup setup;
  setup.lora.rank = 3;
  setup.lora.alpha = 6;
  setup.lora.targets = model::parse_lora_targets("q,k,v,o");
  auto dense = test::random_model(mistral, setup, 5);
  auto weights = experts_from_mlp(
      mixtral, test::random_weights(test::all_parameters(mistral, setup.lora), 5));
  auto sparse = std::make_unique<model::Transformer>(test::context(), mixtral, setup);
  for (const auto& p : sparse->parameters().all())
    sparse->parameters().write(p.spec.name, weights.at(p.spec.name));

  const data::HostBatch batch = test::tiny_batch(mistral, 3);
  const test::GpuRun want = test::run_gradients(*dense, batch, false);
  const test::GpuRun got = test::run_gradients(*sparse, batch, false);
  EXPECT_LT(test::relative_error(got.logits, want.logits), 1e-5);
  EXPECT_NEAR(got.loss, want.loss, 1e-5 * want.loss);
  ASSERT_EQ(got.grads.size(), want.grads.size());
  for (const auto& [name, grad] : want.grads)
    EXPECT_LT(test::relative_error(got.grads.at(name), grad), 1e-5) << name;
}

}  // namespace
}  // namespace vktrain
