// The device model against the CPU reference model (tests/reference/model.hpp) for the
// mixture-of-experts families (qwen3_moe, mixtral, gpt_oss), in f32: logits, the loss with the
// routers' load-balancing loss, and every trainable gradient, with full fine-tuning and with LoRA on the
// attention and the experts' weights (PEFT's target_parameters, one or both of them). The batch
// ends in two padding tokens (document -1), which the load-balancing loss leaves out.
#include <gtest/gtest.h>

#include "model/harness.hpp"
#include "model/tiny_models.hpp"
#include "reference/model.hpp"
#include "support/support.hpp"

namespace vktrain {
namespace {

// tiny_config("qwen3_moe") (layer 0: 5 experts of F 24, 2 per token, renormalised; layer 1
// dense), "qwen3_moe_raw_topk" its top k weights as the softmax gives them (norm_topk_prob
// false), and a mixtral of the same sizes with 4 experts of F 40, top 2, window 4 < T; all add
// the load-balancing loss at a coefficient that makes it count; and tiny_config("gpt_oss")
// (sinks, biases, its router and clamped SwiGLU, alternating window) with that coefficient.
io::ModelConfig moe_config(const std::string& family) {
  if (family == "gpt_oss") {
    io::ModelConfig config = test::tiny_config("gpt_oss");
    config.moe.aux_loss = true;
    config.moe.aux_loss_coef = 0.3;
    return config;
  }
  io::ModelConfig config =
      family.starts_with("qwen3_moe")
          ? test::tiny_config("qwen3_moe")
          : io::parse_model_config(R"({"architectures": ["MixtralForCausalLM"],
      "model_type": "mixtral", "vocab_size": 97, "hidden_size": 48, "intermediate_size": 40,
      "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
      "head_dim": 16, "max_position_embeddings": 64, "rms_norm_eps": 1e-5,
      "rope_theta": 1000000.0, "sliding_window": 4, "tie_word_embeddings": false,
      "num_local_experts": 4, "num_experts_per_tok": 2})",
                                   "tiny mixtral");
  config.moe.normalize_topk = family != "qwen3_moe_raw_topk";
  config.moe.aux_loss = true;
  config.moe.aux_loss_coef = 0.3;
  return config;
}

// tiny_batch with row 1's last two tokens padding.
data::HostBatch padded_batch(const io::ModelConfig& config) {
  data::HostBatch batch = test::tiny_batch(config, 5);
  const size_t end = size_t(batch.batch * batch.time);
  for (size_t i = end - 3; i < end; ++i) batch.targets[i] = -100;
  batch.documents[end - 2] = batch.documents[end - 1] = -1;
  return batch;
}

void expect_matches(const std::string& family, const model::ModelSetup& setup) {
  const io::ModelConfig config = moe_config(family);
  const auto weights = test::random_weights(test::all_parameters(config, setup.lora), 11);
  test::expect_matches_reference(config, setup, weights, padded_batch(config), family);
}

model::ModelSetup lora_setup(const char* targets) {
  model::ModelSetup setup = test::tiny_lora_setup();
  setup.lora.targets = model::parse_lora_targets(targets);
  return setup;
}

}  // namespace

TEST(ReferenceMoe, FullFineTuningMatchesTheReference) {
  model::ModelSetup setup;
  setup.full = true;
  for (const char* family : {"qwen3_moe", "qwen3_moe_raw_topk", "mixtral", "gpt_oss"})
    expect_matches(family, setup);
}

// Both expert weights (PEFT nests gate_up_proj's adapter in down_proj's), and gate_up_proj alone.
TEST(ReferenceMoe, LoraOnAttentionAndExpertsMatchesTheReference) {
  expect_matches("qwen3_moe", lora_setup("all-linear,experts"));
  expect_matches("mixtral", lora_setup("q,k,v,o,gate_up_proj"));
}

// gpt-oss's LoRA on the attention, and on its experts (both, and down_proj alone).
TEST(ReferenceMoe, GptOssLoraOnTheAttentionAndExpertsMatchesTheReference) {
  expect_matches("gpt_oss", lora_setup("q,k,v,o,experts"));
  expect_matches("gpt_oss", lora_setup("v,experts.down_proj"));
}

}  // namespace vktrain
