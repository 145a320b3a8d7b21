#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "io/gguf.hpp"
#include "io/gguf_config.hpp"
#include "io/gguf_names.hpp"
#include "io/model_config.hpp"
#include "support/config_fields.hpp"
#include "support/support.hpp"

using namespace vktrain;
using io::Family;
using io::GgufValue;

namespace {

io::ModelConfig load(const std::string& name) {
  return io::read_model_config(std::string(VKTRAIN_FIXTURES) + "/configs/" + name);
}

// LlamaModel.generate_extra_tensors' rope_freqs.weight, in f32 as torch computes it.
std::vector<float> converter_rope_freqs(const io::ModelConfig& c) {
  const auto& s = c.rope_scaling;
  const float context = float(s.original_max_position_embeddings);
  const float low = float(s.low_freq_factor), high = float(s.high_freq_factor);
  const float factor = float(s.factor);
  std::vector<float> out;
  for (int64_t i = 0; i < c.head_dim / 2; ++i) {
    float freq = 1.0f / std::pow(float(c.rope_theta), float(2 * i) / float(c.head_dim));
    float wavelen = float(2 * std::numbers::pi) / freq;
    if (wavelen < context / high) {
      out.push_back(1.0f);
    } else if (wavelen > context / low) {
      out.push_back(factor);
    } else {
      float smooth = (context / wavelen - low) / (high - low);
      out.push_back(1.0f / ((1 - smooth) / factor + smooth));
    }
  }
  return out;
}

// A GGUF file as llama.cpp's convert_hf_to_gguf.py writes one for a config: the keys of
// TextModel.set_gguf_parameters and Gemma3Model's, counts as u32 and floats as f32,
// tokenizer.ggml.tokens, and of the tensors only those that carry config: output.weight when
// the embeddings are untied and, for Llama 3 scaling, rope_freqs.weight.
struct ConvertedFile {
  std::string arch;
  std::map<std::string, GgufValue> metadata;
  struct Tensor {
    std::string name;
    std::vector<uint64_t> dims;  // ggml order
    std::vector<float> values;
  };
  std::vector<Tensor> tensors;

  GgufValue& operator[](const std::string& suffix) { return metadata[arch + "." + suffix]; }
  void erase(const std::string& suffix) { metadata.erase(arch + "." + suffix); }
  std::string write(const std::string& path) const {
    std::vector<io::GgufTensor> list;
    for (const auto& t : tensors)
      list.push_back({t.name, io::GgmlType::f32, t.dims, std::as_bytes(std::span(t.values))});
    io::write_gguf(path, list, metadata);
    return path;
  }
  io::ModelConfig read(const test::TempDir& dir) const {
    io::GgufReader reader(write(dir.file("model.gguf")));
    return io::model_config_from_gguf(reader);
  }
};

ConvertedFile converted(const io::ModelConfig& c) {
  ConvertedFile f;
  f.arch = std::string(io::gguf_architecture(c.family));
  f.metadata["general.architecture"] = f.arch;
  f["block_count"] = uint32_t(c.num_layers);
  f["context_length"] = uint32_t(c.max_position_embeddings);
  f["embedding_length"] = uint32_t(c.hidden_size);
  f["feed_forward_length"] = uint32_t(c.intermediate_size);
  f["attention.head_count"] = uint32_t(c.num_heads);
  f["attention.head_count_kv"] = uint32_t(c.num_kv_heads);
  f["attention.key_length"] = uint32_t(c.head_dim);
  f["attention.value_length"] = uint32_t(c.head_dim);
  f["attention.layer_norm_rms_epsilon"] = float(c.rms_norm_eps);
  f["rope.freq_base"] = float(c.rope_theta);
  if (c.rope_scaling.type == "linear") {
    f["rope.scaling.type"] = "linear";
    f["rope.scaling.factor"] = float(c.rope_scaling.factor);
  }
  if (c.rope_scaling.type == "llama3")
    f.tensors.push_back({"rope_freqs.weight", {uint64_t(c.head_dim / 2)}, converter_rope_freqs(c)});
  if (c.family == Family::gemma3) {
    f["rope.freq_base_swa"] = float(c.rope_local_theta);
    if (c.sliding_window) f["attention.sliding_window"] = uint32_t(*c.sliding_window);
  }
  std::vector<std::string> tokens;
  for (int64_t i = 0; i < c.vocab_size; ++i) tokens.push_back(fmt::format("t{}", i));
  f.metadata["tokenizer.ggml.model"] = "gpt2";
  f.metadata["tokenizer.ggml.tokens"] = io::gguf_array(tokens);
  if (c.bos_token_id) f.metadata["tokenizer.ggml.bos_token_id"] = uint32_t(*c.bos_token_id);
  if (c.eos_token_ids.size() > 0) f.metadata["tokenizer.ggml.eos_token_id"] = uint32_t(c.eos_token_ids[0]);
  if (c.eos_token_ids.size() > 1) f.metadata["tokenizer.ggml.eot_token_id"] = uint32_t(c.eos_token_ids[1]);
  if (!c.tie_word_embeddings)
    f.tensors.push_back({"output.weight", {uint64_t(c.hidden_size), uint64_t(c.vocab_size)},
                         std::vector<float>(size_t(c.hidden_size * c.vocab_size), 0.01f)});
  return f;
}

// GGUF has no query_pre_attn_scalar: llama.cpp uses head_dim, or C / H for 62 layers.
double llama_cpp_query_scalar(const io::ModelConfig& c) {
  return double(c.num_layers == 62 ? c.hidden_size / c.num_heads : c.head_dim);
}

io::ModelConfig small(Family family) {
  io::ModelConfig c = io::family_config(family);
  c.vocab_size = 64;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_layers = 7;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 8;
  c.max_position_embeddings = 256;
  c.sliding_layers.assign(7, false);
  return c;
}

std::string read_error(const ConvertedFile& f, const test::TempDir& dir) {
  return test::error_message([&] { f.read(dir); });
}

}  // namespace

