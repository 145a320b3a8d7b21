#include "data/tokenizer.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/support.hpp"

using namespace vktrain;
using data::Tokenizer;
namespace fs = std::filesystem;

namespace tokenizer_test {
namespace {

struct Case {
  std::string text;
  std::vector<int32_t> ids, ids_with_special;
  std::string decoded;
};

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return nlohmann::json::parse(s.str());
}

std::vector<Case> fixture_cases(const std::string& name) {
  std::vector<Case> cases;
  // Named: a range-for over a member of a temporary reads a destroyed object (no cases at all).
  const auto fixture = read_json(std::string(VKTRAIN_FIXTURES) + "/tokenizers/" + name + ".json");
  for (const auto& c : fixture["cases"])
    cases.push_back({c["text"], c["ids"], c["ids_with_special"], c["decoded"]});
  return cases;
}

std::string tokenizer_dir(const std::string& name) {
  return std::string(VKTRAIN_TOKENIZERS) + "/" + name;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Every fixture case: ids with and without special tokens, the reference decode, and
// decode(encode(text)) giving the reference decode back.
void expect_fixture(const Tokenizer& tokenizer, const std::vector<Case>& cases) {
  for (const auto& c : cases) {
    SCOPED_TRACE(testing::Message() << "text: " << nlohmann::json(c.text).dump());
    auto ids = tokenizer.encode(c.text);
    EXPECT_EQ(ids, c.ids);
    EXPECT_EQ(tokenizer.encode(c.text, true), c.ids_with_special);
    EXPECT_EQ(tokenizer.decode(c.ids), c.decoded);
    EXPECT_EQ(tokenizer.decode(ids), c.decoded);
  }
}

// A text of `bytes` bytes in many scripts, without any added-token spelling in it.
std::string long_text(size_t bytes) {
  std::string text;
  const char* parts[] = {"The quick brown fox jumps over the lazy dog. ", "Grüße aus München! ",
                         "你好，世界。", "  indented\tcode(x) { return x * 2; }\n", "1234567890 "};
  for (size_t i = 0; text.size() < bytes; ++i) text += parts[i % 5];
  return text;
}

Tokenizer load_timed(const std::string& name) {
  auto start = std::chrono::steady_clock::now();
  auto tokenizer = Tokenizer::from_directory(tokenizer_dir(name));
  std::printf("%s load: %.2f s\n", name.c_str(), seconds_since(start));
  return tokenizer;
}

// A 1 MiB text encodes in well under a second and decodes back.
void expect_long_text_round_trip(const Tokenizer& tokenizer, const std::string& name) {
  std::string text = long_text(1 << 20);
  auto start = std::chrono::steady_clock::now();
  auto ids = tokenizer.encode(text);
  std::printf("%s encode: %zu bytes -> %zu tokens in %.3f s\n", name.c_str(), text.size(),
              ids.size(), seconds_since(start));
  EXPECT_EQ(tokenizer.decode(ids), text);
}

}  // namespace

TEST(TokenizerQwen3, MatchesReferenceIdsAndDecodes) {
  auto tokenizer = load_timed("qwen3");
  expect_fixture(tokenizer, fixture_cases("qwen3"));

  EXPECT_EQ(tokenizer.vocab_size(), 151669u);
  EXPECT_EQ(tokenizer.token_id("<|im_start|>"), 151644);
  EXPECT_EQ(tokenizer.eos_id(), 151645);  // <|im_end|>, from tokenizer_config.json
  EXPECT_EQ(tokenizer.pad_id(), 151643);
  EXPECT_EQ(tokenizer.bos_id(), std::nullopt);
  EXPECT_TRUE(tokenizer.is_special(151644));
  EXPECT_FALSE(tokenizer.is_special(tokenizer.token_id("<think>").value()));
  EXPECT_EQ(tokenizer.piece(151644), "<|im_start|>");
  // Special tokens inside text are single ids, and skip_special_tokens drops them.
  auto ids = tokenizer.encode("a<|im_start|>b<|im_end|>");
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 151644), 1);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 151645), 1);
  EXPECT_EQ(ids.size(), 4u);
  EXPECT_EQ(tokenizer.decode(ids, true), "ab");
  // Invalid UTF-8 reads as U+FFFD rather than failing.
  EXPECT_EQ(tokenizer.decode(tokenizer.encode("a\xff" "b")), "a\xEF\xBF\xBD" "b");
  expect_long_text_round_trip(tokenizer, "qwen3");
}

