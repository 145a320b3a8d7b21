#pragma once
// llama.cpp's tokenizer for "llama" (SentencePiece) GGUF vocabularies, so that a GGUF model
// trains on the ids llama.cpp feeds it (llm_tokenizer_spm and tokenizer_st_partition in its
// llama-vocab.cpp). It is not the tokenizer.json BPE of `tokenizers`, and differs from it:
//  - Control, unknown and user-defined tokens are cut out of the raw text first: the longest
//    token text first, each of its occurrences left to right, then the next longest in what is
//    left. (No lstrip/rstrip: llama.cpp sets those only for a few models by name, none SPM but
//    Phi-3.)
//  - Each piece of text left gets a " " in front when tokenizer.ggml.add_space_prefix is set
//    (llama.cpp's default) and it opens the text or follows a cut-out token; its spaces become
//    "▁"; it is split into symbols by UTF-8 lead byte, without validating the bytes.
//  - Adjacent symbols whose concatenation is any token of the vocabulary merge, the pair whose
//    token has the higher score first, ties to the leftmost pair, until no pair is a token.
//  - A symbol that is no token becomes byte tokens: "<0xXX>", else the byte itself as a token.
//  - add_special_tokens puts bos in front when tokenizer.ggml.add_bos_token (default true) and
//    eos behind when tokenizer.ggml.add_eos_token.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "data/tokenizer.hpp"
#include "data/tokenizer_added.hpp"

namespace vktrain::data {

// llama.cpp's cutting of special tokens out of raw text (tokenizer_st_partition with
// parse_special), for the control (3), unknown (2) and user-defined (4) tokens of a vocabulary
// and those llama.cpp makes control tokens by their text (end of turn, fill-in-the-middle).
class SpecialTokenSplitter {
 public:
  SpecialTokenSplitter() = default;
  explicit SpecialTokenSplitter(const GgufVocab& vocab);
  std::vector<TextSegment> split(std::string_view text) const;

 private:
  std::vector<std::string> texts_;  // distinct special texts
  std::vector<int32_t> order_;      // special ids in the order llama.cpp tries them
  std::vector<uint32_t> text_of_;   // order_[i]'s index in texts_
  ByteTrie trie_;                   // over texts_, to skip tokens the text does not contain
};

class SpmTokenizer {
 public:
  SpmTokenizer() = default;
  explicit SpmTokenizer(const GgufVocab& vocab);
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens) const;

 private:
  void encode_piece(std::string_view text, std::vector<int32_t>& out) const;
  int32_t byte_token(unsigned char byte) const;
  std::optional<int32_t> find(std::string_view text) const;

  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> ids_;
  std::vector<float> scores_;
  std::vector<int32_t> byte_tokens_;  // per byte, -1 where the vocabulary has none
  SpecialTokenSplitter specials_;
  bool add_space_prefix_ = true;
  std::optional<int32_t> prefix_, suffix_;
};

}  // namespace vktrain::data
