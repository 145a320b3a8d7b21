#pragma once
// The normalizer stage of a tokenizer.json: a list of steps run on each piece of text between
// added tokens before pre-tokenization. Supported types, with the semantics of Hugging Face
// `tokenizers`: NFC, NFD, NFKC, NFKD (ICU), Lowercase, StripAccents, Strip, Replace (literal or
// regex), Prepend and Sequence. Any other type is an error that names it.
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "data/tokenizer_regex.hpp"
#include "data/unicode.hpp"

namespace vktrain::data {

class Normalizer {
 public:
  // `json` is the "normalizer" field (null for none); `file` names the source in errors.
  static Normalizer from_json(const nlohmann::json& json, const std::string& file);

  // Steps for vocabularies that come without a tokenizer.json (GGUF).
  Normalizer& add_form(NormalForm form);
  Normalizer& add_prepend(std::string prefix);
  Normalizer& add_replace(std::string from, std::string to);

  std::string apply(std::string_view text) const;
  bool empty() const { return steps_.empty(); }

 private:
  enum class Kind { form, lowercase, strip_accents, strip, replace, prepend };
  struct Step {
    Kind kind;
    NormalForm form = NormalForm::nfc;
    bool left = false, right = false;  // Strip
    Pattern pattern;                   // Replace
    std::string content;               // Replace: the replacement; Prepend: the prefix
  };
  void add_json(const nlohmann::json& json, const std::string& file);
  std::vector<Step> steps_;
};

}  // namespace vktrain::data
