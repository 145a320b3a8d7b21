// A quantized base (QLoRA): the frozen matrices stay in a ggml block type on the device and the
// model computes exactly what the same model in f32 with dequantize(quantize(W)) weights does
// (the kernels decode the blocks to the same floats), checked against the CPU reference model:
// logits, loss and every LoRA gradient. Also: a GGUF file's blocks load as they are (no
// requantization, q/k rows put back in Hugging Face's order), and what cannot run is refused.
#include <gtest/gtest.h>

#include "base/error.hpp"
#include "io/gguf_export.hpp"
#include "io/ggml_dtype.hpp"
#include "io/quant.hpp"
#include "model/harness.hpp"
#include "model/loader.hpp"
#include "model/quantized.hpp"
#include "model/tiny_models.hpp"
#include "model/transformer.hpp"
#include "reference/model.hpp"
#include "support/support.hpp"

namespace vktrain {
namespace {

// Every base matrix of `config` in block type `type`.
std::map<std::string, DType> every_matrix(const io::ModelConfig& config, DType type) {
  std::map<std::string, DType> types;
  for (const auto& spec : model::base_parameters(config))
    if (spec.matrix()) types[spec.name] = type;
  return types;
}

// What a block-typed weight holds for `values`: the host's quantize, then decode.
std::vector<float> round_trip(const std::vector<float>& values, DType type) {
  io::GgmlType ggml = io::ggml_type_of(type);
  return io::dequantize(io::quantize(values, ggml), ggml, values.size());
}

void expect_matches_dequantized(const std::string& family, DType type, bool recompute) {
  SCOPED_TRACE(family + " " + std::string(dtype_name(type)));
  io::ModelConfig config = test::tiny_block_config(family);
  model::ModelSetup setup = test::tiny_lora_setup();
  setup.quantized = every_matrix(config, type);
  auto weights = test::random_weights(test::all_parameters(config, setup.lora), 17);
  auto dequantized = weights;
  for (const auto& [name, block] : setup.quantized) dequantized[name] = round_trip(weights[name], block);

  model::Transformer m(test::context(), config, setup);
  for (const auto& p : m.parameters().all()) {
    m.parameters().write(p.spec.name, weights.at(p.spec.name));
    if (setup.quantized.count(p.spec.name)) {
      ASSERT_EQ(p.weight.dtype, type) << p.spec.name;
    }
  }
  data::HostBatch batch = test::tiny_batch(config, 6);
  test::GpuRun got = test::run_gradients(m, batch, recompute);
  reference::ModelBatch ref_batch{batch.batch, batch.time, batch.ids, batch.targets,
                                  batch.positions, batch.documents};
  auto want = reference::model_reference(config, dequantized, ref_batch, setup.lora.scale());
  EXPECT_LT(test::relative_error(got.logits, want.logits), 1e-4);
  EXPECT_NEAR(got.loss, want.loss, 1e-5 * want.loss);
  ASSERT_EQ(got.grads.size(), model::lora_parameters(config, setup.lora).size());
  for (const auto& [name, grad] : got.grads)
    EXPECT_LT(test::relative_error(grad, want.grads.at(name)), 1e-4) << name;
}

TEST(QuantizedBase, Q4KLoraMatchesTheDequantizedModelForEveryFamily) {
  for (const auto& family : test::kTinyFamilies) expect_matches_dequantized(family, DType::q4_k, false);
}

TEST(QuantizedBase, Q8AndQ6KLoraMatchTheDequantizedModel) {
  expect_matches_dequantized("qwen3", DType::q8_0, false);
  expect_matches_dequantized("llama", DType::q6_k, true);
}

TEST(QuantizedBase, GgufBlocksLoadAsTheyAre) {
  // llama: q/k rows are permuted in the file, so the blocks must move as whole rows.
  io::ModelConfig config = test::tiny_block_config("llama");
  auto weights = test::random_weights(model::base_parameters(config), 29);
  io::GgufModelFile file = io::gguf_model_file(config, io::GgmlType::q8_0);
  for (const auto& spec : model::base_parameters(config))
    io::add_hf_weight(file, config, spec.name, spec.shape, weights.at(spec.name), io::GgmlType::q8_0);
  test::TempDir dir;
  const std::string path = dir.file("model.gguf");
  file.write(path);

  const io::ModelSource source(path);
  model::QuantizedBase base = model::choose_quantized_base(config, &source, std::nullopt, DType::f32);
  EXPECT_EQ(base.types, every_matrix(config, DType::q8_0));
  EXPECT_TRUE(base.notes.empty());
  model::ModelSetup setup = test::tiny_lora_setup();
  setup.quantized = base.types;
  model::Transformer m(test::context(), config, setup);
  model::load_base_weights(m.parameters(), config, source);
  for (const auto& spec : model::base_parameters(config)) {
    std::vector<float> want = spec.matrix() ? round_trip(weights.at(spec.name), DType::q8_0)
                                            : weights.at(spec.name);
    EXPECT_EQ(m.parameters().read(spec.name), want) << spec.name;
  }
}

TEST(QuantizedBase, FullFineTuningOnAQuantizedBaseIsRefused) {
  io::ModelConfig config = test::tiny_block_config("qwen3");
  model::ModelSetup setup;
  setup.full = true;
  setup.quantized = every_matrix(config, DType::q4_k);
  EXPECT_NE(test::error_message([&] { model::check_model_setup(setup); })
                .find("full fine-tuning needs a 16- or 32-bit base"),
            std::string::npos);
  EXPECT_NE(test::error_message([&] { model::Transformer m(test::context(), config, setup); })
                .find("full fine-tuning needs a 16- or 32-bit base"),
            std::string::npos);
}

TEST(QuantizedBase, QuantizeOnLoadFollowsTheMixAndRefusesGgufAndUnknownTypes) {
  io::ModelConfig config = test::tiny_block_config("qwen3");
  model::QuantizedBase base = model::choose_quantized_base(config, nullptr, "q4_k", DType::bf16);
  ASSERT_FALSE(base.types.empty());
  for (const auto& [name, type] : base.types) EXPECT_TRUE(dtype_is_block(type)) << name;
  // Q4_K_M: the tied embeddings (llama-quantize's output) get Q6_K.
  EXPECT_EQ(base.types.at("model.embed_tokens.weight"), DType::q6_k);
  EXPECT_EQ(base.types.at("model.layers.0.mlp.up_proj.weight"), DType::q4_k);
  EXPECT_NE(test::error_message([&] { model::choose_quantized_base(config, nullptr, "q3_x", DType::bf16); })
                .find("q3_x"),
            std::string::npos);
}

}  // namespace
}  // namespace vktrain