// Every fixture config but Mistral's (GGUF calls it llama and keeps no sliding window): what the
// converter writes for it reads back as the same model.
TEST(GgufConfig, ReadsBackWhatTheConverterWritesForEachFixtureConfig) {
  for (auto name : {"v5/llama3.json", "v5/qwen2.json", "v5/qwen3.json", "v5/gemma3_text.json",
                    "v5/gemma3.json", "llama-3.2-1b.json", "qwen2.5-0.5b.json", "qwen3-0.6b.json",
                    "gemma-3-1b-it.json", "gemma-3-4b-it.json"}) {
    SCOPED_TRACE(name);
    test::TempDir dir;
    io::ModelConfig config = load(name);
    io::ModelConfig read = converted(config).read(dir);
    EXPECT_EQ(read.architecture, io::causal_lm_architecture(config.family));
    EXPECT_EQ(read.weight_prefixes, std::vector<std::string>{"model."});
    if (config.family == Family::gemma3) {
      EXPECT_EQ(read.query_pre_attn_scalar, llama_cpp_query_scalar(config));
      config.query_pre_attn_scalar = llama_cpp_query_scalar(config);
    }
    EXPECT_EQ(test::config_differences(config, read), std::vector<std::string>{});
  }
}

TEST(GgufConfig, TheTinyGemmaFixtureHasAQueryScalarGgufCannotHold) {
  // head_dim 32 with query_pre_attn_scalar 256: llama.cpp (and so we) scale by 1/sqrt(32).
  auto config = load("v5/gemma3_text.json");
  EXPECT_EQ(config.query_pre_attn_scalar, 256);
  test::TempDir dir;
  EXPECT_EQ(converted(config).read(dir).query_pre_attn_scalar, 32);
}

