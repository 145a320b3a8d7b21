#include <gtest/gtest.h>

#include "io/model_config.hpp"
#include "io/model_config_writer.hpp"
#include "model/layout.hpp"
#include "model/presets.hpp"
#include "support/config_fields.hpp"
#include "support/support.hpp"

using namespace vktrain;
using io::Family;

namespace {

int64_t parameter_count(const io::ModelConfig& c) {
  int64_t total = 0;
  for (const auto& spec : model::base_parameters(c)) total += int64_t(spec.elements());
  return total;
}

const std::pair<const char*, const char*> kPublished[] = {
    {"qwen3", "0.6B"}, {"qwen3", "1.7B"}, {"qwen3", "4B"},  {"qwen3", "8B"},
    {"qwen2", "0.5B"}, {"qwen2", "1.5B"}, {"llama", "1B"},  {"llama", "3B"},
    {"llama", "8B"},   {"gemma3", "270M"}, {"gemma3", "1B"}, {"gemma3", "4B"},
    {"qwen3_moe", "30B-A3B"}, {"qwen3_moe", "235B-A22B"}, {"mixtral", "8x7B"},
    {"gpt_oss", "20b"}, {"gpt_oss", "120b"},
};

}  // namespace

TEST(Presets, PublishedSizesEqualTheirCheckpointsConfigs) {
  struct Case {
    const char *family, *size, *fixture;
  };
  for (auto [family, size, fixture] :
       {Case{"qwen3", "0.6B", "qwen3-0.6b.json"}, Case{"qwen2", "0.5B", "qwen2.5-0.5b.json"},
        Case{"llama", "1B", "llama-3.2-1b.json"}, Case{"gemma3", "1B", "gemma-3-1b-it.json"},
        Case{"gemma3", "4B", "gemma-3-4b-it.json"},
        Case{"mixtral", "8x7B", "mixtral-8x7b-v0.1.json"},
        Case{"gpt_oss", "20b", "gpt-oss-20b.json"}}) {
    SCOPED_TRACE(fixture);
    auto published = io::read_model_config(std::string(VKTRAIN_FIXTURES) + "/configs/" + fixture);
    auto preset = model::model_preset(family, size);
    if (published.family == Family::gemma3) {
      // The fixtures are the instruction-tuned models, which also stop at <end_of_turn>; the
      // multimodal 4B names no bos. The presets carry the pre-trained models' ids.
      EXPECT_EQ(preset.eos_token_ids, std::vector<int64_t>{1});
      EXPECT_EQ(preset.bos_token_id, 2);
      preset.eos_token_ids = published.eos_token_ids;
      preset.bos_token_id = published.bos_token_id;
    }
    EXPECT_EQ(test::config_differences(published, preset), std::vector<std::string>{});
  }
}

// The totals their model cards give (embeddings counted once where tied).
TEST(Presets, ParameterCountsAreThePublishedOnes) {
  const std::pair<std::pair<const char*, const char*>, int64_t> counts[] = {
      {{"qwen3", "0.6B"}, 596049920},   {{"qwen3", "1.7B"}, 1720574976},
      {{"qwen3", "4B"}, 4022468096},    {{"qwen3", "8B"}, 8190735360},
      {{"qwen2", "0.5B"}, 494032768},   {{"qwen2", "1.5B"}, 1543714304},
      {{"llama", "1B"}, 1235814400},    {{"llama", "3B"}, 3212749824},
      {{"llama", "8B"}, 8030261248},    {{"gemma3", "270M"}, 268098176},
      {{"gemma3", "1B"}, 999885952},    {{"llama", "70B"}, 70553706496},
      {{"qwen3_moe", "30B-A3B"}, 30532122624}, {{"qwen3_moe", "235B-A22B"}, 235093634560},
      {{"mixtral", "8x7B"}, 46702792704},
      // gpt-oss's model card (biases, sinks and routers included, bf16 experts)
      {{"gpt_oss", "20b"}, 20914757184}, {{"gpt_oss", "120b"}, 116829156672},
  };
  for (auto [name, count] : counts) {
    SCOPED_TRACE(std::string(name.first) + " " + name.second);
    EXPECT_EQ(parameter_count(model::model_preset(name.first, name.second)), count);
  }
  auto llama8 = model::model_preset("llama", "8B");
  EXPECT_EQ(llama8.rope_scaling.type, "llama3");
  EXPECT_EQ(llama8.rope_scaling.factor, 8.0);
  EXPECT_FALSE(llama8.tie_word_embeddings);
  EXPECT_EQ(model::model_preset("llama", "3B").rope_scaling.factor, 32.0);
}

