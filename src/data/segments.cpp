#include "data/segments.hpp"

#include "base/error.hpp"

namespace vktrain::data {

std::vector<Segment> segments_of(const Example& e, const std::string& path, const ChatTemplate& chat,
                                 const Tokenizer& tokenizer, bool train_on_inputs) {
  using Kind = Example::Kind;
  std::string eos = tokenizer.eos_id() ? tokenizer.piece(*tokenizer.eos_id()) : "";
  std::vector<Segment> out;
  if (e.kind == Kind::text) {
    out = {{e.text + eos, true, true}};
  } else if (e.kind == Kind::prompt_completion) {
    out = {{e.prompt, false, true}, {e.completion + eos, true, false}};
  } else {
    ChatOptions options;
    options.tools = e.tools;
    auto rendered = chat.render_with_spans(e.messages, options);
    if (rendered.assistant_spans.empty() && !train_on_inputs)
      fail("[data] {}:{}: the conversation has no assistant turn to train on; add one, or pass "
           "--train-on-inputs",
           path, e.line);
    size_t at = 0;
    for (auto [begin, end] : rendered.assistant_spans) {
      if (begin > at) out.push_back({rendered.text.substr(at, begin - at), false, false});
      out.push_back({rendered.text.substr(begin, end - begin), true, false});
      at = end;
    }
    if (at < rendered.text.size()) out.push_back({rendered.text.substr(at), false, false});
  }
  if (train_on_inputs)
    for (auto& s : out) s.trained = true;
  return out;
}

}  // namespace vktrain::data
