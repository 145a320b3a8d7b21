#pragma once
// The regular expressions of tokenizer.json files (pre-tokenizer splits, Replace normalizers),
// compiled by PCRE2 with PCRE2_UTF | PCRE2_UCP. For the patterns tokenizers use (\p{L}, \p{N},
// \s, (?i:...) groups, look-ahead, counted repeats) this matches Oniguruma, which Hugging Face
// `tokenizers` uses. The compiled pattern is immutable; each search makes its own match data,
// so one Regex may be shared between threads.
#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

namespace vktrain::data {

class Regex {
 public:
  // `where` names the file and field for errors: "[tokenizer] <where>: bad regex ...".
  Regex(const std::string& pattern, const std::string& where);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Calls found(start, end) for each non-overlapping match, left to right, in valid UTF-8 text.
  // An empty match right where the previous match ended is skipped, as Oniguruma's iterator does.
  void find_all(std::string_view text, const std::function<void(size_t, size_t)>& found) const;


 private:
  struct Code;
  std::unique_ptr<Code> code_;
};

// A tokenizer.json "pattern": {"String": literal} or {"Regex": pattern}. Literals are searched
// directly: Gemma replaces every space of a whole document, and a regex would only be slower.
class Pattern {
 public:
  Pattern() = default;
  static Pattern from_json(const nlohmann::json& json, const std::string& where);
  static Pattern literal(std::string text);
  static Pattern regex(const std::string& pattern, const std::string& where);

  void find_all(std::string_view text, const std::function<void(size_t, size_t)>& found) const;

 private:
  std::string literal_;
  std::shared_ptr<const Regex> regex_;  // shared so pipelines holding a Pattern stay copyable
};

}  // namespace vktrain::data
