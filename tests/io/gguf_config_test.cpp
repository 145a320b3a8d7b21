#include <gtest/gtest.h>

#include "io/gguf.hpp"
#include "io/gguf_config.hpp"
#include "io/gguf_export.hpp"
#include "io/gguf_names.hpp"
#include "io/model_config.hpp"
#include "support/config_fields.hpp"
#include "support/converted_gguf.hpp"
#include "support/support.hpp"

using namespace vktrain;
using io::Family;
using io::GgufValue;
using test::ConvertedGguf;

namespace {

io::ModelConfig load(const std::string& name) {
  return io::read_model_config(std::string(VKTRAIN_FIXTURES) + "/configs/" + name);
}

// GGUF has no query_pre_attn_scalar: llama.cpp uses head_dim, or C / H for 62 layers.
double llama_cpp_query_scalar(const io::ModelConfig& c) {
  return double(c.num_layers == 62 ? c.hidden_size / c.num_heads : c.head_dim);
}

io::ModelConfig small(Family family) { return test::small_gguf_config(family, 7); }

std::string read_error(const ConvertedGguf& f, const test::TempDir& dir) {
  return test::error_message([&] { f.read(dir); });
}

}  // namespace

// Every fixture config but Mistral's (GGUF calls it llama and keeps no sliding window): what the
// converter writes for it reads back as the same model; Mixtral's "llama" with experts too.
TEST(GgufConfig, ReadsBackWhatTheConverterWritesForEachFixtureConfig) {
  for (auto name : {"v5/llama3.json", "v5/qwen2.json", "v5/qwen3.json", "v5/gemma3_text.json",
                    "v5/gemma3.json", "llama-3.2-1b.json", "qwen2.5-0.5b.json", "qwen3-0.6b.json",
                    "gemma-3-1b-it.json", "gemma-3-4b-it.json", "mixtral-8x7b-v0.1.json"}) {
    SCOPED_TRACE(name);
    test::TempDir dir;
    io::ModelConfig config = load(name);
    io::ModelConfig read = test::converted_gguf(config).read(dir);
    EXPECT_EQ(read.architecture, io::causal_lm_architecture(config.family));
    EXPECT_EQ(read.weight_prefixes, std::vector<std::string>{"model."});
    if (config.family == Family::gemma3) {
      EXPECT_EQ(read.query_pre_attn_scalar, llama_cpp_query_scalar(config));
      config.query_pre_attn_scalar = llama_cpp_query_scalar(config);
    }
    // GGUF keeps no training settings: the router loss's coefficient is transformers' default.
    if (config.family == Family::mixtral) {
      EXPECT_EQ(read.moe.aux_loss_coef, 0.001);
      config.moe.aux_loss_coef = 0.001;
    }
    EXPECT_EQ(test::config_differences(config, read), std::vector<std::string>{});
  }
}

// gpt-oss-20b's config (a vocabulary of 64, so that the converted file stays small) reads back
// whole: its YaRN from the factor and original context the converter writes, the ramp the
// family's; its sliding and full layers; its experts; the SwiGLU clamp llama.cpp holds.
TEST(GgufConfig, GptOssReadsBackWithItsYarn) {
  io::ModelConfig config = load("gpt-oss-20b.json");
  config.vocab_size = 64;
  config.eos_token_ids.clear();
  config.bos_token_id.reset();
  test::TempDir dir;
  io::ModelConfig read = test::converted_gguf(config).read(dir);
  EXPECT_EQ(read.rope_scaling.type, "yarn");
  EXPECT_EQ(read.rope_scaling.factor, 32.0);
  EXPECT_EQ(read.rope_scaling.original_max_position_embeddings, 4096);
  EXPECT_FALSE(read.rope_scaling.truncate);
  EXPECT_EQ(read.moe.aux_loss_coef, 0.001);  // GGUF keeps no training settings
  config.moe.aux_loss_coef = 0.001;
  EXPECT_EQ(test::config_differences(config, read), std::vector<std::string>{});
}