TEST(TokenizerGemma3, MatchesReferenceIdsAndDecodes) {
  auto tokenizer = load_timed("gemma3");
  expect_fixture(tokenizer, fixture_cases("gemma3"));

  EXPECT_EQ(tokenizer.vocab_size(), 262145u);
  EXPECT_EQ(tokenizer.bos_id(), 2);
  EXPECT_EQ(tokenizer.eos_id(), tokenizer.token_id("<end_of_turn>"));
  EXPECT_EQ(tokenizer.pad_id(), 0);
  EXPECT_EQ(tokenizer.encode("", true), std::vector<int32_t>{2});
  auto ids = tokenizer.encode("<start_of_turn>user\nhi<end_of_turn>");
  EXPECT_EQ(ids.front(), tokenizer.token_id("<start_of_turn>"));
  EXPECT_EQ(ids.back(), tokenizer.token_id("<end_of_turn>"));
  EXPECT_EQ(tokenizer.decode(ids, true), "user\nhi");
  // Code points outside the vocabulary fall back to byte tokens and decode back.
  EXPECT_EQ(tokenizer.decode(tokenizer.encode("\U0001FAE8\U000E0001")), "\U0001FAE8\U000E0001");

  // No pre-tokenizer split: the whole text is one BPE word, so this checks the merge loop is
  // not quadratic.
  expect_long_text_round_trip(tokenizer, "gemma3 (one word)");
}

TEST(TokenizerGguf, QwenVocabularyReproducesReferenceIds) {
  auto json = read_json(tokenizer_dir("qwen3") + "/tokenizer.json");
  data::GgufVocab vocab;
  vocab.model = "gpt2";
  vocab.pre = "qwen2";
  for (const auto& [token, id] : json["model"]["vocab"].items()) {
    if (size_t(id) >= vocab.tokens.size()) vocab.tokens.resize(size_t(id) + 1);
    vocab.tokens[id] = token;
  }
  vocab.token_types.assign(vocab.tokens.size(), 1);
  for (const auto& t : json["added_tokens"]) {
    size_t id = t["id"];
    if (id >= vocab.tokens.size()) {
      vocab.tokens.resize(id + 1);
      vocab.token_types.resize(id + 1, 1);
    }
    vocab.tokens[id] = t["content"];
    vocab.token_types[id] = t["special"] ? 3 : 4;
  }
  for (const auto& m : json["model"]["merges"])
    vocab.merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
  vocab.eos = 151645;
  auto tokenizer = Tokenizer::from_gguf_vocab(vocab);
  for (const auto& c : fixture_cases("qwen3")) {
    SCOPED_TRACE(testing::Message() << "text: " << nlohmann::json(c.text).dump());
    // A GGUF vocabulary encodes as llama.cpp, which does not apply Qwen's NFC
    // (tokenizer_gguf_test.cpp has its ids).
    if (c.text.starts_with("e\xCC\x81")) continue;
    EXPECT_EQ(tokenizer.encode(c.text), c.ids);
    EXPECT_EQ(tokenizer.decode(c.ids), c.decoded);
  }
  EXPECT_TRUE(tokenizer.is_special(151644));
  EXPECT_EQ(tokenizer.eos_id(), 151645);

  // Llama-3's regex groups digits in threes, Qwen's takes them one by one, GPT-2's keeps a run
  // whole; the merges show where the words were cut.
  data::GgufVocab digits;
  digits.model = "gpt2";
  digits.tokens = {"1", "2", "3", "4", "12", "123", "34"};
  digits.merges = {"3 4", "1 2", "12 3"};
  digits.pre = "llama-bpe";
  EXPECT_EQ(Tokenizer::from_gguf_vocab(digits).encode("1234"), (std::vector<int32_t>{5, 3}));
  digits.pre = "qwen2";
  EXPECT_EQ(Tokenizer::from_gguf_vocab(digits).encode("1234"), (std::vector<int32_t>{0, 1, 2, 3}));
  digits.pre = "gpt2";
  EXPECT_EQ(Tokenizer::from_gguf_vocab(digits).encode("1234"), (std::vector<int32_t>{4, 6}));
}

