#include "data/normalizer.hpp"

#include <nlohmann/json.hpp>

#include "base/error.hpp"
#include "data/tokenizer_json.hpp"
#include "io/json_file.hpp"

namespace vktrain::data {
namespace {

std::string replace_all(std::string_view text, const Pattern& pattern, std::string_view content) {
  std::string out;
  size_t copied = 0;
  bool found = false;
  pattern.find_all(text, [&](size_t start, size_t end) {
    out.append(text.substr(copied, start - copied));
    out.append(content);
    copied = end;
    found = true;
  });
  if (!found) return std::string(text);
  out.append(text.substr(copied));
  return out;
}

// Strip removes Rust-whitespace code points from either end.
std::string strip(std::string_view text, bool left, bool right) {
  size_t begin = 0, end = text.size();
  if (left) {
    while (begin < end) {
      size_t pos = begin;
      if (!is_whitespace(next_code_point(text, pos))) break;
      begin = pos;
    }
  }
  if (right) {
    while (end > begin) {
      size_t start = end - 1;
      while (start > begin && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
      size_t pos = start;
      if (!is_whitespace(next_code_point(text, pos))) break;
      end = start;
    }
  }
  return std::string(text.substr(begin, end - begin));
}

}  // namespace

Normalizer Normalizer::from_json(const nlohmann::json& json, const std::string& file) {
  Normalizer n;
  if (!json.is_null()) n.add_json(json, file);
  return n;
}

void Normalizer::add_json(const nlohmann::json& json, const std::string& file) {
  auto type = stage_type(json, "normalizer", file);
  const io::JsonFields in(json, file + " normalizer", "tokenizer");
  if (type == "Sequence") {
    for (const auto& step : json.value("normalizers", nlohmann::json::array())) add_json(step, file);
  } else if (type == "NFC") {
    add_form(NormalForm::nfc);
  } else if (type == "NFD") {
    add_form(NormalForm::nfd);
  } else if (type == "NFKC") {
    add_form(NormalForm::nfkc);
  } else if (type == "NFKD") {
    add_form(NormalForm::nfkd);
  } else if (type == "Lowercase") {
    steps_.push_back({Kind::lowercase});
  } else if (type == "StripAccents") {
    steps_.push_back({Kind::strip_accents});
  } else if (type == "Strip") {
    steps_.push_back({Kind::strip, {}, in.get("strip_left", false), in.get("strip_right", false)});
  } else if (type == "Replace") {
    steps_.push_back({Kind::replace, {}, false, false,
                      Pattern::from_json(member(json, "pattern"), file + " normalizer"),
                      in.get<std::string>("content", "")});
  } else if (type == "Prepend") {
    add_prepend(in.get<std::string>("prepend", ""));
  } else {
    fail("[tokenizer] {}: unsupported normalizer type '{}' (supported: NFC, NFD, NFKC, NFKD, "
         "Lowercase, StripAccents, Strip, Replace, Prepend, Sequence)",
         file, type);
  }
}

Normalizer& Normalizer::add_form(NormalForm form) {
  steps_.push_back({Kind::form, form});
  return *this;
}

Normalizer& Normalizer::add_prepend(std::string prefix) {
  steps_.push_back({Kind::prepend, {}, false, false, Pattern(), std::move(prefix)});
  return *this;
}

Normalizer& Normalizer::add_replace(std::string from, std::string to) {
  steps_.push_back({Kind::replace, {}, false, false, Pattern::literal(std::move(from)), std::move(to)});
  return *this;
}

std::string Normalizer::apply(std::string_view text) const {
  std::string s(text);
  for (const auto& step : steps_) {
    switch (step.kind) {
      case Kind::form: s = normalize_unicode(s, step.form); break;
      case Kind::lowercase: s = lowercase_unicode(s); break;
      case Kind::strip_accents: s = strip_accents(s); break;
      case Kind::strip: s = strip(s, step.left, step.right); break;
      case Kind::replace: s = replace_all(s, step.pattern, step.content); break;
      case Kind::prepend:
        // `tokenizers` prepends only to non-empty text.
        if (!s.empty()) s = step.content + s;
        break;
    }
  }
  return s;
}

}  // namespace vktrain::data
