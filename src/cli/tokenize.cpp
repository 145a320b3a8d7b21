#include "cli/tokenize.hpp"

#include <fmt/format.h>

#include "base/error.hpp"
#include "data/examples.hpp"
#include "data/model_text.hpp"

namespace vktrain::cli {
namespace {

// Text pieces in order, each trained on or not (DESIGN.md "Data": completion-only and
// assistant-only loss by default).
struct Segment {
  std::string text;
  bool trained;
};

std::vector<Segment> segments_of(const data::Example& e, const std::string& path,
                                 const data::ChatTemplate& chat, const data::Tokenizer& tokenizer) {
  using Kind = data::Example::Kind;
  if (e.kind == Kind::text) return {{e.text, true}};
  std::string eos = tokenizer.eos_id() ? tokenizer.piece(*tokenizer.eos_id()) : "";
  if (e.kind == Kind::prompt_completion) return {{e.prompt, false}, {e.completion + eos, true}};
  auto rendered = chat.render_with_spans(e.messages);
  std::vector<Segment> out;
  size_t at = 0;
  for (auto [begin, end] : rendered.assistant_spans) {
    if (begin > at) out.push_back({rendered.text.substr(at, begin - at), false});
    out.push_back({rendered.text.substr(begin, end - begin), true});
    at = end;
  }
  if (at < rendered.text.size()) out.push_back({rendered.text.substr(at), false});
  if (rendered.assistant_spans.empty())
    fail("[data] {}:{}: the conversation has no assistant turn to train on", path, e.line);
  return out;
}

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
  static const char* kinds[] = {"text", "prompt/completion", "chat"};
  for (size_t i = 0; i < examples.size(); ++i) {
    const auto& e = examples[i];
    auto segments = segments_of(e, *o.data, chat, tokenizer);
    size_t total = 0, trained = 0;
    std::string shown;
    for (size_t s = 0; s < segments.size(); ++s) {
      // The first segment carries the tokenizer's own BOS unless the template wrote one.
      bool add_special = s == 0 && e.kind != data::Example::Kind::chat;
      size_t n = tokenizer.encode(segments[s].text, add_special).size();
      total += n;
      if (segments[s].trained) trained += n;
      shown += segments[s].trained ? "\u27e6" + printable(segments[s].text) + "\u27e7"
                                   : printable(segments[s].text);
    }
    fmt::print("example {} (line {}, {}): {} tokens, {} trained\n{}\n\n", i + 1, e.line,
               kinds[int(e.kind)], total, trained, shown);
  }
  fmt::print("\u27e6 \u27e7 mark the trained tokens; the rest is context only.\n");
  return 0;
}

}  // namespace vktrain::cli
