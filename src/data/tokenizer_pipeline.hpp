#pragma once
// What a Tokenizer is made of, in the order text flows through it. Internal to src/data: the
// loaders (tokenizer.json, GGUF) fill it in, tokenizer.cpp runs it.
#include <optional>
#include <string>
#include <vector>

#include "data/bpe.hpp"
#include "data/normalizer.hpp"
#include "data/pretokenizer.hpp"
#include "data/tokenizer_added.hpp"
#include "data/tokenizer_decoder.hpp"
#include "data/tokenizer_gguf_spm.hpp"

namespace vktrain::data {

struct TokenizerPipeline {
  std::string source;  // the file (or "GGUF vocabulary") named in errors
  AddedVocabulary added;
  Normalizer normalizer;
  PreTokenizer pre_tokenizer;
  BpeModel model;
  Decoder decoder;
  std::vector<int32_t> prefix, suffix;  // what add_special_tokens puts around the ids
  std::optional<int32_t> bos, eos, pad;
  // Set for a "llama" GGUF vocabulary: encoding is llama.cpp's instead of the stages above
  // (decoding and lookups still use them).
  std::optional<SpmTokenizer> spm;
  // Set for a "gpt2" GGUF vocabulary: special tokens are cut out of the text as llama.cpp does
  // (longest first, and the texts it makes control tokens), not as `added` matches them.
  std::optional<SpecialTokenSplitter> gguf_specials;
};

}  // namespace vktrain::data
