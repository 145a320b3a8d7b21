#define PCRE2_CODE_UNIT_WIDTH 8
#include "data/tokenizer_regex.hpp"

#include <pcre2.h>

#include <nlohmann/json.hpp>

#include "base/error.hpp"
#include "data/unicode.hpp"

namespace vktrain::data {

namespace {

// Oniguruma's \s is Unicode's White_Space; PCRE2's also takes U+180E, which left White_Space
// in Unicode 6.3. Spelling the set out makes both agree. It is a class body, so it works both
// alone (in brackets) and inside a class.
constexpr std::string_view kWhiteSpace =
    "\\t\\n\\x0B\\f\\r\\x20\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}"
    "\\x{205F}\\x{3000}";

std::string with_unicode_white_space(const std::string& pattern) {
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      char next = pattern[++i];
      if (next == 's')
        out += in_class ? std::string(kWhiteSpace) : "[" + std::string(kWhiteSpace) + "]";
      else if (next == 'S' && !in_class)
        out += "[^" + std::string(kWhiteSpace) + "]";
      else
        out += {c, next};
      continue;
    }
    if (c == '[' && !in_class) {
      in_class = true;
      out += c;
      // A ']' right after '[' or '[^' is a literal member, not the end of the class.
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];
      continue;
    }
    if (c == ']' && in_class) in_class = false;
    out += c;
  }
  return out;
}

}  // namespace

struct Regex::Code {
  pcre2_code* code = nullptr;
  ~Code() { pcre2_code_free(code); }
};

Regex::Regex(const std::string& pattern, const std::string& where) : code_(std::make_unique<Code>()) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  std::string rewritten = with_unicode_white_space(pattern);
  code_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(rewritten.data()), rewritten.size(),
                              PCRE2_UTF | PCRE2_UCP, &error, &offset, nullptr);
  if (!code_->code) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof(message));
    fail("[tokenizer] {}: cannot compile regex {} at offset {}: {}", where, pattern, offset,
         reinterpret_cast<const char*>(message));
  }
  // The JIT is several times faster on long texts; without it the interpreter still works.
  pcre2_jit_compile(code_->code, PCRE2_JIT_COMPLETE);
}

Regex::~Regex() = default;

void Regex::find_all(std::string_view text,
                     const std::function<void(size_t, size_t)>& found) const {
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> match(
      pcre2_match_data_create_from_pattern(code_->code, nullptr), &pcre2_match_data_free);
  auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0;
  bool matched_before = false;
  size_t last_end = 0;
  while (pos <= text.size()) {
    // Callers pass text already made valid UTF-8, so PCRE2 need not re-check it on every call
    // (that check alone would make a long text quadratic).
    int rc = pcre2_match(code_->code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, match.get(),
                         nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) return;
    if (rc < 0) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(rc, message, sizeof(message));
      fail("[tokenizer] regex search failed: {}", reinterpret_cast<const char*>(message));
    }
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match.get());
    size_t start = ovector[0], end = ovector[1];
    if (start == end) {
      if (!(matched_before && start == last_end)) found(start, end);
      if (end >= text.size()) return;
      pos = end + utf8_sequence_length(static_cast<unsigned char>(text[end]));
    } else {
      found(start, end);
      pos = end;
    }
    matched_before = true;
    last_end = end;
  }
}

Pattern Pattern::literal(std::string text) {
  Pattern p;
  p.literal_ = std::move(text);
  return p;
}

Pattern Pattern::regex(const std::string& pattern, const std::string& where) {
  Pattern p;
  p.regex_ = std::make_shared<const Regex>(pattern, where);
  return p;
}

Pattern Pattern::from_json(const nlohmann::json& json, const std::string& where) {
  if (json.is_object() && json.contains("String") && json["String"].is_string())
    return literal(json["String"].get<std::string>());
  if (json.is_object() && json.contains("Regex") && json["Regex"].is_string())
    return regex(json["Regex"].get<std::string>(), where);
  fail("[tokenizer] {}: pattern must be {{\"String\": ...}} or {{\"Regex\": ...}}, got {}", where,
       json.dump());
}

void Pattern::find_all(std::string_view text,
                       const std::function<void(size_t, size_t)>& found) const {
  if (regex_) return regex_->find_all(text, found);
  if (literal_.empty()) return;  // an empty literal matches nothing, as in `tokenizers`
  for (size_t pos = text.find(literal_); pos != std::string_view::npos;
       pos = text.find(literal_, pos + literal_.size()))
    found(pos, pos + literal_.size());
}

}  // namespace vktrain::data
