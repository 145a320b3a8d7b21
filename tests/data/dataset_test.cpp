#include "data/dataset.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "support/support.hpp"

using namespace vktrain;
using data::DatasetOptions;
using data::TokenSequence;
namespace fs = std::filesystem;

namespace dataset_test {
namespace {

const std::string kData = std::string(VKTRAIN_FIXTURES) + "/data/";

const data::ModelText& qwen3() {
  static const data::ModelText text =
      data::load_model_text(io::ModelSource(std::string(VKTRAIN_TOKENIZERS) + "/qwen3"));
  return text;
}

std::vector<int32_t> encode(const std::string& text) { return qwen3().tokenizer.encode(text); }
std::string decode(const std::vector<int32_t>& ids) { return qwen3().tokenizer.decode(ids); }

// The trained tokens decoded run by run: what the loss sees, in order (token 0 excluded, as it
// is never predicted).
std::vector<std::string> trained_runs(const TokenSequence& s) {
  EXPECT_EQ(s.trained.size(), s.tokens.size());
  std::vector<std::string> runs;
  std::vector<int32_t> run;
  for (size_t i = 1; i <= s.tokens.size(); ++i) {
    if (i < s.tokens.size() && s.trained[i]) {
      run.push_back(s.tokens[i]);
    } else if (!run.empty()) {
      runs.push_back(decode(run));
      run.clear();
    }
  }
  return runs;
}

bool all_trained(const TokenSequence& s) {
  return std::all_of(s.trained.begin(), s.trained.end(), [](uint8_t t) { return t == 1; });
}

DatasetOptions options(int64_t seq_len) { return DatasetOptions{.seq_len = seq_len}; }

const char* kChat =
    R"({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},)"
    R"( {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Name a colour."},)"
    R"( {"role": "assistant", "content": "Blue."}]})";

}  // namespace

TEST(Dataset, ChatTrainsOnAssistantTurnsOnly) {
  test::TempDir dir;
  std::string path = dir.write("chat.jsonl", std::string(kChat) + "\n" + kChat + "\n");
  auto d = data::tokenize_dataset(path, qwen3(), options(256));
  EXPECT_EQ(d.examples, 2);
  EXPECT_EQ(d.chat, 2);
  EXPECT_EQ(d.text + d.prompt_completion + d.truncated, 0);
  ASSERT_EQ(d.sequences.size(), 2u);
  const auto& s = d.sequences[0];
  // The tokens are the template's rendering; the loss sees both answers and their end markers.
  std::vector<data::ChatMessage> messages = {{"system", "Be brief."}, {"user", "Hi"},
                                             {"assistant", "Hello!"}, {"user", "Name a colour."},
                                             {"assistant", "Blue."}};
  EXPECT_EQ(decode(s.tokens), qwen3().chat_template.render(messages));
  auto runs = trained_runs(s);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0], "Hello!<|im_end|>");
  EXPECT_EQ(runs[1], "<think>\n\n</think>\n\nBlue.<|im_end|>");  // Qwen3 marks the last turn
  EXPECT_EQ(d.tokens, int64_t(2 * s.tokens.size()));
  EXPECT_EQ(d.trained_tokens, int64_t(2 * (encode(runs[0]).size() + encode(runs[1]).size())));

  auto everything = data::tokenize_dataset(path, qwen3(), {.seq_len = 256, .train_on_inputs = true});
  EXPECT_EQ(everything.sequences[0].tokens, s.tokens);
  EXPECT_TRUE(all_trained(everything.sequences[0]));
  EXPECT_EQ(everything.trained_tokens, everything.tokens - 2);
}

