#pragma once
// The pre-tokenizer stage of a tokenizer.json: cuts normalized text into the words the model
// encodes one by one, and may rewrite them (ByteLevel maps bytes to printable stand-ins,
// Metaspace turns spaces into "▁"). Supported types, with the semantics of Hugging Face
// `tokenizers`: Split (all five delimiter behaviours, invert), ByteLevel, Metaspace, Digits,
// Whitespace, WhitespaceSplit and Sequence. Any other type is an error that names it.
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "data/tokenizer_regex.hpp"

namespace vktrain::data {

// A word and whether it begins the input text (Metaspace's prepend_scheme "first" needs that).
struct PreToken {
  std::string text;
  bool at_start = false;
};

enum class SplitBehavior { removed, isolated, merged_with_previous, merged_with_next, contiguous };

// The regexes byte-level vocabularies pre-tokenize with (GPT-2's is ByteLevel's own).
inline constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
inline constexpr const char* kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
inline constexpr const char* kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

class PreTokenizer {
 public:
  // `json` is the "pre_tokenizer" field (null for none); `file` names the source in errors.
  static PreTokenizer from_json(const nlohmann::json& json, const std::string& file);

  // Steps for vocabularies that come without a tokenizer.json (GGUF).
  PreTokenizer& add_split(Pattern pattern, SplitBehavior behavior, bool invert = false);
  PreTokenizer& add_byte_level(bool add_prefix_space, bool use_regex);

  // Appends the words of `text` (one piece of normalized text) to `out`.
  void split(std::string_view text, bool at_start, std::vector<PreToken>& out) const;

 private:
  enum class Kind { split, byte_level, metaspace };
  enum class Prepend { always, first, never };
  struct Step {
    Kind kind;
    Pattern pattern;                        // split on matches of this, or else
    bool (*char_class)(char32_t) = nullptr;  // split on each code point of this class
    SplitBehavior behavior = SplitBehavior::isolated;
    bool invert = false;
    bool add_prefix_space = false;  // byte_level
    std::string replacement;        // metaspace
    Prepend prepend = Prepend::always;
    bool split = true;
  };
  void add_json(const nlohmann::json& json, const std::string& file);
  void run(const Step& step, std::vector<PreToken>& words) const;
  std::vector<Step> steps_;
};

}  // namespace vktrain::data
