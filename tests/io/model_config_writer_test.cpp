#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/model_config.hpp"
#include "io/model_config_writer.hpp"
#include "support/config_fields.hpp"
#include "support/support.hpp"

using namespace vktrain;
using io::Family;
using nlohmann::json;

namespace {

const std::string kConfigs = std::string(VKTRAIN_FIXTURES) + "/configs";

json read_json(const std::string& path) {
  std::ifstream in(path);
  return json::parse(in);
}

// Writes `config` to a fresh config.json and reads it back.
io::ModelConfig round_trip(const io::ModelConfig& config, const test::TempDir& dir,
                           DType dtype = DType::bf16) {
  io::write_model_config(dir.file("config.json"), config, dtype);
  return io::read_model_config(dir.file("config.json"));
}

std::vector<std::string> fixture_configs() {
  std::vector<std::string> names;
  for (auto folder : {kConfigs, kConfigs + "/v5"})
    for (const auto& entry : std::filesystem::directory_iterator(folder))
      if (entry.path().extension() == ".json") names.push_back(entry.path().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

TEST(ModelConfigWriter, EveryFixtureConfigReadsBackToTheSameModel) {
  const auto names = fixture_configs();
  ASSERT_GE(names.size(), 11u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    test::TempDir dir;
    const io::ModelConfig config = io::read_model_config(name);
    const io::ModelConfig read = round_trip(config, dir);
    EXPECT_EQ(test::config_differences(config, read), std::vector<std::string>{});
    // Written as the family's text model, whatever checkpoint the config came from.
    EXPECT_EQ(read.architecture, io::causal_lm_architecture(config.family));
    EXPECT_EQ(read.weight_prefixes, std::vector<std::string>{"model."});
  }
}

TEST(ModelConfigWriter, WritesWhatTransformers5Writes) {
  test::TempDir dir;
  io::write_model_config(dir.file("config.json"), io::read_model_config(kConfigs + "/v5/gemma3.json"));
  json written = read_json(dir.file("config.json"));
  json text = read_json(kConfigs + "/v5/gemma3.json")["text_config"];
  for (auto key : {"rope_parameters", "layer_types", "sliding_window", "query_pre_attn_scalar",
                   "head_dim", "hidden_activation", "rms_norm_eps", "vocab_size", "bos_token_id",
                   "eos_token_id", "tie_word_embeddings", "attention_bias", "max_position_embeddings"})
    EXPECT_EQ(written[key], text[key]) << key;
  EXPECT_EQ(written["architectures"], json::array({"Gemma3ForCausalLM"}));
  EXPECT_EQ(written["model_type"], "gemma3_text");
  EXPECT_EQ(written["dtype"], "bfloat16");
  EXPECT_EQ(written["torch_dtype"], "bfloat16");

  for (auto name : {"llama3", "qwen2", "qwen3"}) {
    SCOPED_TRACE(name);
    const std::string path = kConfigs + "/v5/" + name + ".json";
    io::write_model_config(dir.file("config.json"), io::read_model_config(path), DType::f32);
    written = read_json(dir.file("config.json"));
    json original = read_json(path);
    for (auto& [key, value] : original.items()) {
      if (key == "transformers_version" || key == "pad_token_id" || key == "max_window_layers")
        continue;  // not in ModelConfig (and 28 is Qwen's default whatever the layers)
      EXPECT_EQ(written[key], value) << key;
    }
    EXPECT_EQ(written["dtype"], "float32");
  }
}

TEST(ModelConfigWriter, SlidingLayersInEveryFamilyThatHasThem) {
  test::TempDir dir;
  for (Family family : {Family::qwen2, Family::qwen3, Family::gemma3, Family::mistral}) {
    SCOPED_TRACE(io::family_name(family));
    io::ModelConfig c = io::family_config(family);
    c.vocab_size = 100, c.hidden_size = 64, c.intermediate_size = 96, c.num_layers = 3;
    c.num_heads = 4, c.num_kv_heads = 2, c.head_dim = 16, c.max_position_embeddings = 512;
    c.sliding_window = 32;
    c.sliding_layers = family == Family::mistral ? std::vector<bool>{true, true, true}
                                                 : std::vector<bool>{false, true, true};
    c.rope_local_theta = family == Family::gemma3 ? 20000.0 : c.rope_local_theta;
    c.query_pre_attn_scalar = family == Family::gemma3 ? 16.0 : 0.0;
    c.bos_token_id = 7;
    c.eos_token_ids = {8, 9};
    EXPECT_EQ(test::config_differences(c, round_trip(c, dir)), std::vector<std::string>{});
    if (family != Family::gemma3) c.sliding_window.reset();  // Gemma-3's config always has one
    c.sliding_layers.assign(3, false);
    EXPECT_EQ(test::config_differences(c, round_trip(c, dir)), std::vector<std::string>{});
  }
  // Nothing else is left beside the file: it was written through a temporary and a rename.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path), {}), 1);
}

TEST(ModelConfigWriter, RefusesSlidingLayersTheFamilyCannotSay) {
  test::TempDir dir;
  io::ModelConfig c = io::read_model_config(kConfigs + "/v5/llama3.json");
  c.sliding_window = 16;
  c.sliding_layers = {true, false, false};
  auto message = test::error_message([&] { io::write_model_config(dir.file("config.json"), c); });
  EXPECT_NE(message.find("a llama config cannot have sliding-window layers"), std::string::npos)
      << message;
  c.family = Family::mistral;
  message = test::error_message([&] { io::write_model_config(dir.file("config.json"), c); });
  EXPECT_NE(message.find("slides every layer or none"), std::string::npos) << message;
  EXPECT_FALSE(std::filesystem::exists(dir.file("config.json")));
}