TEST(GgufConfig, TheTinyGemmaFixtureHasAQueryScalarGgufCannotHold) {
  // head_dim 32 with query_pre_attn_scalar 256: llama.cpp (and so we) scale by 1/sqrt(32).
  auto config = load("v5/gemma3_text.json");
  EXPECT_EQ(config.query_pre_attn_scalar, 256);
  test::TempDir dir;
  EXPECT_EQ(test::converted_gguf(config).read(dir).query_pre_attn_scalar, 32);
}

TEST(GgufConfig, EachMissingRequiredKeyIsOneErrorNamingFileAndKey) {
  for (auto key : {"context_length", "embedding_length", "block_count", "feed_forward_length",
                   "attention.head_count", "attention.layer_norm_rms_epsilon"}) {
    SCOPED_TRACE(key);
    test::TempDir dir;
    auto f = test::converted_gguf(small(Family::qwen3));
    f.erase(key);
    auto message = read_error(f, dir);
    EXPECT_NE(message.find("[gguf] " + dir.file("model.gguf")), std::string::npos) << message;
    EXPECT_NE(message.find("'qwen3." + std::string(key) + "'"), std::string::npos) << message;
  }
  test::TempDir dir;
  auto f = test::converted_gguf(small(Family::qwen3));
  f.metadata.erase("general.architecture");
  EXPECT_NE(read_error(f, dir).find("'general.architecture'"), std::string::npos);
  f.metadata["general.architecture"] = "falcon";
  EXPECT_NE(read_error(f, dir).find("'falcon' is not supported"), std::string::npos);
}

TEST(GgufConfig, OptionalKeysTakeLlamaCppsDefaults) {
  test::TempDir dir;
  auto f = test::converted_gguf(small(Family::llama));
  f.erase("attention.head_count_kv");
  f.erase("attention.key_length");
  f.erase("rope.freq_base");
  auto c = f.read(dir);
  EXPECT_EQ(c.num_kv_heads, 4);
  EXPECT_EQ(c.head_dim, 8);  // C / H
  EXPECT_EQ(c.rope_theta, 10000.0);
  EXPECT_EQ(c.rope_scaling.type, "default");
  EXPECT_FALSE(c.bos_token_id.has_value());
  EXPECT_TRUE(c.eos_token_ids.empty());
}

TEST(GgufConfig, FloatsReadBackAsTheDecimalsTheConfigSaid) {
  test::TempDir dir;
  auto f = test::converted_gguf(small(Family::qwen2));
  f["attention.layer_norm_rms_epsilon"] = float(1e-6);
  f["rope.freq_base"] = float(1e6);
  auto c = f.read(dir);
  EXPECT_EQ(c.rms_norm_eps, 1e-6);  // not 9.99999997e-07, the f32's exact value
  EXPECT_EQ(c.rope_theta, 1e6);
  f["attention.layer_norm_rms_epsilon"] = 1e-5;  // an f64 is taken as it is
  EXPECT_EQ(f.read(dir).rms_norm_eps, 1e-5);
  f["attention.layer_norm_rms_epsilon"] = uint32_t(1);
  EXPECT_NE(read_error(f, dir).find("is a u32, expected a float"), std::string::npos);
}

TEST(GgufConfig, VocabularyFromTheEmbeddingRowsElseTheTokens) {
  test::TempDir dir;
  auto f = test::converted_gguf(small(Family::qwen3));
  EXPECT_EQ(f.read(dir).vocab_size, 64);
  // The converter pads the vocabulary to the embedding rows; where it did not, the rows decide.
  f.tensors.push_back({"token_embd.weight", {32, 80}, std::vector<float>(32 * 80, 0.0f)});
  EXPECT_EQ(f.read(dir).vocab_size, 80);
  f.tensors.back() = {"token_embd.weight", {32, 60}, std::vector<float>(32 * 60, 0.0f)};
  EXPECT_NE(read_error(f, dir).find("tokenizer.ggml.tokens has 64 tokens but token_embd.weight "
                                    "only 60 rows"),
            std::string::npos);
  f.tensors.pop_back();
  f.metadata.erase("tokenizer.ggml.tokens");
  EXPECT_NE(read_error(f, dir).find("no vocabulary size"), std::string::npos);
}