TEST(TokenizerGguf, SentencePieceVocabularyMergesByScore) {
  data::GgufVocab vocab;
  vocab.model = "llama";
  vocab.tokens = {"<unk>", "<s>", "</s>"};
  vocab.token_types = {2, 3, 3};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    vocab.tokens.push_back(name);
    vocab.token_types.push_back(6);
  }
  vocab.scores.assign(vocab.tokens.size(), 0.0f);
  auto add = [&](const char* token, float score) {
    vocab.tokens.push_back(token);
    vocab.token_types.push_back(1);
    vocab.scores.push_back(score);
    return int32_t(vocab.tokens.size() - 1);
  };
  int32_t space = add("\u2581", -1), h = add("h", -2), e = add("e", -3), l = add("l", -4),
          o = add("o", -5), ll = add("ll", -6), he = add("\u2581h", -7), hel = add("\u2581he", -8),
          lo = add("lo", -9), hello = add("\u2581hell", -10);
  add("hello", -0.5);  // unreachable: "hell" + "o" is no merge because "hell" is not a token
  vocab.unk = 0;
  vocab.bos = 1;
  vocab.eos = 2;
  vocab.add_bos = true;
  auto tokenizer = Tokenizer::from_gguf_vocab(vocab);
  // "▁hello": "ll" (score -6) first, then "▁h" (-7), "▁he" (-8), "▁hell" (-10); "lo" (-9) lost
  // its "l" to "ll" and "ll"+"o" is no token.
  EXPECT_EQ(tokenizer.encode("hello"), (std::vector<int32_t>{hello, o}));
  EXPECT_EQ(tokenizer.encode("hello", true), (std::vector<int32_t>{1, hello, o}));
  // "é" is not a token: its two UTF-8 bytes fall back to byte tokens 3 + 0xC3 and 3 + 0xA9.
  EXPECT_EQ(tokenizer.encode("h é"), (std::vector<int32_t>{he, space, 3 + 0xC3, 3 + 0xA9}));
  EXPECT_EQ(tokenizer.encode("<s>he"), (std::vector<int32_t>{1, hel}));
  // As Llama-2's tokenizer.json decoder: only the first token's leading space is stripped.
  EXPECT_EQ(tokenizer.decode(tokenizer.encode("hello h é", true)), "<s> hello h é");
  EXPECT_EQ(tokenizer.decode(tokenizer.encode("hello h é", true), true), "hello h é");
  (void)h, (void)e, (void)l, (void)ll, (void)lo;
}

TEST(TokenizerErrors, NameTheFileAndTheProblem) {
  test::TempDir dir;
  auto expect = [](const std::function<void()>& action, const std::string& file,
                   const std::string& needle) {
    auto message = test::error_message(action);
    EXPECT_NE(message.find("[tokenizer] "), std::string::npos) << message;
    EXPECT_NE(message.find(file), std::string::npos) << message;
    EXPECT_NE(message.find(needle), std::string::npos) << message;
  };
  std::string missing = (dir.path / "nothing.json").string();
  expect([&] { Tokenizer::from_json_file(missing); }, missing, "cannot open");
  expect([&] { Tokenizer::from_directory(dir.path.string()); }, dir.path.string(), "no tokenizer.json");
  auto bad = dir.write("bad.json", "{\"model\": {\"type\": \"BPE\", ");
  expect([&] { Tokenizer::from_json_file(bad); }, bad, "not valid JSON");
  auto unigram = dir.write("unigram.json", R"({"model": {"type": "Unigram", "vocab": []}})");
  expect([&] { Tokenizer::from_json_file(unigram); }, unigram, "unsupported model type 'Unigram'");
  const std::string model = R"("model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": [)";
  auto bert = dir.write("bert.json", "{" + model + R"(]}, "normalizer": {"type": "BertNormalizer"}})");
  expect([&] { Tokenizer::from_json_file(bert); }, bert, "unsupported normalizer type 'BertNormalizer'");
  auto merge = dir.write("merge.json", "{" + model + R"("a b"]}})");
  expect([&] { Tokenizer::from_json_file(merge); }, merge, "makes 'ab'");
  auto punct = dir.write("punct.json", "{" + model + R"(]}, "pre_tokenizer": {"type": "Punctuation"}})");
  expect([&] { Tokenizer::from_json_file(punct); }, punct, "unsupported pre_tokenizer type 'Punctuation'");
  data::GgufVocab vocab;
  vocab.model = "bert";
  vocab.tokens = {"a"};
  expect([&] { Tokenizer::from_gguf_vocab(vocab); }, "GGUF vocabulary", "unsupported tokenizer.ggml.model 'bert'");
}