TEST(GgufConfig, EachMissingRequiredKeyIsOneErrorNamingFileAndKey) {
  for (auto key : {"context_length", "embedding_length", "block_count", "feed_forward_length",
                   "attention.head_count", "attention.layer_norm_rms_epsilon"}) {
    SCOPED_TRACE(key);
    test::TempDir dir;
    auto f = converted(small(Family::qwen3));
    f.erase(key);
    auto message = read_error(f, dir);
    EXPECT_NE(message.find("[gguf] " + dir.file("model.gguf")), std::string::npos) << message;
    EXPECT_NE(message.find("'qwen3." + std::string(key) + "'"), std::string::npos) << message;
  }
  test::TempDir dir;
  auto f = converted(small(Family::qwen3));
  f.metadata.erase("general.architecture");
  EXPECT_NE(read_error(f, dir).find("'general.architecture'"), std::string::npos);
  f.metadata["general.architecture"] = "falcon";
  EXPECT_NE(read_error(f, dir).find("'falcon' is not supported"), std::string::npos);
}

TEST(GgufConfig, OptionalKeysTakeLlamaCppsDefaults) {
  test::TempDir dir;
  auto f = converted(small(Family::llama));
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
  auto f = converted(small(Family::qwen2));
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
  auto f = converted(small(Family::qwen3));
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
  EXPECT_TRUE(converted(c).read(dir).tie_word_embeddings);
  c.tie_word_embeddings = false;
  EXPECT_FALSE(converted(c).read(dir).tie_word_embeddings);
}

TEST(GgufConfig, Llama3ScalingComesFromRopeFreqsAndMustMatchIt) {
  auto c = load("llama-3.2-1b.json");
  c.vocab_size = 16;  // the rope, not the vocabulary, is under test
  c.bos_token_id.reset();
  c.eos_token_ids.clear();
  test::TempDir dir;
  auto f = converted(c);
  auto read = f.read(dir);
  EXPECT_EQ(read.rope_scaling.type, "llama3");
  EXPECT_EQ(read.rope_scaling.factor, 32.0);
  EXPECT_EQ(read.rope_scaling.original_max_position_embeddings, 8192);

  c.rope_scaling.factor = 8;  // Llama-3.1-8B's
  f = converted(c);
  EXPECT_EQ(f.read(dir).rope_scaling.factor, 8.0);
  c.rope_scaling.original_max_position_embeddings = 4096;
  f = converted(c);
  f["rope.scaling.original_context_length"] = uint32_t(4096);
  EXPECT_EQ(f.read(dir).rope_scaling.original_max_position_embeddings, 4096);

  c.rope_scaling.original_max_position_embeddings = 8192;
  f = converted(c);
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
  auto f = converted(small(Family::llama));
  f["rope.scale_linear"] = 4.0f;  // llama.cpp's older key; the type defaults to linear
  auto c = f.read(dir);
  EXPECT_EQ(c.rope_scaling.type, "linear");
  EXPECT_EQ(c.rope_scaling.factor, 4.0);
  f["rope.scaling.type"] = "none";
  EXPECT_EQ(f.read(dir).rope_scaling.type, "default");
  f["rope.scaling.type"] = "yarn";
  EXPECT_NE(read_error(f, dir).find("rope scaling 'yarn' (metadata 'llama.rope.scaling.type') is not supported"),
            std::string::npos);
}

TEST(GgufConfig, GemmaSlidingLayersLocalRopeAndQueryScale) {
  auto c = small(Family::gemma3);
  c.sliding_window = 16;
  c.rope_theta = 1e6;
  test::TempDir dir;
  auto f = converted(c);
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
  auto f = converted(c);
  EXPECT_EQ(f.read(dir).eos_token_ids, (std::vector<int64_t>{1, 50}));
  f.metadata["tokenizer.ggml.eot_token_id"] = uint32_t(1);  // the same id once
  EXPECT_EQ(f.read(dir).eos_token_ids, std::vector<int64_t>{1});
  EXPECT_EQ(f.read(dir).bos_token_id, 2);
}

TEST(GgufConfig, SizesMustBeUsable) {
  test::TempDir dir;
  auto f = converted(small(Family::qwen3));
  f["attention.head_count_kv"] = uint32_t(3);
  EXPECT_NE(read_error(f, dir).find("'qwen3.attention.head_count' 4 is not a multiple"),
            std::string::npos);
  f["attention.head_count_kv"] = uint32_t(0);
  EXPECT_NE(read_error(f, dir).find("'qwen3.attention.head_count_kv' is 0"), std::string::npos);
}