TEST(GgufConfig, EmbeddingsAreTiedWhenThereIsNoOutputWeight) {
  test::TempDir dir;
  auto c = small(Family::llama);
  c.tie_word_embeddings = true;
  EXPECT_TRUE(test::converted_gguf(c).read(dir).tie_word_embeddings);
  c.tie_word_embeddings = false;
  EXPECT_FALSE(test::converted_gguf(c).read(dir).tie_word_embeddings);
}

TEST(GgufConfig, Llama3ScalingComesFromRopeFreqsAndMustMatchIt) {
  auto c = load("llama-3.2-1b.json");
  c.vocab_size = 16;  // the rope, not the vocabulary, is under test
  c.bos_token_id.reset();
  c.eos_token_ids.clear();
  test::TempDir dir;
  auto f = test::converted_gguf(c);
  auto read = f.read(dir);
  EXPECT_EQ(read.rope_scaling.type, "llama3");
  EXPECT_EQ(read.rope_scaling.factor, 32.0);
  EXPECT_EQ(read.rope_scaling.original_max_position_embeddings, 8192);

  c.rope_scaling.factor = 8;  // Llama-3.1-8B's
  f = test::converted_gguf(c);
  EXPECT_EQ(f.read(dir).rope_scaling.factor, 8.0);
  c.rope_scaling.original_max_position_embeddings = 4096;
  f = test::converted_gguf(c);
  f["rope.scaling.original_context_length"] = uint32_t(4096);
  EXPECT_EQ(f.read(dir).rope_scaling.original_max_position_embeddings, 4096);

  c.rope_scaling.original_max_position_embeddings = 8192;
  f = test::converted_gguf(c);
  f.tensors[0].values[16] *= 1.01f;  // in the smoothed band (15 to 17 at D 64, theta 500000)
  EXPECT_NE(read_error(f, dir).find("rope_freqs.weight[16]"), std::string::npos);
  std::fill(f.tensors[0].values.begin(), f.tensors[0].values.end(), 1.0f);
  EXPECT_EQ(f.read(dir).rope_scaling.type, "default");
  f.tensors[0].values.pop_back();
  f.tensors[0].dims = {31};
  EXPECT_NE(read_error(f, dir).find("rope_freqs.weight must be 32 f32 values"), std::string::npos);
}

TEST(GgufConfig, LinearScalingAndUnsupportedTypes) {
  test::TempDir dir;
  auto f = test::converted_gguf(small(Family::llama));
  f["rope.scale_linear"] = 4.0f;  // llama.cpp's older key; the type defaults to linear
  auto c = f.read(dir);
  EXPECT_EQ(c.rope_scaling.type, "linear");
  EXPECT_EQ(c.rope_scaling.factor, 4.0);
  f["rope.scaling.type"] = "none";
  EXPECT_EQ(f.read(dir).rope_scaling.type, "default");
  f["rope.scaling.type"] = "yarn";  // llama's ramp under llama.cpp's YaRN is not transformers'
  EXPECT_NE(read_error(f, dir).find("rope scaling 'yarn' (metadata 'llama.rope.scaling.type') is not supported"),
            std::string::npos);
  // Only a family's own YaRN is written: a truncated ramp on gpt_oss would read back otherwise.
  io::ModelConfig gpt_oss = io::read_model_config(std::string(VKTRAIN_FIXTURES) +
                                                  "/configs/gpt-oss-20b.json");
  gpt_oss.rope_scaling.truncate = true;
  EXPECT_EQ(test::error_message([&] { io::gguf_model_file(gpt_oss); }),
            "[gguf] this gpt_oss model's yarn rope scaling cannot be written to GGUF (llama.cpp "
            "keeps only its factor and original context); export --format hf");
}