TEST(Presets, TinyModelsAreAFewMillionParametersWithTheFamilysSwitches) {
  for (auto family : {"qwen3", "qwen2", "llama", "gemma3", "qwen3_moe", "mixtral", "gpt_oss"}) {
    SCOPED_TRACE(family);
    auto tiny = model::model_preset(family, "tiny");
    EXPECT_EQ(tiny.vocab_size, 32000);
    const int64_t count = parameter_count(tiny);
    EXPECT_GT(count, 1000000);
    EXPECT_LT(count, 5500000);
    EXPECT_EQ(tiny.rope_scaling.type, "default");
    EXPECT_FALSE(tiny.bos_token_id.has_value());
    EXPECT_TRUE(tiny.eos_token_ids.empty());
    EXPECT_EQ(io::family_config(tiny.family).qk_norm, tiny.qk_norm);
  }
  EXPECT_TRUE(model::model_preset("qwen2", "tiny").attention_bias);
  auto gemma = model::model_preset("gemma3", "tiny");
  EXPECT_EQ(gemma.sliding_layers, (std::vector<bool>{true, true, true, true, true, false}));
  EXPECT_EQ(gemma.sliding_window, 128);
  EXPECT_EQ(gemma.attention_scale(), 1.0 / std::sqrt(32.0));
  auto moe = model::model_preset("qwen3_moe", "tiny");
  EXPECT_EQ(moe.moe.experts, 8);
  EXPECT_EQ(moe.moe.experts_per_token, 2);
  for (int64_t l = 0; l < moe.num_layers; ++l) EXPECT_TRUE(moe.moe_layer(l)) << l;
  auto mixtral = model::model_preset("mixtral", "tiny");  // its experts are intermediate_size wide
  EXPECT_EQ(mixtral.moe.intermediate_size, mixtral.intermediate_size);
  EXPECT_TRUE(mixtral.moe.normalize_topk);
  EXPECT_EQ(mixtral.moe.experts_per_token, 2);
}

TEST(Presets, EveryPresetReadsBackFromItsConfigJson) {
  test::TempDir dir;
  auto check = [&](const char* family, const char* size) {
    SCOPED_TRACE(std::string(family) + " " + size);
    auto preset = model::model_preset(family, size);
    io::write_model_config(dir.file("config.json"), preset);
    EXPECT_EQ(test::config_differences(preset, io::read_model_config(dir.file("config.json"))),
              std::vector<std::string>{});
  };
  for (auto [family, size] : kPublished) check(family, size);
  for (auto family : {"qwen3", "qwen2", "llama", "gemma3", "qwen3_moe", "mixtral", "gpt_oss"})
    check(family, "tiny");
}

TEST(Presets, NamesMatchWithoutCaseAndUnknownOnesListEveryPreset) {
  EXPECT_EQ(model::model_preset("Qwen3", "0.6b").hidden_size, 1024);
  EXPECT_EQ(model::model_preset("GEMMA3", "270m").num_layers, 18);
  for (auto [family, size] : {std::pair{"qwen3", "3B"}, std::pair{"mistral", "7B"},
                              std::pair{"falcon", "tiny"}}) {
    auto message = test::error_message([&] { model::model_preset(family, size); });
    EXPECT_NE(message.find(fmt::format("[preset] no model '{} {}'", family, size)),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("qwen3 0.6B 1.7B 4B 8B tiny; qwen2 0.5B 1.5B tiny; llama 1B 3B 8B 70B "
                           "tiny; gemma3 270M 1B 4B tiny; qwen3_moe 30B-A3B 235B-A22B tiny; "
                           "mixtral 8x7B tiny; gpt_oss 20b 120b tiny"),
              std::string::npos)
        << message;
  }
}
