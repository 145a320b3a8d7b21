#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "data/model_text.hpp"
#include "data/tokenizer_gguf_export.hpp"
#include "io/gguf.hpp"
#include "support/support.hpp"

using namespace vktrain;
using nlohmann::json;

namespace model_text_test {
namespace {

json read_json(const std::string& path) {
  std::ifstream in(path);
  return json::parse(in);
}

// A GGUF file holding Qwen3's tokenizer the way llama.cpp's converter stores it
// (data::gguf_tokenizer_metadata: tokens by id, token types, merges "a b", pre-tokenizer "qwen2",
// the chat template), with eos and padding ids as the converter takes them from
// tokenizer_config.json.
void write_qwen3_gguf(const std::string& path) {
  io::ModelConfig config = io::family_config(io::Family::qwen3);
  config.vocab_size = 151669;  // the tokenizer's ids, no padding rows
  auto metadata = data::gguf_tokenizer_metadata(
      io::ModelSource(std::string(VKTRAIN_TOKENIZERS) + "/qwen3"), config);
  metadata["general.architecture"] = std::string("qwen3");
  metadata["tokenizer.ggml.eos_token_id"] = uint32_t(151645);
  metadata["tokenizer.ggml.padding_token_id"] = uint32_t(151643);
  io::write_gguf(path, {}, metadata);
}

}  // namespace

TEST(ModelText, GgufVocabularyEncodesLikeTheReference) {
  test::TempDir dir;
  std::string gguf = dir.file("qwen3-tokenizer.gguf");
  write_qwen3_gguf(gguf);
  auto [tokenizer, chat] = data::load_model_text(io::ModelSource(gguf));
  json fixture = read_json(std::string(VKTRAIN_FIXTURES) + "/tokenizers/qwen3.json");
  for (const auto& c : fixture["cases"]) {
    // As llama.cpp, a GGUF vocabulary does not apply Qwen's NFC (tokenizer_gguf_test.cpp).
    if (c["text"].get<std::string>().starts_with("e\xCC\x81")) continue;
    auto want = c["ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(tokenizer.encode(c["text"].get<std::string>()), want) << c["text"];
  }
  EXPECT_EQ(tokenizer.eos_id(), 151645);
  EXPECT_EQ(data::load_tokenizer(io::ModelSource(gguf)).encode("Hello, world!"),
            (std::vector<int32_t>{9707, 11, 1879, 0}));

  // The chat template stored in the file renders as transformers renders it.
  json renders = read_json(std::string(VKTRAIN_FIXTURES) + "/chat_templates/qwen3.json");
  const auto& first = renders["renders"][0];
  std::vector<data::ChatMessage> messages;
  for (const auto& m : first["messages"])
    messages.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
  EXPECT_EQ(chat.render(messages), first["rendered"].get<std::string>());
}

TEST(ModelText, DirectoryAndErrors) {
  const io::ModelSource qwen3(std::string(VKTRAIN_TOKENIZERS) + "/qwen3");
  EXPECT_EQ(data::load_tokenizer(qwen3).encode("Hello, world!"),
            (std::vector<int32_t>{9707, 11, 1879, 0}));
  EXPECT_EQ(test::error_message([] { io::ModelSource("/nonexistent/model"); }),
            "[model] /nonexistent/model is neither a Hugging Face model directory nor a GGUF file");
  test::TempDir dir;
  io::write_gguf(dir.file("empty.gguf"), {}, {{"general.architecture", std::string("llama")}});
  const io::ModelSource empty(dir.file("empty.gguf"));
  EXPECT_NE(test::error_message([&] { data::load_tokenizer(empty); })
                .find("tokenizer.ggml.model is missing"),
            std::string::npos);
}

// A GGUF file is told by its magic, never its name: the weights went by the magic and the text
// side by the ".gguf" extension, so a GGUF without it was a model to one and no tokenizer to the
// other.
TEST(ModelText, GgufWithoutTheExtensionIsAGguf) {
  test::TempDir dir;
  const std::string gguf = dir.file("qwen3-tokenizer");
  write_qwen3_gguf(gguf);
  const io::ModelSource source(gguf);
  EXPECT_TRUE(source.is_gguf());
  auto [tokenizer, chat] = data::load_model_text(source);
  EXPECT_EQ(tokenizer.encode("Hello, world!"), (std::vector<int32_t>{9707, 11, 1879, 0}));
  EXPECT_EQ(tokenizer.eos_id(), 151645);
  EXPECT_NE(chat.render({{"user", "hi"}}).find("<|im_start|>user\nhi<|im_end|>"), std::string::npos);
}

}  // namespace model_text_test
