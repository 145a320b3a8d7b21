#include "data/dataset.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/error.hpp"
#include "data/examples.hpp"
#include "data/segments.hpp"

namespace vktrain::data {
namespace {

void check_options(const DatasetOptions& o) {
  if (o.seq_len < 2) fail("[data] --seq-len is {}; it must be at least 2", o.seq_len);
  if (o.stride < 0 || o.stride > o.seq_len)
    fail("[data] --stride is {}; give 1 to --seq-len ({}), or 0 for windows without overlap",
         o.stride, o.seq_len);
}

TokenSequence encode(const std::vector<Segment>& segments, const Tokenizer& tokenizer) {
  TokenSequence out;
  for (const auto& segment : segments) {
    auto ids = tokenizer.encode(segment.text, segment.add_special_tokens);
    out.tokens.insert(out.tokens.end(), ids.begin(), ids.end());
    out.trained.insert(out.trained.end(), ids.size(), segment.trained ? 1 : 0);
  }
  return out;
}

void add(TokenizedDataset& d, TokenSequence sequence) {
  d.examples += 1;
  d.tokens += int64_t(sequence.tokens.size());
  for (size_t i = 1; i < sequence.trained.size(); ++i) d.trained_tokens += sequence.trained[i];
  d.sequences.push_back(std::move(sequence));
}

TokenizedDataset tokenize_jsonl(const std::string& path, const ModelText& text,
                                const DatasetOptions& o) {
  TokenizedDataset d;
  auto examples = read_examples(path);
  const Example& first = examples.front();
  for (const auto& e : examples) {
    if (e.kind != first.kind)
      fail("[data] {}:{}: a {} example, but line {} is {}; keep one format per file", path, e.line,
           kind_name(e.kind), first.line, kind_name(first.kind));
    auto sequence = encode(segments_of(e, path, text.chat_template, text.tokenizer,
                                       o.train_on_inputs), text.tokenizer);
    int64_t n = int64_t(sequence.tokens.size());
    if (n > o.seq_len) {
      if (!o.truncate)
        fail("[data] {}:{}: the example has {} tokens, more than --seq-len {}; raise --seq-len or "
             "pass --truncate",
             path, e.line, n, o.seq_len);
      sequence.tokens.resize(size_t(o.seq_len));
      sequence.trained.resize(size_t(o.seq_len));
      d.truncated += 1;
    }
    add(d, std::move(sequence));
  }
  int64_t* by_kind[] = {&d.text, &d.prompt_completion, &d.chat};
  *by_kind[int(first.kind)] = d.examples;
  return d;
}

// The file as one text example (BOS/EOS as segments_of places them), cut into windows.
TokenizedDataset tokenize_plain_text(const std::string& path, const ModelText& text,
                                     const DatasetOptions& o) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("[data] cannot open {}", path);
  std::stringstream contents;
  contents << in.rdbuf();
  Example whole;
  whole.text = contents.str();
  if (whole.text.find_first_not_of(" \t\r\n") == std::string::npos)
    fail("[data] {} holds no text", path);
  auto stream = encode(segments_of(whole, path, text.chat_template, text.tokenizer), text.tokenizer);
  int64_t n = int64_t(stream.tokens.size()), stride = o.stride ? o.stride : o.seq_len;
  TokenizedDataset d;
  int64_t trained_until = 0;  // tokens before this one were trained in an earlier window
  for (int64_t start = 0;; start += stride) {
    int64_t end = std::min(start + o.seq_len, n);
    TokenSequence window;
    window.tokens.assign(stream.tokens.begin() + start, stream.tokens.begin() + end);
    for (int64_t i = start; i < end; ++i) window.trained.push_back(i >= trained_until ? 1 : 0);
    trained_until = end;
    add(d, std::move(window));
    if (end == n) break;
  }
  d.text = d.examples;
  return d;
}

}  // namespace

bool is_plain_text(const std::string& path) {
  return std::filesystem::path(path).extension() == ".txt";
}

TokenizedDataset tokenize_dataset(const std::string& path, const ModelText& text,
                                  const DatasetOptions& options) {
  check_options(options);
  return is_plain_text(path) ? tokenize_plain_text(path, text, options)
                             : tokenize_jsonl(path, text, options);
}

std::pair<std::vector<TokenSequence>, std::vector<TokenSequence>> split_validation(
    std::vector<TokenSequence> sequences, double fraction, uint64_t seed) {
  if (!(fraction >= 0 && fraction < 1))
    fail("[data] the validation fraction is {}; give a number in [0, 1)", fraction);
  size_t n = sequences.size();
  if (fraction == 0) return {std::move(sequences), {}};
  if (n < 2)
    fail("[data] holding out a validation fraction needs at least 2 examples and the data has {}; "
         "give a validation file instead",
         n);
  size_t held = std::clamp<size_t>(size_t(std::llround(fraction * double(n))), 1, n - 1);
  std::vector<uint8_t> is_held(n, 0);
  auto order = shuffled_order(n, seed);
  for (size_t i = 0; i < held; ++i) is_held[order[i]] = 1;
  std::pair<std::vector<TokenSequence>, std::vector<TokenSequence>> out;
  for (size_t i = 0; i < n; ++i)
    (is_held[i] ? out.second : out.first).push_back(std::move(sequences[i]));
  return out;
}

}  // namespace vktrain::data