TEST(Dataset, PromptCompletionTrainsOnTheCompletionAndItsEos) {
  test::TempDir dir;
  std::string path = dir.write("pc.jsonl", R"({"prompt": "2+2=", "completion": " 4"})"
                                           "\n"
                                           R"({"prompt": "Capital of France?", "completion": " Paris"})"
                                           "\n");
  auto d = data::tokenize_dataset(path, qwen3(), options(64));
  EXPECT_EQ(d.prompt_completion, 2);
  const auto& s = d.sequences[1];
  auto want = encode("Capital of France?");  // Qwen adds no BOS
  auto completion = encode(" Paris<|im_end|>");
  EXPECT_EQ(completion.back(), *qwen3().tokenizer.eos_id());
  want.insert(want.end(), completion.begin(), completion.end());
  EXPECT_EQ(s.tokens, want);
  EXPECT_EQ(trained_runs(s), std::vector<std::string>{" Paris<|im_end|>"});
  EXPECT_EQ(d.sequences[0].trained.front(), 0);

  auto everything = data::tokenize_dataset(path, qwen3(), {.seq_len = 64, .train_on_inputs = true});
  EXPECT_EQ(everything.sequences[1].tokens, want);
  EXPECT_TRUE(all_trained(everything.sequences[1]));
}

TEST(Dataset, TextTrainsOnEverythingAndEndsWithEos) {
  test::TempDir dir;
  std::string path = dir.write("text.jsonl", R"({"text": "The quick brown fox."})"
                                             "\n");
  auto d = data::tokenize_dataset(path, qwen3(), options(64));
  EXPECT_EQ(d.text, 1);
  const auto& s = d.sequences[0];
  EXPECT_EQ(s.tokens, encode("The quick brown fox.<|im_end|>"));
  EXPECT_TRUE(all_trained(s));
  EXPECT_EQ(d.trained_tokens, int64_t(s.tokens.size()) - 1);
}

TEST(Dataset, TextGetsTheBosTheTokenizerAdds) {
  // Gemma's tokenizer adds <bos> (add_bos_token), Qwen's adds none.
  auto gemma = data::load_model_text(io::ModelSource(std::string(VKTRAIN_TOKENIZERS) + "/gemma3"));
  test::TempDir dir;
  std::string path = dir.write("text.jsonl", R"({"text": "Hello"})"
                                             "\n");
  auto s = data::tokenize_dataset(path, gemma, options(16)).sequences[0];
  ASSERT_GE(s.tokens.size(), 3u);
  EXPECT_EQ(s.tokens.front(), *gemma.tokenizer.bos_id());
  EXPECT_EQ(s.tokens.back(), *gemma.tokenizer.eos_id());
  EXPECT_EQ(data::tokenize_dataset(path, qwen3(), options(16)).sequences[0].tokens.front(),
            encode("Hello").front());
}

TEST(Dataset, PlainTextIsCutIntoWindowsWithAStride) {
  test::TempDir dir;
  std::string text;
  for (int i = 0; i < 20; ++i) text += "Line " + std::to_string(i) + " of the book.\n";
  std::string path = dir.write("book.txt", text);
  auto stream = encode(text + "<|im_end|>");
  const size_t n = stream.size(), T = 16;

  // No overlap: the windows are the stream, every token trained.
  auto plain = data::tokenize_dataset(path, qwen3(), options(int64_t(T)));
  EXPECT_EQ(plain.examples, int64_t((n + T - 1) / T));
  EXPECT_EQ(plain.text, plain.examples);
  std::vector<int32_t> joined;
  for (const auto& w : plain.sequences) {
    EXPECT_LE(w.tokens.size(), T);
    EXPECT_TRUE(all_trained(w));
    joined.insert(joined.end(), w.tokens.begin(), w.tokens.end());
  }
  EXPECT_EQ(joined, stream);

  // Stride 10: windows start every 10 tokens; the 6 tokens a window shares with the previous
  // one are context only, so each token is trained once.
  auto strided = data::tokenize_dataset(path, qwen3(), {.seq_len = int64_t(T), .stride = 10});
  ASSERT_GE(strided.sequences.size(), 3u);
  std::vector<int> times_trained(n, 0);
  for (size_t k = 0; k < strided.sequences.size(); ++k) {
    const auto& w = strided.sequences[k];
    size_t start = k * 10;
    ASSERT_LE(start + w.tokens.size(), n);
    EXPECT_EQ(w.tokens, std::vector<int32_t>(stream.begin() + start, stream.begin() + start + w.tokens.size()));
    for (size_t i = 0; i < w.tokens.size(); ++i) {
      EXPECT_EQ(w.trained[i], k == 0 || i >= T - 10) << "window " << k << " token " << i;
      times_trained[start + i] += w.trained[i];
    }
    if (k + 1 == strided.sequences.size()) {
      EXPECT_EQ(start + w.tokens.size(), n);
    }
  }
  EXPECT_EQ(times_trained, std::vector<int>(n, 1));

  EXPECT_EQ(test::error_message([&] {
              data::tokenize_dataset(path, qwen3(), {.seq_len = 16, .stride = 17});
            }),
            "[data] --stride is 17; give 1 to --seq-len (16), or 0 for windows without overlap");
}

