#pragma once
// The decoder stage of a tokenizer.json: turns the tokens of ids back into text. Supported
// types, with the semantics of Hugging Face `tokenizers`: ByteLevel, Replace, ByteFallback,
// Fuse, Strip, Metaspace and Sequence; without a decoder, tokens are joined with spaces. Any
// other type is an error that names it.
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "data/tokenizer_regex.hpp"

namespace vktrain::data {

class Decoder {
 public:
  // `json` is the "decoder" field (null for none); `file` names the source in errors.
  static Decoder from_json(const nlohmann::json& json, const std::string& file);

  // Steps for vocabularies that come without a tokenizer.json (GGUF).
  Decoder& add_byte_level();
  Decoder& add_replace(std::string from, std::string to);
  Decoder& add_byte_fallback();
  Decoder& add_fuse();
  Decoder& add_strip(std::string content, size_t start, size_t stop);

  std::string decode(std::vector<std::string> tokens) const;

 private:
  enum class Kind { byte_level, replace, byte_fallback, fuse, strip, metaspace };
  struct Step {
    Kind kind;
    Pattern pattern;        // replace
    std::string content;    // replace: replacement; strip: the character; metaspace: "▁"
    size_t start = 0, stop = 0;  // strip
    bool drop_first = true;      // metaspace: prepend_scheme is not "never"
  };
  void add_json(const nlohmann::json& json, const std::string& file);
  Decoder& add(Step step);
  void run(const Step& step, std::vector<std::string>& tokens) const;
  std::vector<Step> steps_;
  bool configured_ = false;  // false: no decoder at all, tokens are joined with spaces
};

}  // namespace vktrain::data