// Issue 14: hostile tokenizer.json files that crashed, hung `train`, took gigabytes or ended as
// "internal error" are one error naming the file and the field.
TEST(TokenizerErrors, HostileFilesAreBoundedAndNameTheField) {
  test::TempDir dir;
  auto expect = [&](const std::string& name, const std::string& text, const std::string& needle) {
    auto path = dir.write(name, text);
    auto message = test::error_message([&] { Tokenizer::from_json_file(path); });
    EXPECT_NE(message.find("[tokenizer] " + path), std::string::npos) << message;
    EXPECT_NE(message.find(needle), std::string::npos) << message;
  };
  const std::string model = R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": []})";
  auto with = [&](const std::string& rest) { return model + ", " + rest + "}"; };
  expect("deep.json", "{\"a\": " + std::string(100000, '[') + std::string(100000, ']') + "}",
         "JSON nested deeper than 256");
  expect("added.json", with(R"("added_tokens": [{"id": 2147482647, "content": "x"}])"),
         "added_tokens[0]: field 'id' = 2147482647 is not an id in 0..4194303");
  expect("vocab.json", R"({"model": {"type": "BPE", "vocab": {"a": 100000000}, "merges": []}})",
         "model.vocab['a'] = 100000000 is not an id in 0..4194303");
  expect("flag.json", with(R"("added_tokens": [{"id": 2, "content": "x", "special": "yes"}])"),
         "added_tokens[0]: field 'special' has the wrong type (\"yes\")");
  expect("bert.json", with(R"("post_processor": {"type": "BertProcessing", "cls": [], "sep": ["b", 1]})"),
         "post_processor.cls must be [token, id], not []");
  expect("bert_id.json",
         with(R"("post_processor": {"type": "BertProcessing", "cls": ["a", "0"], "sep": ["b", 1]})"),
         "post_processor id \"0\" of 'cls' is not an id");
  expect("template.json",
         with(R"("post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "a"}}],
                 "special_tokens": {"a": {"ids": [1.5]}}})"),
         "post_processor id 1.5 of 'a' is not an id");
  expect("fallback.json", R"({"model": {"type": "BPE", "vocab": {}, "merges": [], "byte_fallback": 1}})",
         "model: field 'byte_fallback' has the wrong type (1)");
}

// Added-token flags as `tokenizers` applies them (its own added_vocabulary tests): lstrip and
// rstrip take the whitespace beside a match, single_word rejects a match inside a word.
TEST(TokenizerAddedTokens, HonourStripAndSingleWordFlags) {
  test::TempDir dir;
  auto file = dir.write("tokenizer.json", R"({
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, " ": 2}, "merges": []},
    "added_tokens": [
      {"id": 3, "content": "<m>", "lstrip": true, "rstrip": true, "single_word": false,
       "normalized": false, "special": true},
      {"id": 4, "content": "ab", "lstrip": false, "rstrip": false, "single_word": true,
       "normalized": true, "special": false}]})");
  auto tokenizer = Tokenizer::from_json_file(file);
  EXPECT_EQ(tokenizer.encode("a  <m> b"), (std::vector<int32_t>{0, 3, 1}));
  EXPECT_EQ(tokenizer.encode("ab ab"), (std::vector<int32_t>{4, 2, 4}));
  EXPECT_EQ(tokenizer.encode("aab"), (std::vector<int32_t>{0, 0, 1}));
  EXPECT_EQ(tokenizer.decode(tokenizer.encode("a <m> ab"), true), "a ab");  // no decoder: joined by spaces
}

}  // namespace tokenizer_test