TEST(Dataset, LongExamplesFailOrAreTruncatedAndCounted) {
  test::TempDir dir;
  std::string path = dir.write("chat.jsonl", std::string("\n") + kChat + "\n" +
                                                 R"({"messages": [{"role": "user", "content": "a"},)"
                                                 R"( {"role": "assistant", "content": "b"}]})"
                                                 "\n");
  size_t n = data::tokenize_dataset(path, qwen3(), options(256)).sequences[0].tokens.size();
  EXPECT_EQ(test::error_message([&] { data::tokenize_dataset(path, qwen3(), options(20)); }),
            fmt::format("[data] {}:2: the example has {} tokens, more than --seq-len 20; raise "
                        "--seq-len or pass --truncate",
                        path, n));
  auto d = data::tokenize_dataset(path, qwen3(), {.seq_len = 20, .truncate = true});
  EXPECT_EQ(d.truncated, 1);
  EXPECT_EQ(d.sequences[0].tokens.size(), 20u);
  EXPECT_EQ(d.sequences[0].trained.size(), 20u);
  EXPECT_LT(d.sequences[1].tokens.size(), 20u);
  EXPECT_EQ(d.tokens, int64_t(20 + d.sequences[1].tokens.size()));
}

TEST(Dataset, BadFilesNameTheFileAndLine) {
  auto error = [](const std::string& file, bool train_on_inputs = false) {
    return test::error_message([&] {
      data::tokenize_dataset(kData + file, qwen3(), {.seq_len = 64, .train_on_inputs = train_on_inputs});
    });
  };
  EXPECT_EQ(error("mixed.jsonl"), "[data] " + kData +
                                      "mixed.jsonl:3: a prompt/completion example, but line 1 is "
                                      "text; keep one format per file");
  EXPECT_EQ(error("no_assistant.jsonl"),
            "[data] " + kData +
                "no_assistant.jsonl:1: the conversation has no assistant turn to train on; add one, "
                "or pass --train-on-inputs");
  EXPECT_EQ(error("no_assistant.jsonl", true), "");  // context-only data is fine when trained on
  EXPECT_NE(error("malformed.jsonl").find("malformed.jsonl:2: not valid JSON"), std::string::npos);
  EXPECT_NE(error("missing.jsonl").find("cannot open"), std::string::npos);
  test::TempDir dir;
  std::string blank = dir.write("blank.txt", " \n\n");
  EXPECT_EQ(test::error_message([&] { data::tokenize_dataset(blank, qwen3(), options(8)); }),
            "[data] " + blank + " holds no text");
}

