#include "data/pretokenizer.hpp"

#include <nlohmann/json.hpp>

#include "base/error.hpp"
#include "data/tokenizer_json.hpp"
#include "io/json_file.hpp"
#include "data/unicode.hpp"

namespace vktrain::data {
namespace {

struct Piece {
  size_t start, end;
  bool is_match;
};

// The text cut at every match, as `tokenizers`' Pattern::find_matches: pieces cover the text,
// each marked as a match or as the text between matches.
std::vector<Piece> find_pieces(std::string_view text, const Pattern& pattern,
                               bool (*char_class)(char32_t)) {
  std::vector<Piece> pieces;
  size_t previous = 0;
  auto found = [&](size_t start, size_t end) {
    if (previous != start) pieces.push_back({previous, start, false});
    pieces.push_back({start, end, true});
    previous = end;
  };
  if (char_class) {
    for (size_t pos = 0; pos < text.size();) {
      size_t start = pos;
      if (char_class(next_code_point(text, pos))) found(start, pos);
    }
  } else {
    pattern.find_all(text, found);
  }
  if (previous != text.size()) pieces.push_back({previous, text.size(), false});
  return pieces;
}

// `tokenizers`' SplitDelimiterBehavior, applied to the pieces: which survive and which merge.
std::vector<Piece> apply_behavior(std::vector<Piece> pieces, SplitBehavior behavior) {
  std::vector<Piece> out;
  bool previous_match = false;
  switch (behavior) {
    case SplitBehavior::isolated: return pieces;
    case SplitBehavior::removed:
      for (const auto& p : pieces)
        if (!p.is_match) out.push_back(p);
      return out;
    case SplitBehavior::merged_with_previous:
      for (const auto& p : pieces) {
        if (p.is_match && !previous_match && !out.empty())
          out.back().end = p.end;
        else
          out.push_back(p);
        previous_match = p.is_match;
      }
      return out;
    case SplitBehavior::merged_with_next:
      for (auto it = pieces.rbegin(); it != pieces.rend(); ++it) {
        if (it->is_match && !previous_match && !out.empty())
          out.back().start = it->start;
        else
          out.push_back(*it);
        previous_match = it->is_match;
      }
      return {out.rbegin(), out.rend()};
    case SplitBehavior::contiguous:
      for (size_t i = 0; i < pieces.size(); ++i) {
        if (i > 0 && pieces[i].is_match == previous_match)
          out.back().end = pieces[i].end;
        else
          out.push_back(pieces[i]);
        previous_match = pieces[i].is_match;
      }
      return out;
  }
  return out;
}

SplitBehavior parse_behavior(const std::string& name, const std::string& file) {
  if (name == "Removed") return SplitBehavior::removed;
  if (name == "Isolated") return SplitBehavior::isolated;
  if (name == "MergedWithPrevious") return SplitBehavior::merged_with_previous;
  if (name == "MergedWithNext") return SplitBehavior::merged_with_next;
  if (name == "Contiguous") return SplitBehavior::contiguous;
  fail("[tokenizer] {}: unknown Split behavior '{}'", file, name);
}

std::string replace_spaces(std::string_view text, std::string_view replacement) {
  std::string out;
  for (char c : text) {
    if (c == ' ')
      out += replacement;
    else
      out += c;
  }
  return out;
}

}  // namespace

PreTokenizer PreTokenizer::from_json(const nlohmann::json& json, const std::string& file) {
  PreTokenizer p;
  if (!json.is_null()) p.add_json(json, file);
  return p;
}

void PreTokenizer::add_json(const nlohmann::json& json, const std::string& file) {
  auto type = stage_type(json, "pre_tokenizer", file);
  const io::JsonFields in(json, file + " pre_tokenizer", "tokenizer");
  if (type == "Sequence") {
    for (const auto& step : json.value("pretokenizers", nlohmann::json::array()))
      add_json(step, file);
  } else if (type == "Split") {
    add_split(Pattern::from_json(member(json, "pattern"), file + " Split"),
              parse_behavior(in.get<std::string>("behavior", ""), file), in.get("invert", false));
  } else if (type == "ByteLevel") {
    add_byte_level(in.get("add_prefix_space", true), in.get("use_regex", true));
  } else if (type == "Metaspace") {
    Step step{Kind::metaspace};
    step.replacement = in.get<std::string>("replacement", "\u2581");
    std::string scheme = in.get<std::string>("prepend_scheme", "");
    if (scheme.empty()) scheme = in.get("add_prefix_space", true) ? "always" : "never";
    if (scheme == "always") step.prepend = Prepend::always;
    else if (scheme == "first") step.prepend = Prepend::first;
    else if (scheme == "never") step.prepend = Prepend::never;
    else fail("[tokenizer] {}: unknown Metaspace prepend_scheme '{}'", file, scheme);
    step.split = in.get("split", true);
    steps_.push_back(std::move(step));
  } else if (type == "Digits") {
    Step step{Kind::split};
    step.char_class = &is_numeric;
    step.behavior = in.get("individual_digits", false) ? SplitBehavior::isolated
                                                           : SplitBehavior::contiguous;
    steps_.push_back(std::move(step));
  } else if (type == "Whitespace") {
    add_split(Pattern::regex(R"(\w+|[^\w\s]+)", file + " Whitespace"), SplitBehavior::removed,
              true);
  } else if (type == "WhitespaceSplit") {
    Step step{Kind::split};
    step.char_class = &is_whitespace;
    step.behavior = SplitBehavior::removed;
    steps_.push_back(std::move(step));
  } else {
    fail("[tokenizer] {}: unsupported pre_tokenizer type '{}' (supported: Split, ByteLevel, "
         "Metaspace, Digits, Whitespace, WhitespaceSplit, Sequence)",
         file, type);
  }
}

PreTokenizer& PreTokenizer::add_split(Pattern pattern, SplitBehavior behavior, bool invert) {
  Step step{Kind::split};
  step.pattern = std::move(pattern);
  step.behavior = behavior;
  step.invert = invert;
  steps_.push_back(std::move(step));
  return *this;
}

PreTokenizer& PreTokenizer::add_byte_level(bool add_prefix_space, bool use_regex) {
  Step step{Kind::byte_level};
  step.add_prefix_space = add_prefix_space;
  if (use_regex) step.pattern = Pattern::regex(kGpt2Pattern, "ByteLevel");
  step.split = use_regex;
  steps_.push_back(std::move(step));
  return *this;
}

void PreTokenizer::split(std::string_view text, bool at_start, std::vector<PreToken>& out) const {
  std::vector<PreToken> words;
  if (!text.empty()) words.push_back({std::string(text), at_start});
  for (const auto& step : steps_) run(step, words);
  for (auto& w : words) out.push_back(std::move(w));
}

void PreTokenizer::run(const Step& step, std::vector<PreToken>& words) const {
  std::vector<PreToken> next;
  auto cut = [&](const PreToken& word, const Pattern& pattern, SplitBehavior behavior,
                 bool invert) {
    auto pieces = find_pieces(word.text, pattern, step.char_class);
    if (invert)
      for (auto& p : pieces) p.is_match = !p.is_match;
    for (const auto& p : apply_behavior(std::move(pieces), behavior)) {
      if (p.start == p.end) continue;  // `tokenizers` drops empty words
      next.push_back({word.text.substr(p.start, p.end - p.start), word.at_start && p.start == 0});
    }
  };
  for (auto& word : words) {
    switch (step.kind) {
      case Kind::split: cut(word, step.pattern, step.behavior, step.invert); break;
      case Kind::byte_level: {
        if (step.add_prefix_space && word.text[0] != ' ') word.text.insert(word.text.begin(), ' ');
        std::vector<PreToken> parts;
        if (step.split) {
          size_t first = next.size();
          cut(word, step.pattern, SplitBehavior::isolated, false);
          parts.assign(std::make_move_iterator(next.begin() + first),
                       std::make_move_iterator(next.end()));
          next.resize(first);
        } else {
          parts.push_back(std::move(word));
        }
        const auto& alphabet = byte_level_alphabet();
        for (auto& part : parts) {
          std::string mapped;
          for (unsigned char b : part.text) mapped += alphabet.encode[b];
          next.push_back({std::move(mapped), part.at_start});
        }
        break;
      }
      case Kind::metaspace: {
        PreToken w{replace_spaces(word.text, step.replacement), word.at_start};
        bool starts = w.text.compare(0, step.replacement.size(), step.replacement) == 0;
        if (!starts && (step.prepend == Prepend::always ||
                        (step.prepend == Prepend::first && word.at_start)))
          w.text.insert(0, step.replacement);
        if (step.split)
          cut(w, Pattern::literal(step.replacement), SplitBehavior::merged_with_next, false);
        else
          next.push_back(std::move(w));
        break;
      }
    }
  }
  words = std::move(next);
}

}  // namespace vktrain::data
