// A qwen3_moe model on the device, end to end: pre-trained from random weights with its experts
// and router training (and the routers' load-balancing loss), it learns the copy task, and
// trains to the same bits in a second run with recompute; LoRA on its attention trains with the
// experts and router frozen.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "arch/tensor_names.hpp"
#include "model/copy_task.hpp"
#include "model/init.hpp"
#include "model/layout.hpp"
#include "support/support.hpp"

namespace vktrain {
namespace {

// The copy task's model (copy_task.hpp) with 4 experts of which 2 per token in both layers.
io::ModelConfig copy_moe_config() {
  return io::parse_model_config(R"({"architectures": ["Qwen3MoeForCausalLM"],
      "model_type": "qwen3_moe", "vocab_size": 24, "hidden_size": 64, "intermediate_size": 128,
      "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
      "head_dim": 16, "max_position_embeddings": 64, "rope_theta": 10000.0,
      "tie_word_embeddings": true, "num_experts": 4, "num_experts_per_tok": 2,
      "moe_intermediate_size": 64, "norm_topk_prob": true, "output_router_logits": true,
      "router_aux_loss_coef": 0.01})",
                                "copy task moe model");
}

std::unique_ptr<model::Transformer> initialised(const model::ModelSetup& setup) {
  const io::ModelConfig config = copy_moe_config();
  auto m = std::make_unique<model::Transformer>(test::context(), config, setup);
  for (const auto& [name, values] : model::initial_weights(config, 7))
    m->parameters().write(name, values);
  if (setup.lora.rank > 0) model::initialize_adapter(m->parameters(), 11);
  return m;
}

test::CopyRun pretrain(int64_t steps, bool recompute, const std::string& run_dir) {
  model::ModelSetup setup;
  setup.full = true;
  auto m = initialised(setup);
  train::TrainerOptions options = test::copy_options(
      run_dir, steps, 16, {train::LrSchedule::cosine, 1e-2, 5, 0, 1e-3});
  options.shape.recompute = recompute;
  return test::train_copy(*m, test::copy_batcher(size_t(16 * steps), 1, 16, true),
                          test::copy_batcher(16, 2, 16, false), options);
}

TEST(MoeModel, PretrainingLearnsToCopy) {
  test::TempDir dir;
  const test::CopyRun run = pretrain(30, false, dir.file("run"));
  std::printf("moe copy task: loss %.3f -> %.3f, held-out loss %.3f, accuracy %.3f\n",
              run.first_loss, run.last_loss, run.loss, run.accuracy);
  // Chance is ln 20 = 3.0 and 1 in 20; the bounds leave a margin under what the run reaches on
  // lavapipe (printed above).
  EXPECT_GT(run.first_loss, 2.5);
  EXPECT_LT(run.loss, 1.5);
  EXPECT_GT(run.accuracy, 0.5);
}

// Routing, grouping and the expert products have no float atomics: a second run, with each
// layer's forward replayed inside the backward (recompute), gives the same bits.
TEST(MoeModel, TrainingIsDeterministicWithAndWithoutRecompute) {
  test::TempDir dir;
  const test::CopyRun saved = pretrain(2, false, dir.file("a"));
  const test::CopyRun replayed = pretrain(2, true, dir.file("b"));
  EXPECT_EQ(replayed.first_loss, saved.first_loss);
  EXPECT_EQ(replayed.last_loss, saved.last_loss);
  EXPECT_EQ(replayed.loss, saved.loss);
  EXPECT_EQ(replayed.accuracy, saved.accuracy);
  EXPECT_NE(saved.last_loss, saved.first_loss);  // it trained
}

TEST(MoeModel, LoraTrainsTheAttentionWithExpertsAndRouterFrozen) {
  model::ModelSetup setup;
  setup.lora.rank = 4;
  setup.lora.alpha = 8;
  setup.lora.targets = model::parse_lora_targets("all-linear");
  auto m = initialised(setup);
  const model::Parameters& params = m->parameters();
  // all-linear finds the attention projections; a MoE layer has no gate/up/down projection.
  EXPECT_NE(params.find(model::layer_name(0, "self_attn.q_proj.lora_A.weight")), nullptr);
  EXPECT_EQ(params.find(model::layer_name(0, "mlp.gate_proj.lora_A.weight")), nullptr);
  const std::string gate_up = model::layer_name(1, arch::hf::kExpertsGateUp);
  const std::string router = model::layer_name(1, arch::hf::kRouter);
  EXPECT_FALSE(params.at(gate_up).trainable);
  EXPECT_FALSE(params.at(router).trainable);
  const std::vector<float> experts_before = params.read(gate_up), router_before = params.read(router);
  test::TempDir dir;
  const test::CopyRun run = test::train_copy(
      *m, test::copy_batcher(32, 1, 8, true), test::copy_batcher(8, 2, 8, false),
      test::copy_options(dir.file("run"), 4, 8, {train::LrSchedule::constant, 1e-2, 0, 0, 0}));
  EXPECT_LT(run.last_loss, run.first_loss);
  EXPECT_EQ(params.read(gate_up), experts_before);
  EXPECT_EQ(params.read(router), router_before);
}

}  // namespace
}  // namespace vktrain