TEST(Dataset, SplitHoldsOutAFractionBySeed) {
  std::vector<TokenSequence> sequences;
  for (int32_t i = 0; i < 10; ++i) sequences.push_back({{i}, {1}});
  auto ids = [](const std::vector<TokenSequence>& s) {
    std::vector<int32_t> out;
    for (const auto& x : s) out.push_back(x.tokens[0]);
    return out;
  };
  auto [train, valid] = data::split_validation(sequences, 0.2, 7);
  EXPECT_EQ(train.size(), 8u);
  EXPECT_EQ(valid.size(), 2u);
  auto all = ids(train);
  for (int32_t id : ids(valid)) all.push_back(id);
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, ids(sequences));
  auto train_ids = ids(train);
  EXPECT_TRUE(std::is_sorted(train_ids.begin(), train_ids.end()));  // the file's order kept
  EXPECT_EQ(ids(data::split_validation(sequences, 0.2, 7).second), ids(valid));
  EXPECT_NE(ids(data::split_validation(sequences, 0.5, 7).second),
            ids(data::split_validation(sequences, 0.5, 8).second));

  EXPECT_EQ(data::split_validation(sequences, 0.01, 1).second.size(), 1u);  // at least one
  EXPECT_EQ(data::split_validation(sequences, 0.99, 1).first.size(), 1u);   // one left to train
  EXPECT_EQ(data::split_validation(sequences, 0, 1).first.size(), 10u);
  EXPECT_NE(test::error_message([&] {
              data::split_validation({sequences[0]}, 0.1, 1);
            }).find("needs at least 2 examples and the data has 1"),
            std::string::npos);
  EXPECT_NE(test::error_message([&] { data::split_validation(sequences, 1.0, 1); }).find("[0, 1)"),
            std::string::npos);
}

TEST(Dataset, CacheIsReusedOnlyWhenEverythingMatches) {
  test::TempDir dir;
  std::string path = dir.write("chat.jsonl", std::string(kChat) + "\n" + kChat + "\n");
  std::string cache = dir.file("cache");
  auto cache_files = [&] {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(cache)) files.push_back(entry.path());
    return files;
  };
  auto fresh = data::tokenize_dataset(path, qwen3(), options(256));
  auto expect_same = [&](const data::TokenizedDataset& d) {
    ASSERT_EQ(d.sequences.size(), fresh.sequences.size());
    for (size_t i = 0; i < d.sequences.size(); ++i) {
      EXPECT_EQ(d.sequences[i].tokens, fresh.sequences[i].tokens);
      EXPECT_EQ(d.sequences[i].trained, fresh.sequences[i].trained);
    }
    EXPECT_EQ(d.examples, fresh.examples);
    EXPECT_EQ(d.chat, fresh.chat);
    EXPECT_EQ(d.tokens, fresh.tokens);
    EXPECT_EQ(d.trained_tokens, fresh.trained_tokens);
  };

  auto first = data::load_or_tokenize(path, qwen3(), options(256), cache);
  EXPECT_FALSE(first.from_cache);
  expect_same(first);
  ASSERT_EQ(cache_files().size(), 1u);
  auto again = data::load_or_tokenize(path, qwen3(), options(256), cache);
  EXPECT_TRUE(again.from_cache);
  expect_same(again);

  // Other options or other data: another file.
  EXPECT_FALSE(data::load_or_tokenize(path, qwen3(), {.seq_len = 256, .train_on_inputs = true}, cache)
                   .from_cache);
  EXPECT_EQ(cache_files().size(), 2u);
  dir.write("chat.jsonl", std::string(kChat) + "\n");
  EXPECT_EQ(data::load_or_tokenize(path, qwen3(), options(256), cache).sequences.size(), 1u);
  EXPECT_EQ(cache_files().size(), 3u);

  // A damaged file is never trusted: rebuilt, replaced, then reused.
  dir.write("chat.jsonl", std::string(kChat) + "\n" + kChat + "\n");
  fs::remove_all(cache);
  data::load_or_tokenize(path, qwen3(), options(256), cache);
  ASSERT_EQ(cache_files().size(), 1u);
  fs::path file = cache_files().front();
  auto damage = [&](auto&& edit) {
    std::string bytes;
    {
      std::ifstream in(file, std::ios::binary);
      bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    edit(bytes);
    std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
    auto d = data::load_or_tokenize(path, qwen3(), options(256), cache);
    EXPECT_FALSE(d.from_cache);
    expect_same(d);
    EXPECT_TRUE(data::load_or_tokenize(path, qwen3(), options(256), cache).from_cache);
  };
  damage([](std::string& b) { b[b.size() - 3] ^= 1; });    // a trained flag: the checksum
  damage([](std::string& b) { b.resize(b.size() - 8); });  // cut short
  damage([](std::string& b) { b[0] = 'X'; });              // magic
  damage([](std::string& b) { b.clear(); });               // empty
}

}  // namespace dataset_test
