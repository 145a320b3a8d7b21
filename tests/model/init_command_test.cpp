// `vktrain init` end to end through run_init: what it writes loads as a Hugging Face directory.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "base/dtype.hpp"
#include "cli/init.hpp"
#include "io/checkpoint.hpp"
#include "io/model_config.hpp"
#include "model/init.hpp"
#include "model/layout.hpp"
#include "model/presets.hpp"
#include "support/config_fields.hpp"
#include "support/support.hpp"

using namespace vktrain;
namespace fs = std::filesystem;

namespace {

std::vector<float> stored_floats(const io::Checkpoint& checkpoint, const std::string& name) {
  const auto& entry = checkpoint.entry(name);
  auto bytes = checkpoint.data(name);
  std::vector<float> values;
  for (size_t at = 0; at < bytes.size(); at += entry.dtype == "F32" ? 4 : 2) {
    if (entry.dtype == "F32") {
      float f;
      std::memcpy(&f, bytes.data() + at, 4);
      values.push_back(f);
    } else {
      uint16_t h;
      std::memcpy(&h, bytes.data() + at, 2);
      values.push_back(entry.dtype == "BF16" ? bf16_to_f32(h) : f16_to_f32(h));
    }
  }
  return values;
}

// Runs `vktrain init` quietly; returns what it printed.
std::string init(const cli::InitOptions& options) {
  testing::internal::CaptureStdout();
  try {
    cli::run_init(options);
  } catch (...) {
    testing::internal::GetCapturedStdout();
    throw;
  }
  return testing::internal::GetCapturedStdout();
}

std::string init_error(const cli::InitOptions& options) {
  return test::error_message([&] { init(options); });
}

}  // namespace

TEST(InitCommand, TinyModelsOfEveryFamilyLoadAsHuggingFaceDirectories) {
  for (auto [family, dtype] : {std::pair{"qwen3", "f32"}, std::pair{"qwen2", "bf16"},
                               std::pair{"llama", "f16"}, std::pair{"gemma3", "bf16"}}) {
    SCOPED_TRACE(family);
    test::TempDir dir;
    const std::string out = dir.file("model");
    auto printed = init({.family = family, .size = "tiny", .out = out, .seed = 5, .dtype = dtype,
                         .vocab = 1000});
    auto expected = model::model_preset(family, "tiny");
    expected.vocab_size = 1000;
    EXPECT_EQ(printed.find(fmt::format("init: {} tiny, ", family)), 0u) << printed;
    EXPECT_NE(printed.find("-> " + out), std::string::npos) << printed;
    EXPECT_EQ(std::count(printed.begin(), printed.end(), '\n'), 1);

    auto config = io::read_model_config(out + "/config.json");
    EXPECT_EQ(test::config_differences(expected, config), std::vector<std::string>{});
    io::Checkpoint checkpoint(out);
    const auto specs = model::base_parameters(config);
    EXPECT_EQ(checkpoint.names().size(), specs.size());
    const DType type = dtype_from_name(dtype);
    for (const auto& spec : specs) {
      const auto& entry = checkpoint.entry(spec.name);
      EXPECT_EQ(entry.shape, spec.shape) << spec.name;
      EXPECT_EQ(entry.dtype, type == DType::f32 ? "F32" : type == DType::f16 ? "F16" : "BF16");
      auto values = model::initial_values(config, spec, 5);
      for (float& v : values) v = round_to(type, v);
      ASSERT_EQ(stored_floats(checkpoint, spec.name), values) << spec.name;
    }
    EXPECT_EQ(std::distance(fs::directory_iterator(dir.path), {}), 1);  // no staging left
  }
}

TEST(InitCommand, TheVocabularyFollowsTheTokenizer) {
  const std::string tokenizer = std::string(VKTRAIN_TOKENIZERS) + "/qwen3";
  if (!fs::exists(tokenizer + "/tokenizer.json")) GTEST_SKIP() << "run scripts/setup for " << tokenizer;
  test::TempDir dir;
  init({.family = "qwen3", .size = "tiny", .out = dir.file("a"), .tokenizer = tokenizer});
  auto config = io::read_model_config(dir.file("a/config.json"));
  EXPECT_EQ(config.vocab_size, 151680);  // 151643 + 26 added ids, rounded up to 64
  EXPECT_EQ(config.eos_token_ids, std::vector<int64_t>{151645});  // <|im_end|>, its eos_token
  EXPECT_FALSE(config.bos_token_id.has_value());                  // Qwen's tokenizer names none
  for (auto name : {"tokenizer.json", "tokenizer_config.json"})
    EXPECT_TRUE(fs::exists(dir.file("a/") + name)) << name;

  init({.family = "qwen3", .size = "tiny", .out = dir.file("b"), .dtype = "f16",
        .tokenizer = tokenizer, .vocab = 151936});  // Qwen's own padding
  EXPECT_EQ(io::read_model_config(dir.file("b/config.json")).vocab_size, 151936);

  auto message = init_error(
      {.family = "qwen3", .size = "tiny", .out = dir.file("c"), .tokenizer = tokenizer, .vocab = 1000});
  EXPECT_NE(message.find("--vocab 1000 is fewer than the 151669 token ids"), std::string::npos)
      << message;
  EXPECT_FALSE(fs::exists(dir.file("c")));
}

TEST(InitCommand, NeverOverwritesAndLeavesNothingHalfWritten) {
  test::TempDir dir;
  const cli::InitOptions options{.family = "qwen3", .size = "tiny", .out = dir.file("m"), .vocab = 100};
  fs::create_directories(dir.file("m"));  // an empty directory is taken
  init(options);
  auto message = init_error(options);
  EXPECT_NE(message.find("[init] --out " + dir.file("m") + " is not empty"), std::string::npos)
      << message;
  dir.write("file", "x");
  auto to_file = options;
  to_file.out = dir.file("file");
  EXPECT_NE(init_error(to_file).find("is a file"), std::string::npos);

  auto bad = options;
  bad.out = dir.file("n/");
  bad.dtype = "i32";
  EXPECT_NE(init_error(bad).find("[init] --dtype 'i32' is not a weight type"), std::string::npos);
  bad.dtype = "bf16";
  bad.vocab = 0;
  EXPECT_NE(init_error(bad).find("--vocab must be positive"), std::string::npos);
  bad.vocab.reset();
  init(bad);  // "n/" names the directory n
  EXPECT_TRUE(fs::exists(dir.file("n/model.safetensors")));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path), {}), 3);  // m, file, n
}
