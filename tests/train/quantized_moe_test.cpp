// A mixture-of-experts model on a quantized base (QLoRA for MoE): a tiny qwen3_moe (2 layers of 5
// experts, 2 per token) written as a GGUF file with block-typed experts (ffn_gate_exps / ffn_up_exps / ffn_down_exps) and Q8_0
// attention keeps those blocks on the device (gate and up fused into gate_up as they are), and
// LoRA steps on attention and on the experts give the losses of the same run on the dequantized
// floats. The memory plan counts the experts' exact bytes and the slab workspace.
#include <gtest/gtest.h>

#include "arch/tensor_names.hpp"
#include "io/ggml_dtype.hpp"
#include "io/quant.hpp"
#include "model/expert_tensors.hpp"
#include "model/loader.hpp"
#include "model/memory_plan.hpp"
#include "model/quantized.hpp"
#include "model/tiny_models.hpp"
#include "ops/moe_matmul.hpp"
#include "support/support.hpp"
#include "train/step.hpp"
#include "vk/memory.hpp"

namespace vktrain {
namespace {

// LoRA on attention and on the experts.
model::ModelSetup lora_setup() {
  model::ModelSetup setup = test::tiny_lora_setup();
  setup.lora.targets = model::parse_lora_targets("all-linear,experts");
  return setup;
}

// Losses of three steps from the same adapter, then an evaluation's, the base weights loaded
// by `load_base`.
std::vector<double> train_losses(const io::ModelConfig& config, const model::ModelSetup& setup,
                                 const std::function<void(model::Parameters&)>& load_base) {
  model::Transformer m(test::context(), config, setup);
  load_base(m.parameters());
  auto adapter = test::random_weights(model::lora_parameters(config, setup.lora), 43);
  for (const auto& [name, values] : adapter) m.parameters().write(name, values);
  const data::HostBatch batch = test::tiny_batch(config, 5);
  train::TrainingStep step(m, {batch.batch, batch.time, 1, false}, {});
  std::vector<double> losses;
  for (int64_t s = 1; s <= 3; ++s) losses.push_back(step.run({batch}, 1e-2, s, 0).loss);
  const auto [sum, targets] = step.evaluator().loss(batch);  // eval after the steps
  losses.push_back(sum / double(targets));
  return losses;
}

void expect_quantized_experts_train(io::GgmlType experts) {
  const DType expert_type = *io::device_dtype(experts);
  SCOPED_TRACE(dtype_name(expert_type));
  const io::ModelConfig config = test::tiny_moe_block_config();
  test::TempDir dir;
  test::write_moe_gguf(config, experts, 41, dir.file("moe.gguf"));
  const io::ModelSource source(dir.file("moe.gguf"));

  // The experts keep the file's type, the router stays a float.
  model::QuantizedBase base =
      model::choose_quantized_base(config, &source, std::nullopt, DType::f32);
  EXPECT_TRUE(base.notes.empty());
  for (const auto& spec : model::base_parameters(config)) {
    if (!spec.matrix() || spec.name.ends_with(arch::hf::kRouter)) {
      EXPECT_FALSE(base.types.count(spec.name)) << spec.name;
      continue;
    }
    ASSERT_TRUE(base.types.count(spec.name)) << spec.name;
    EXPECT_EQ(base.types.at(spec.name), model::is_expert_matrix(spec.name) ? expert_type : DType::q8_0)
        << spec.name;
  }

  model::ModelSetup quantized = lora_setup();
  quantized.quantized = base.types;
  // The same run on io::dequantize's floats of the file's blocks.
  std::map<std::string, std::vector<float>> dequantized;
  const std::vector<double> want = [&] {
    model::Transformer reader(test::context(), config, quantized);
    model::load_base_weights(reader.parameters(), config, source);
    for (const auto& spec : model::base_parameters(config)) {
      EXPECT_EQ(reader.parameters().at(spec.name).weight.dtype,
                base.types.count(spec.name) ? base.types.at(spec.name) : DType::f32);
      dequantized[spec.name] = reader.parameters().read(spec.name);
    }
    return train_losses(config, lora_setup(), [&](model::Parameters& p) {
      for (const auto& [name, values] : dequantized) p.write(name, values);
    });
  }();
  const std::vector<double> got = train_losses(config, quantized, [&](model::Parameters& p) {
    model::load_base_weights(p, config, source);
  });
  ASSERT_EQ(got.size(), want.size());
  for (size_t s = 0; s < got.size(); ++s) EXPECT_NEAR(got[s], want[s], 1e-5 * want[s]) << s;
  EXPECT_LT(got[2], got[0]);  // it trains

  // The plan: each expert weight's exact block bytes instead of its floats, and the slab
  // workspace (twice: the step's recording and the evaluation's) where the float run has none.
  model::ModelSetup floats = lora_setup();
  for (const auto& [name, type] : base.types)
    if (!model::is_expert_matrix(name)) floats.quantized[name] = type;
  const auto& caps = test::context().caps();
  const model::MemoryPlan q = model::plan_memory(config, quantized, 2, 11, 1, caps);
  const model::MemoryPlan f = model::plan_memory(config, floats, 2, 11, 1, caps);
  uint64_t saved = 0, slab = 0;
  for (const auto& spec : model::base_parameters(config)) {
    if (!model::is_expert_matrix(spec.name)) continue;
    const uint64_t rows = spec.elements() / uint64_t(spec.shape.back());
    saved += vk::allocated_bytes(spec.elements() * 4) -
             vk::allocated_bytes(rows * io::ggml_row_bytes(experts, uint64_t(spec.shape.back())));
    const uint64_t band = spec.name.ends_with(arch::hf::kExpertsGateUp) ? spec.shape[1] / 2
                                                                         : spec.shape[1];
    for (bool trans_w : {true, false})
      slab = std::max(slab, ops::moe_matmul_slab_scratch_bytes(
                                DType::f32, expert_type, uint64_t(spec.shape[0]), band,
                                uint64_t(spec.shape[2]), trans_w));
  }
  EXPECT_EQ(f.weights - q.weights, saved);
  EXPECT_EQ(q.workspace - f.workspace, 2 * slab);
  EXPECT_GT(slab, 0u);
}

TEST(QuantizedMoe, Q8ExpertsTrainAsTheirDequantizedFloats) {
  expect_quantized_experts_train(io::GgmlType::q8_0);
}

TEST(QuantizedMoe, Q4KExpertsTrainAsTheirDequantizedFloats) {
  expect_quantized_experts_train(io::GgmlType::q4_k);
}

// gpt-oss's GGUF files hold their experts in MXFP4: they stay MXFP4 blocks on the device too.
TEST(QuantizedMoe, Mxfp4ExpertsTrainAsTheirDequantizedFloats) {
  expect_quantized_experts_train(io::GgmlType::mxfp4);
}

// --quantize gives the experts llama-quantize's rules: ffn_gate_exps and ffn_up_exps the mix's
// type, ffn_down_exps ffn_down's (Q4_K_M: Q6_K in the layers use_more_bits picks, of 8 layers
// 0 and 3 but not 2); the router is never quantized.
TEST(QuantizedMoe, QuantizeOnLoadGivesTheExpertsLlamaQuantizesTypes) {
  io::ModelConfig config = test::tiny_moe_block_config();
  config.num_layers = 8;
  model::QuantizedBase base = model::choose_quantized_base(config, nullptr, "q4_k", DType::bf16);
  for (int64_t layer : {0, 2, 3}) {
    EXPECT_EQ(base.types.at(model::layer_name(layer, arch::hf::kExpertsGateUp)), DType::q4_k);
    EXPECT_EQ(base.types.at(model::layer_name(layer, arch::hf::kExpertsDown)),
              layer == 2 ? DType::q4_k : DType::q6_k)
        << layer;
    EXPECT_FALSE(base.types.count(model::layer_name(layer, arch::hf::kRouter)));
  }
  base = model::choose_quantized_base(config, nullptr, "q8_0", DType::bf16);
  EXPECT_EQ(base.types.at(model::layer_name(0, arch::hf::kExpertsGateUp)), DType::q8_0);
  EXPECT_EQ(base.types.at(model::layer_name(0, arch::hf::kExpertsDown)), DType::q8_0);
}

}  // namespace
}  // namespace vktrain
