#include "cli/tokenize.hpp"

#include <fmt/format.h>

#include "base/error.hpp"
#include "data/dataset.hpp"
#include "data/examples.hpp"
#include "data/model_text.hpp"
#include "data/segments.hpp"

namespace vktrain::cli {
namespace {

std::string printable(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else out += c;
  }
  return out;
}

void print_legend() { fmt::print("\u27e6 \u27e7 mark the trained tokens; the rest is context only.\n"); }

// A .txt file is one token stream cut into --seq-len windows (data/dataset.hpp): each window
// decoded, its trained tokens marked.
int show_windows(const TokenizeOptions& o, const io::ModelSource& source, const std::string& path) {
  data::ModelText text = data::load_model_text(source, o.chat_template);
  data::DatasetOptions options;
  options.seq_len = o.seq_len;
  data::TokenizedDataset windows = data::tokenize_dataset(path, text, options);
  for (size_t i = 0; i < windows.sequences.size() && i < o.limit; ++i) {
    const auto& w = windows.sequences[i];
    std::string shown;
    size_t trained = 0;
    for (size_t begin = 0, end; begin < w.tokens.size(); begin = end) {
      for (end = begin; end < w.tokens.size() && w.trained[end] == w.trained[begin];) ++end;
      std::string piece = printable(text.tokenizer.decode(
          std::span<const int32_t>(w.tokens.data() + begin, end - begin)));
      if (w.trained[begin]) trained += end - begin;
      shown += w.trained[begin] ? "\u27e6" + piece + "\u27e7" : piece;
    }
    fmt::print("window {} of {} (plain text): {} tokens, {} trained\n{}\n\n", i + 1,
               windows.sequences.size(), w.tokens.size(), trained, shown);
  }
  print_legend();
  return 0;
}

}  // namespace

int run_tokenize(const TokenizeOptions& o) {
  if (bool(o.text) == bool(o.data)) fail("[tokenize] give exactly one of --text or --data");
  const io::ModelSource source(o.model);
  if (o.text) {
    auto tokenizer = data::load_tokenizer(source);
    auto ids = tokenizer.encode(*o.text, true);
    // pieces: the vocabulary entries; text: what each token decodes to on its own.
    fmt::print("{} tokens\nids: [{}]\npieces:", ids.size(), fmt::join(ids, ", "));
    for (int32_t id : ids) fmt::print(" {}", printable(tokenizer.piece(id)));
    fmt::print("\ntext:");
    for (int32_t id : ids) {
      int32_t one[] = {id};
      fmt::print(" '{}'", printable(tokenizer.decode(one)));
    }
    fmt::print("\n");
    return 0;
  }
  const std::string path = data::data_file(*o.data, {"train"});
  if (data::is_plain_text(path)) return show_windows(o, source, path);
  auto [tokenizer, chat] = data::load_model_text(source, o.chat_template);
  auto examples = data::read_examples(path, o.limit);
  for (size_t i = 0; i < examples.size(); ++i) {
    const auto& e = examples[i];
    auto segments = data::segments_of(e, path, chat, tokenizer);
    size_t total = 0, trained = 0;
    std::string shown;
    for (const auto& segment : segments) {
      size_t n = tokenizer.encode(segment.text, segment.add_special_tokens).size();
      total += n;
      if (segment.trained) trained += n;
      shown += segment.trained ? "\u27e6" + printable(segment.text) + "\u27e7"
                               : printable(segment.text);
    }
    fmt::print("example {} (line {}, {}): {} tokens, {} trained\n{}\n\n", i + 1, e.line,
               data::kind_name(e.kind), total, trained, shown);
  }
  print_legend();
  return 0;
}

}  // namespace vktrain::cli
