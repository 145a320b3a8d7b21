// vktrain's tokenizer over GGUF vocabularies against the ids llama.cpp gives the same
// vocabularies (tests/fixtures/tokenizers/llama_cpp.json, written by make_llama_cpp_fixtures.py
// next to it), and the GGUF vocabularies vktrain exports against the tokenizer.json they come
// from. The GGUF files are written here from the real tokenizers in .downloads/tokenizers by the
// export code (data::gguf_tokenizer_metadata); the fixture script checked that llama.cpp gives
// those files the ids it gives the files llama.cpp's converter code writes.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "data/model_text.hpp"
#include "data/tokenizer_gguf_export.hpp"
#include "data/unicode.hpp"
#include "io/gguf.hpp"
#include "support/support.hpp"

using namespace vktrain;
using nlohmann::json;

namespace {

json tokenizer_fixture(const std::string& name) {
  return json::parse(std::ifstream(std::string(VKTRAIN_FIXTURES) + "/tokenizers/" + name + ".json"));
}

std::string text_of(const json& c) {
  if (c.contains("text")) return c["text"].get<std::string>();
  std::string hex = c["hex"].get<std::string>(), bytes;  // invalid UTF-8, which JSON cannot hold
  for (size_t i = 0; i + 1 < hex.size(); i += 2) bytes += char(std::stoi(hex.substr(i, 2), nullptr, 16));
  return bytes;
}

// The tokenizer.* keys vktrain exports for a tokenizer directory, with the bos/eos ids the model
// export adds from the model's config.
std::map<std::string, io::GgufValue> exported_vocabulary(const std::string& name, io::Family family,
                                                         int64_t rows) {
  io::ModelConfig config = io::family_config(family);
  config.vocab_size = rows;
  auto metadata = data::gguf_tokenizer_metadata(
      io::ModelSource(std::string(VKTRAIN_TOKENIZERS) + "/" + name), config);
  metadata["general.architecture"] = std::string(io::family_name(family));
  if (family == io::Family::gemma3) {
    metadata["tokenizer.ggml.bos_token_id"] = uint32_t(2);
    metadata["tokenizer.ggml.eos_token_id"] = uint32_t(106);
  } else {
    metadata["tokenizer.ggml.eos_token_id"] = uint32_t(151645);
  }
  return metadata;
}

data::Tokenizer load(const std::map<std::string, io::GgufValue>& metadata, test::TempDir& dir) {
  const std::string path = dir.file("vocab.gguf");
  io::write_gguf(path, {}, metadata);
  return data::load_tokenizer(io::ModelSource(path));
}

void expect_llama_cpp_ids(const data::Tokenizer& tokenizer, const std::string& vocabulary) {
  const json cases = tokenizer_fixture("llama_cpp")["vocabularies"][vocabulary];
  ASSERT_GT(cases.size(), 40u);
  for (const auto& c : cases) {
    const std::string text = text_of(c);
    SCOPED_TRACE(testing::Message() << vocabulary << " text: " << c.dump());
    EXPECT_EQ(tokenizer.encode(text), c["ids"].get<std::vector<int32_t>>());
    EXPECT_EQ(tokenizer.encode(text, true), c["ids_with_special"].get<std::vector<int32_t>>());
  }
}

}  // namespace

TEST(TokenizerGgufLlamaCpp, Gemma3SentencePieceWithoutSpacePrefix) {
  test::TempDir dir;
  auto metadata = exported_vocabulary("gemma3", io::Family::gemma3, 262144);
  ASSERT_FALSE(metadata.at("tokenizer.ggml.add_space_prefix").as<bool>());
  expect_llama_cpp_ids(load(metadata, dir), "gemma3");
}

TEST(TokenizerGgufLlamaCpp, SentencePieceWithSpacePrefix) {
  // Without the key llama.cpp puts a space before the text, as for Llama 2 and Mistral.
  test::TempDir dir;
  auto metadata = exported_vocabulary("gemma3", io::Family::gemma3, 262144);
  metadata.erase("tokenizer.ggml.add_space_prefix");
  expect_llama_cpp_ids(load(metadata, dir), "gemma3_space_prefix");
}

TEST(TokenizerGgufLlamaCpp, Qwen3ByteLevelBpe) {
  test::TempDir dir;
  expect_llama_cpp_ids(load(exported_vocabulary("qwen3", io::Family::qwen3, 151669), dir), "qwen3");
}

// What export writes, read back by vktrain, tokenizes as the tokenizer.json it came from.
TEST(TokenizerGgufExport, RoundTripsTheTokenizerJsonIds) {
  for (auto [name, family, rows] : {std::tuple{"gemma3", io::Family::gemma3, 262208},
                                    std::tuple{"qwen3", io::Family::qwen3, 151936}}) {
    test::TempDir dir;
    auto tokenizer = load(exported_vocabulary(name, family, rows), dir);
    auto reference =
        data::load_tokenizer(io::ModelSource(std::string(VKTRAIN_TOKENIZERS) + "/" + name));
    const json cases = tokenizer_fixture(name)["cases"];
    ASSERT_GT(cases.size(), 30u);
    for (const auto& c : cases) {
      const std::string text = c["text"].get<std::string>();
      // llama.cpp does not apply the NFC of Qwen's tokenizer.json (Qwen3ByteLevelBpe above).
      if (data::normalize_unicode(text, data::NormalForm::nfc) != text) continue;
      SCOPED_TRACE(testing::Message() << name << " text: " << json(text).dump());
      EXPECT_EQ(tokenizer.encode(text), c["ids"].get<std::vector<int32_t>>());
      EXPECT_EQ(tokenizer.decode(c["ids"].get<std::vector<int32_t>>()), reference.decode(c["ids"].get<std::vector<int32_t>>()));
    }
    EXPECT_EQ(tokenizer.vocab_size(), size_t(rows));
  }
}
