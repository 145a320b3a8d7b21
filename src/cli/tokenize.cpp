#include "cli/tokenize.hpp"

#include <fmt/format.h>

#include "base/error.hpp"
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

}  // namespace

int run_tokenize(const TokenizeOptions& o) {
  if (bool(o.text) == bool(o.data)) fail("[tokenize] give exactly one of --text or --data");
  if (o.text) {
    auto tokenizer = data::load_tokenizer(o.model);
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
  auto [tokenizer, chat] = data::load_model_text(o.model, o.chat_template);
  auto examples = data::read_examples(*o.data, o.limit);
  for (size_t i = 0; i < examples.size(); ++i) {
    const auto& e = examples[i];
    auto segments = data::segments_of(e, *o.data, chat, tokenizer);
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
  fmt::print("\u27e6 \u27e7 mark the trained tokens; the rest is context only.\n");
  return 0;
}

}  // namespace vktrain::cli
