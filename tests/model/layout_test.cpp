// Parameter names and shapes, and the LoRA options users type.
#include <gtest/gtest.h>

#include <map>

#include "arch/tensor_names.hpp"
#include "model/layout.hpp"
#include "model/presets.hpp"
#include "model/tiny_models.hpp"
#include "support/support.hpp"

namespace vktrain {
namespace {

TEST(Layout, LoraTargetsAcceptPeftNamesShortNamesAndAllLinear) {
  using Targets = std::vector<std::string>;
  EXPECT_EQ(model::parse_lora_targets("q,v"), (Targets{"q_proj", "v_proj"}));
  EXPECT_EQ(model::parse_lora_targets("q_proj, down_proj,q"), (Targets{"q_proj", "down_proj"}));
  EXPECT_EQ(model::parse_lora_targets("all-linear").size(), 7u);
  std::string error = test::error_message([] { model::parse_lora_targets("q,lm_head"); });
  EXPECT_NE(error.find("--lora-targets"), std::string::npos) << error;
  EXPECT_NE(error.find("lm_head"), std::string::npos) << error;
  EXPECT_NE(test::error_message([] { model::parse_lora_targets(" , "); }), "");
}

TEST(Layout, LoraScaleIsAlphaOverRankOrOverItsRootWithRsLora) {
  model::LoraConfig lora{.rank = 16, .alpha = 32};
  EXPECT_EQ(lora.scale(), 2.0);
  lora.rslora = true;
  EXPECT_EQ(lora.scale(), 8.0);
}

TEST(Layout, AdapterShapesFollowEachProjection) {
  io::ModelConfig config = test::tiny_config("qwen3");  // C 48, F 80, 4 x 16 q, 2 x 16 kv
  model::LoraConfig lora{.rank = 3, .targets = model::parse_lora_targets("k,down")};
  auto specs = model::lora_parameters(config, lora);
  ASSERT_EQ(specs.size(), 8u);  // 2 layers x 2 modules x (A, B)
  EXPECT_EQ(specs[0].name, "model.layers.0.self_attn.k_proj.lora_A.weight");
  EXPECT_EQ(specs[0].shape, (std::vector<int64_t>{3, 48}));
  EXPECT_EQ(specs[1].shape, (std::vector<int64_t>{32, 3}));
  EXPECT_EQ(specs[2].name, "model.layers.0.mlp.down_proj.lora_A.weight");
  EXPECT_EQ(specs[2].shape, (std::vector<int64_t>{3, 80}));
  EXPECT_TRUE(model::is_lora_parameter(specs[3].name));
  EXPECT_FALSE(model::is_lora_parameter("model.layers.0.mlp.down_proj.weight"));
}

TEST(Layout, EachFamilyHasItsSwitchesParameters) {
  auto names = [](const std::string& family) {
    std::set<std::string> out;
    for (const auto& spec : model::base_parameters(test::tiny_config(family))) out.insert(spec.name);
    return out;
  };
  EXPECT_TRUE(names("qwen2").count("model.layers.1.self_attn.v_proj.bias"));
  EXPECT_FALSE(names("llama").count("model.layers.1.self_attn.v_proj.bias"));
  EXPECT_TRUE(names("qwen3").count("model.layers.0.self_attn.q_norm.weight"));
  EXPECT_TRUE(names("gemma3").count("model.layers.0.post_feedforward_layernorm.weight"));
  EXPECT_TRUE(names("llama").count("lm_head.weight"));
  EXPECT_FALSE(names("qwen3").count("lm_head.weight"));  // tied
}

// A MoE layer holds the router and the fused experts (transformers 5's names and layout); a
// layer in mlp_only_layers keeps the dense MLP.
TEST(Layout, MixtureOfExpertsLayersHoldRouterAndFusedExperts) {
  io::ModelConfig c = model::model_preset("qwen3_moe", "tiny");  // C 128, 8 experts of F 64
  c.moe.dense_layers = {2};
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& spec : model::base_parameters(c)) shapes[spec.name] = spec.shape;
  EXPECT_EQ(shapes[model::layer_name(0, arch::hf::kRouter)], (std::vector<int64_t>{8, 128}));
  EXPECT_EQ(shapes[model::layer_name(0, arch::hf::kExpertsGateUp)],
            (std::vector<int64_t>{8, 128, 128}));
  EXPECT_EQ(shapes[model::layer_name(0, arch::hf::kExpertsDown)], (std::vector<int64_t>{8, 128, 64}));
  EXPECT_EQ(shapes.count(model::layer_name(0, "mlp.gate_proj.weight")), 0u);
  EXPECT_EQ(shapes[model::layer_name(2, "mlp.gate_proj.weight")], (std::vector<int64_t>{384, 128}));
  EXPECT_EQ(shapes.count(model::layer_name(2, arch::hf::kRouter)), 0u);
}

// LoRA on the experts as PEFT 0.21 names it (tests/fixtures/models/qwen3_moe/expected.json's
// lora_tensors): gate_up_proj's ParamWrapper nested inside down_proj's when both are targeted.
TEST(Layout, LoraOnExpertWeightsIsNamedAsPeftNestsItsWrappers) {
  EXPECT_EQ(model::parse_lora_targets("q,experts"),
            (std::vector<std::string>{"q_proj", "experts.gate_up_proj", "experts.down_proj"}));
  EXPECT_EQ(model::parse_lora_targets("mlp.experts.down_proj gate_up"),
            (std::vector<std::string>{"experts.down_proj", "experts.gate_up_proj"}));
  io::ModelConfig c = model::model_preset("qwen3_moe", "tiny");  // C 128, 8 experts of F 64
  c.moe.dense_layers = {1};
  auto shapes = [&](const std::string& targets) {
    model::LoraConfig lora{.rank = 4, .alpha = 8, .targets = model::parse_lora_targets(targets)};
    std::map<std::string, std::vector<int64_t>> found;
    for (const auto& spec : model::lora_parameters(c, lora)) found[spec.name] = spec.shape;
    return found;
  };
  model::LoraConfig all{.rank = 4, .alpha = 8, .targets = model::parse_lora_targets("all-linear,experts")};
  c.moe.dense_layers = {};  // no layer has gate/up/down projections then
  EXPECT_EQ(model::applied_lora_targets(c, all),
            (std::vector<std::string>{"q_proj", "k_proj", "v_proj", "o_proj",
                                      "experts.gate_up_proj", "experts.down_proj"}));
  c.moe.dense_layers = {1};
  auto both = shapes("experts");
  const std::string gate_up = model::layer_name(0, "mlp.experts.base_layer.");
  const std::string down = model::layer_name(0, "mlp.experts.");
  EXPECT_EQ(both[gate_up + "lora_A.weight"], (std::vector<int64_t>{8, 4, 128}));
  EXPECT_EQ(both[gate_up + "lora_B.weight"], (std::vector<int64_t>{8, 128, 4}));
  EXPECT_EQ(both[down + "lora_A.weight"], (std::vector<int64_t>{8, 4, 64}));
  EXPECT_EQ(both[down + "lora_B.weight"], (std::vector<int64_t>{8, 128, 4}));
  EXPECT_EQ(both.count(model::layer_name(1, "mlp.experts.lora_A.weight")), 0u);  // dense layer
  auto alone = shapes("gate_up_proj");
  EXPECT_EQ(alone[down + "lora_A.weight"], (std::vector<int64_t>{8, 4, 128}));
  EXPECT_EQ(alone.count(gate_up + "lora_A.weight"), 0u);
  // PEFT's file shapes: lora_A [E r, in], lora_B [out, r E].
  model::ParameterSpec b{gate_up + "lora_B.weight", {8, 128, 4}};
  EXPECT_EQ(model::peft_shape(b), (std::vector<int64_t>{128, 32}));
  EXPECT_EQ(model::peft_shape({gate_up + "lora_A.weight", {8, 4, 128}}),
            (std::vector<int64_t>{32, 128}));
  auto values = test::random_values(8 * 128 * 4, 5);
  EXPECT_EQ(model::from_peft_layout(b, model::to_peft_layout(b, values)), values);
}

// gpt-oss's experts as PEFT adapts them (transformers' GptOssExperts is_transposed): the same
// shapes as Qwen3-MoE's, but gate_up's lora_B rows are its checkpoint's columns, gate and up
// alternating: PEFT's row 2j is the device's gate row j, 2j + 1 its up row j (F + j).
TEST(Layout, GptOssExpertAdaptersInterleaveGateUpRowsInPeftsLayout) {
  const io::ModelConfig c = test::tiny_config("gpt_oss");  // C 48, 5 experts of F 80
  const model::LoraConfig lora{.rank = 3, .alpha = 6, .targets = model::parse_lora_targets("experts")};
  std::map<std::string, model::ParameterSpec> specs;
  for (auto& spec : model::lora_parameters(c, lora)) specs.emplace(spec.name, spec);
  const model::ParameterSpec& b = specs.at(model::layer_name(0, "mlp.experts.base_layer.lora_B.weight"));
  EXPECT_EQ(b.shape, (std::vector<int64_t>{5, 160, 3}));
  EXPECT_TRUE(b.peft_interleaved_rows);
  EXPECT_FALSE(specs.at(model::layer_name(0, "mlp.experts.lora_B.weight")).peft_interleaved_rows);
  EXPECT_FALSE(specs.at(model::layer_name(0, "mlp.experts.base_layer.lora_A.weight")).peft_interleaved_rows);
  EXPECT_EQ(model::peft_shape(b), (std::vector<int64_t>{160, 15}));
  const auto device = test::random_values(5 * 160 * 3, 8);
  const auto peft = model::to_peft_layout(b, device);
  for (int64_t e = 0; e < 5; ++e)
    for (int64_t j = 0; j < 80; ++j)
      for (int64_t k = 0; k < 3; ++k) {
        // Device B [E, 2F, r]; PEFT's [2F, r E], expert e's column k at k E + e.
        ASSERT_EQ(peft[size_t(2 * j * 15 + k * 5 + e)], device[size_t((e * 160 + j) * 3 + k)]);
        ASSERT_EQ(peft[size_t((2 * j + 1) * 15 + k * 5 + e)],
                  device[size_t((e * 160 + 80 + j) * 3 + k)]);
      }
  EXPECT_EQ(model::from_peft_layout(b, peft), device);
}

TEST(Layout, LoraTargetsThatCannotApplyAreOneClearError) {
  std::string error = test::error_message([] { model::parse_lora_targets("q,router"); });
  EXPECT_NE(error.find("[lora] --lora-targets: 'router': the router stays frozen"),
            std::string::npos)
      << error;
  // gate/up/down find nothing in a model whose every layer is a MoE layer.
  const io::ModelConfig c = model::model_preset("qwen3_moe", "tiny");
  model::LoraConfig lora{.rank = 4, .alpha = 8, .targets = model::parse_lora_targets("gate,up")};
  error = test::error_message([&] { model::lora_parameters(c, lora); });
  EXPECT_NE(error.find("[lora] --lora-targets gate_proj,up_proj name no module of this qwen3_moe "
                       "model"),
            std::string::npos)
      << error;
  lora.targets = model::parse_lora_targets("q,experts");
  lora.dropout = 0.05f;
  error = test::error_message([&] { model::lora_parameters(c, lora); });
  EXPECT_NE(error.find("PEFT's ParamWrapper (target_parameters) does not work with "
                       "lora_dropout != 0"),
            std::string::npos)
      << error;
  lora.dropout = 0;
  error = test::error_message(
      [&] { model::lora_parameters(model::model_preset("qwen3", "tiny"), lora); });
  EXPECT_NE(error.find("this qwen3 model has no mixture-of-experts layers"), std::string::npos)
      << error;
}

// gpt-oss: q/k/v/o biases, a sink per query head, the router under its own name with a bias,
// and the experts' biases beside the fused layout; biases and sinks stay f32, undecayed.
TEST(Layout, GptOssHasSinksBiasesAndItsRouter) {
  const io::ModelConfig c = model::model_preset("gpt_oss", "20b");
  std::map<std::string, model::ParameterSpec> specs;
  for (auto& spec : model::base_parameters(c)) specs.emplace(spec.name, spec);
  auto shape = [&](const std::string& suffix) {
    return specs.at(model::layer_name(5, suffix)).shape;
  };
  EXPECT_EQ(shape("self_attn.o_proj.bias"), (std::vector<int64_t>{2880}));
  EXPECT_EQ(shape("self_attn.k_proj.bias"), (std::vector<int64_t>{512}));
  EXPECT_EQ(shape(arch::hf::kSinks), (std::vector<int64_t>{64}));
  EXPECT_EQ(shape(arch::hf::kRouterOwn), (std::vector<int64_t>{32, 2880}));
  EXPECT_EQ(shape(arch::hf::kRouterBias), (std::vector<int64_t>{32}));
  EXPECT_EQ(shape(arch::hf::kExpertsGateUp), (std::vector<int64_t>{32, 5760, 2880}));
  EXPECT_EQ(shape(arch::hf::kExpertsGateUpBias), (std::vector<int64_t>{32, 5760}));
  EXPECT_EQ(shape(arch::hf::kExpertsDown), (std::vector<int64_t>{32, 2880, 2880}));
  EXPECT_EQ(shape(arch::hf::kExpertsDownBias), (std::vector<int64_t>{32, 2880}));
  EXPECT_EQ(specs.count(model::layer_name(5, arch::hf::kRouter)), 0u);
  for (const char* suffix : {arch::hf::kExpertsGateUpBias, arch::hf::kExpertsDownBias,
                             arch::hf::kSinks, "self_attn.o_proj.bias"})
    EXPECT_FALSE(specs.at(model::layer_name(0, suffix)).matrix()) << suffix;
  EXPECT_TRUE(specs.at(model::layer_name(0, arch::hf::kRouterOwn)).matrix());
  EXPECT_TRUE(model::is_moe_block_parameter(model::layer_name(0, arch::hf::kRouterOwn)));
  // qwen2's o_proj has no bias.
  for (const auto& spec : model::base_parameters(model::model_preset("qwen2", "tiny")))
    EXPECT_FALSE(spec.name.ends_with("o_proj.bias")) << spec.name;
}

}  // namespace
}  // namespace vktrain