TEST(GgufConfig, GemmaSlidingLayersLocalRopeAndQueryScale) {
  auto c = small(Family::gemma3);
  c.sliding_window = 16;
  c.sliding_layers = {true, true, true, true, true, false, true};  // llama.cpp's default: no key
  c.rope_theta = 1e6;
  test::TempDir dir;
  auto f = test::converted_gguf(c);
  f.erase("rope.freq_base_swa");
  auto read = f.read(dir);
  EXPECT_EQ(read.sliding_window, 16);
  EXPECT_EQ(read.sliding_layers, (std::vector<bool>{true, true, true, true, true, false, true}));
  EXPECT_EQ(read.rope_local_theta, 10000.0);
  EXPECT_EQ(read.query_pre_attn_scalar, 8.0);  // head_dim
  EXPECT_TRUE(read.norm_plus_one && read.sandwich_norms && read.embed_scale && read.qk_norm);
  EXPECT_EQ(read.activation, "gelu_pytorch_tanh");

  f["attention.sliding_window_pattern"] = uint32_t(3);
  EXPECT_EQ(f.read(dir).sliding_layers,
            (std::vector<bool>{true, true, false, true, true, false, true}));
  f["attention.sliding_window_pattern"] =
      io::gguf_array(std::vector<bool>{false, true, false, true, false, true, false});
  EXPECT_EQ(f.read(dir).sliding_layers,
            (std::vector<bool>{false, true, false, true, false, true, false}));
  f["attention.sliding_window_pattern"] = io::gguf_array(std::vector<bool>{true, false});
  EXPECT_NE(read_error(f, dir).find("has 2 entries for 7 layers"), std::string::npos);

  f.erase("attention.sliding_window_pattern");
  f.erase("attention.sliding_window");
  read = f.read(dir);
  EXPECT_FALSE(read.sliding_window.has_value());
  EXPECT_EQ(read.sliding_layers, std::vector<bool>(7, false));

  // The 27B model (62 layers) scales by C / H, as in llama.cpp and gemma_pytorch.
  f["block_count"] = uint32_t(62);
  EXPECT_EQ(f.read(dir).query_pre_attn_scalar, 8.0);  // 32 / 4 here
  f["embedding_length"] = uint32_t(64);
  EXPECT_EQ(f.read(dir).query_pre_attn_scalar, 16.0);
}

TEST(GgufConfig, EndOfTurnJoinsTheEosIds) {
  auto c = small(Family::gemma3);
  c.bos_token_id = 2;
  c.eos_token_ids = {1, 50};
  test::TempDir dir;
  auto f = test::converted_gguf(c);
  EXPECT_EQ(f.read(dir).eos_token_ids, (std::vector<int64_t>{1, 50}));
  f.metadata["tokenizer.ggml.eot_token_id"] = uint32_t(1);  // the same id once
  EXPECT_EQ(f.read(dir).eos_token_ids, std::vector<int64_t>{1});
  EXPECT_EQ(f.read(dir).bos_token_id, 2);
}

TEST(GgufConfig, SizesMustBeUsable) {
  test::TempDir dir;
  auto f = test::converted_gguf(small(Family::qwen3));
  f["attention.head_count_kv"] = uint32_t(3);
  EXPECT_NE(read_error(f, dir).find("'qwen3.attention.head_count' 4 is not a multiple"),
            std::string::npos);
  f["attention.head_count_kv"] = uint32_t(0);
  EXPECT_NE(read_error(f, dir).find("'qwen3.attention.head_count_kv' = 0 is out of range (1..4)"),
            std::string::npos);
}

// Issue 14: the GGUF twins of config.json's fields are range-checked like them.
TEST(GgufConfig, EveryKeyIsRangeCheckedNamingIt) {
  test::TempDir dir;
  auto expect = [&](const char* key, GgufValue value, const std::string& needle) {
    auto f = test::converted_gguf(small(Family::gemma3));
    f[key] = value;
    auto message = read_error(f, dir);
    EXPECT_NE(message.find(needle), std::string::npos) << key << ": " << message;
    EXPECT_NE(message.find("model.gguf"), std::string::npos) << message;
  };
  expect("block_count", uint32_t(1000000000),
         "'gemma3.block_count' = 1000000000 is out of range (1..1024)");
  expect("embedding_length", uint64_t(1) << 40, "'gemma3.embedding_length' = 1099511627776");
  expect("attention.key_length", uint32_t(7), "head dimension 7");
  expect("attention.layer_norm_rms_epsilon", -1.0f, "'gemma3.attention.layer_norm_rms_epsilon' = -1");
  expect("rope.freq_base", 0.0f, "'gemma3.rope.freq_base' = 0 is out of range");
  expect("attention.sliding_window", uint64_t(1) << 40, "'gemma3.attention.sliding_window' = ");
}
