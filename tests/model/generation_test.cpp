// Incremental decoding (model/generation.hpp) against the full forward: the logits after a
// prefill and each following step equal record_logits of the whole sequence at those
// positions, for every tiny family (Gemma-3 generating past its sliding window, qwen3_moe's
// experts one token at a time) and for the
// qwen3 fixture with its LoRA adapter unmerged (also against transformers + PEFT), and on a
// quantized base; greedy decoding equals the argmax of a full recompute.
#include <gtest/gtest.h>

#include <cstring>

#include <fmt/format.h>

#include "arch/tensor_names.hpp"
#include "io/safetensors.hpp"
#include "model/generation.hpp"
#include "model/loader.hpp"
#include "model/sampling.hpp"
#include "model/tiny_models.hpp"
#include "support/support.hpp"
#include "train/batch_upload.hpp"
#include "vk/recorder.hpp"

namespace vktrain {
namespace {

// The logits [T, V] of record_forward over `ids` as one sequence.
std::vector<float> full_logits(model::Transformer& m, const std::vector<int32_t>& ids) {
  vk::Context& ctx = m.context();
  const int64_t T = int64_t(ids.size());
  data::HostBatch host{1, T, ids, std::vector<int32_t>(ids.size(), -100), {}, {}};
  for (int32_t t = 0; t < T; ++t) host.positions.push_back(t);
  model::BatchTensors batch = m.make_batch(1, T);
  train::upload_batch(m, batch, host);
  model::Activations acts(ctx, m.config(), m.setup().dtype, 1, T, false, 0);
  Tensor logits = make_tensor(ctx, DType::f32, {T, m.config().vocab_size}, "logits");
  vk::Recorder rec(ctx);
  m.record_forward(rec, acts, batch, false);
  m.record_logits(rec, logits, acts);
  rec.run();
  return read_floats(ctx, logits);
}

std::vector<float> row(const std::vector<float>& logits, size_t t, size_t V) {
  return {logits.begin() + t * V, logits.begin() + (t + 1) * V};
}

// Prefills `prompt` tokens of `ids`, steps through the rest; each position's logits against
// `want` [T, V].
void expect_incremental_matches(model::Transformer& m, const std::vector<int32_t>& ids,
                                size_t prompt, const std::vector<float>& want, double tolerance,
                                const std::string& what) {
  const size_t V = size_t(m.config().vocab_size);
  model::Generator g(m, int64_t(ids.size()) + 2);
  std::vector<float> got = g.prefill(std::span(ids).first(prompt));
  EXPECT_LT(test::relative_error(got, row(want, prompt - 1, V)), tolerance) << what << " prefill";
  for (size_t t = prompt; t < ids.size(); ++t) {
    got = g.step(ids[t]);
    EXPECT_LT(test::relative_error(got, row(want, t, V)), tolerance) << what << " position " << t;
  }
  EXPECT_EQ(g.length(), int64_t(ids.size()));
}

std::unique_ptr<model::Transformer> tiny_model(const std::string& family,
                                               const model::ModelSetup& setup) {
  return test::random_model(test::tiny_config(family), setup, 7);
}

std::vector<int32_t> some_ids(const io::ModelConfig& config, size_t n, uint32_t seed) {
  std::vector<int32_t> ids;
  Xoshiro256 random(seed);
  for (size_t i = 0; i < n; ++i) ids.push_back(int32_t(random.next() % uint64_t(config.vocab_size)));
  return ids;
}

}  // namespace

// 14 positions: Gemma-3's sliding layer (window 5) and Mistral's drop the earliest keys while
// stepping. f32 everywhere; the decode kernel sums the softmax in another order than the tiled
// forward.
TEST(Generation, StepsEqualTheFullForwardForEveryFamily) {
  for (const auto& family : test::kTinyFamilies) {
    auto m = tiny_model(family, {});
    auto ids = some_ids(m->config(), 14, 3);
    expect_incremental_matches(*m, ids, 4, full_logits(*m, ids), 1e-5, family);
  }
}

// One token at a time through the mixture-of-experts block (M = 1: routing, grouping and the
// expert products of a single token).
TEST(Generation, MixtureOfExpertsStepsEqualTheFullForward) {
  auto m = tiny_model("qwen3_moe", {});
  auto ids = some_ids(m->config(), 10, 5);
  expect_incremental_matches(*m, ids, 3, full_logits(*m, ids), 1e-5, "qwen3_moe");
}

// gpt-oss: the decode kernel's sinks, the o_proj bias and the window of layer 0 (4 < 10).
TEST(Generation, GptOssStepsEqualTheFullForward) {
  auto m = tiny_model("gpt_oss", {});
  auto ids = some_ids(m->config(), 10, 6);
  expect_incremental_matches(*m, ids, 3, full_logits(*m, ids), 1e-5, "gpt_oss");
}

TEST(Generation, UnmergedLoraStepsEqualTheFullForward) {
  model::ModelSetup setup;
  setup.lora.rank = 3;
  setup.lora.alpha = 6;
  setup.lora.targets = model::parse_lora_targets("all-linear");
  for (const char* family : {"qwen2", "gemma3"}) {
    auto m = tiny_model(family, setup);
    auto ids = some_ids(m->config(), 9, 4);
    expect_incremental_matches(*m, ids, 3, full_logits(*m, ids), 1e-5, family);
  }
}

// A model whose base matrices are in the block types `quantized` names, the adapter of `setup`
// unmerged, decodes step by step to the logits of the same model in f32 holding what the blocks
// decode to.
void expect_quantized_steps_match(const io::ModelConfig& config, const model::ModelSetup& setup,
                                  const std::map<std::string, DType>& quantized_types,
                                  uint32_t seed, const std::string& label) {
  model::ModelSetup quantized_setup = setup;
  quantized_setup.quantized = quantized_types;
  model::Transformer quantized(test::context(), config, quantized_setup);
  model::Transformer plain(test::context(), config, setup);
  for (const auto& [name, values] : test::random_weights(test::all_parameters(config, setup.lora), seed)) {
    quantized.parameters().write(name, values);
    plain.parameters().write(name, quantized.parameters().read(name));
  }
  auto ids = some_ids(config, 9, seed);
  expect_incremental_matches(quantized, ids, 3, full_logits(plain, ids), 1e-4, label);
}

// A quantized base (Q4_K frozen matrices, the adapter unmerged): prefill and steps multiply the
// block weights (M = 1 included) and gather quantized embedding rows.
TEST(Generation, QuantizedBaseStepsEqualTheDequantizedModel) {
  const io::ModelConfig config = test::tiny_block_config("qwen3");
  std::map<std::string, DType> types;
  for (const auto& spec : model::base_parameters(config))
    if (spec.matrix()) types[spec.name] = DType::q4_k;
  expect_quantized_steps_match(config, test::tiny_lora_setup(), types, 5, "qwen3 q4_k");
}

// A mixture-of-experts model whose experts are Q4_K and Q8_0 (read by slabs, ops/moe_matmul.hpp)
// and adapted, the router a float.
TEST(Generation, QuantizedExpertsStepsEqualTheDequantizedModel) {
  const io::ModelConfig config = test::tiny_moe_block_config();
  model::ModelSetup setup = test::tiny_lora_setup();
  setup.lora.targets = model::parse_lora_targets("all-linear,experts");
  std::map<std::string, DType> types;
  for (const auto& spec : model::base_parameters(config))
    if (spec.matrix() && !spec.name.ends_with(arch::hf::kRouter))
      types[spec.name] = spec.name.ends_with(arch::hf::kExpertsDown) ? DType::q8_0 : DType::q4_k;
  expect_quantized_steps_match(config, setup, types, 7, "qwen3_moe q4_k experts");
}

// The qwen3 fixture with its PEFT adapter: our steps against our full forward, and against
// transformers + PEFT's logits of the fixture's first row (16 tokens, all attended).
TEST(Generation, QwenFixtureWithAdapterMatchesTransformers) {
  const std::string dir = std::string(VKTRAIN_FIXTURES) + "/models/qwen3";
  io::SafetensorsReader expected(dir + "/expected.safetensors");
  auto floats = [&](const std::string& name) {
    auto bytes = expected.data(name);
    std::vector<float> out(bytes.size() / 4);
    std::memcpy(out.data(), bytes.data(), bytes.size());
    return out;
  };
  io::ModelConfig config = io::ModelSource(dir).config();
  model::ModelSetup setup;
  setup.lora.rank = 8;
  setup.lora.alpha = 16;
  setup.lora.targets = model::parse_lora_targets("all-linear");
  model::Transformer m(test::context(), config, setup);
  model::load_base_weights(m.parameters(), config, io::ModelSource(dir));
  for (const auto& p : m.parameters().all())
    if (model::is_lora_parameter(p.spec.name))
      m.parameters().write(p.spec.name, floats("adapter." + p.spec.name));
  auto all_ids = expected.data("input_ids");
  std::vector<int32_t> ids(16);
  std::memcpy(ids.data(), all_ids.data(), 16 * 4);
  expect_incremental_matches(m, ids, 5, full_logits(m, ids), 1e-5, "qwen3 ours");
  std::vector<float> transformers = floats("lora_logits");
  transformers.resize(16 * size_t(config.vocab_size));  // the first row
  // f32 on both sides, sums in other orders: 1e-4 of the largest logit, as hf_fixture_test.
  expect_incremental_matches(m, ids, 5, transformers, 1e-4, "qwen3 transformers");
}

// Greedy generation token by token equals recomputing the whole sequence each time and taking
// the argmax of its last row.
TEST(Generation, GreedyEqualsArgmaxOfFullRecompute) {
  for (const char* family : {"qwen3", "gemma3"}) {
    auto m = tiny_model(family, {});
    const size_t V = size_t(m->config().vocab_size);
    std::vector<int32_t> ids = some_ids(m->config(), 3, 5);
    model::Generator g(*m, 16);
    model::Sampler greedy({.temperature = 0});
    std::vector<int32_t> generated = ids;
    int32_t next = greedy.next(g.prefill(ids));
    for (int i = 0; i < 8; ++i) {
      generated.push_back(next);
      next = greedy.next(g.step(next));
    }
    generated.push_back(next);
    std::vector<int32_t> recomputed = ids;
    while (recomputed.size() < generated.size()) {
      std::vector<float> all = full_logits(*m, recomputed);
      recomputed.push_back(greedy.next(row(all, recomputed.size() - 1, V)));
    }
    EXPECT_EQ(generated, recomputed) << family;
  }
}

TEST(Generation, ContextOverflowAndBadTokensAreOneError) {
  auto m = tiny_model("qwen3", {});
  model::Generator g(*m, 3);
  std::vector<int32_t> ids{1, 2, 3, 4};
  EXPECT_EQ(test::error_message([&] { g.prefill(ids); }),
            "[generate] the prompt's 4 tokens do not fit the context of 3");
  g.prefill(std::span(ids).first(3));
  EXPECT_EQ(test::error_message([&] { g.step(1); }),
            "[generate] the context of 3 tokens is full; give a larger one");
  model::Generator h(*m, 8);
  h.prefill(std::span(ids).first(2));
  EXPECT_EQ(test::error_message([&] { h.step(int32_t(m->config().vocab_size)); }),
            fmt::format("[generate] token id {} is outside the vocabulary of {}",
                        m->config().vocab_size, m->config().vocab_size));
}

}  // namespace vktrain
