#pragma once
// The BPE model of Hugging Face `tokenizers`: a word starts as its code points (each looked up
// in the vocabulary, else byte-fallback tokens "<0xXX>", else the unknown token, fused if asked),
// then the adjacent pair with the lowest merge rank is merged until no pair has a merge. Ties go
// to the leftmost pair. A priority queue over (rank, position) with lazy invalidation makes a
// word of n code points cost O(n log n), which matters because Gemma-style tokenizers do not
// split text into words: a whole paragraph is one word.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace vktrain::data {

struct BpeOptions {
  bool byte_fallback = false;
  bool fuse_unk = false;
  bool ignore_merges = false;  // a word that is itself a token skips merging (Llama-3)
  std::optional<int32_t> unk;
  std::string continuing_subword_prefix, end_of_word_suffix;
};

struct BpeMerge {
  int32_t left, right, result;
  uint32_t rank;  // lower merges first
};

class BpeModel {
 public:
  BpeModel() = default;
  // `tokens[id]` is the token of id (empty where an id has none). When a string appears
  // twice, the later id wins, as in llama.cpp's GGUF vocabularies.
  BpeModel(std::vector<std::string> tokens, BpeOptions options);

  // A later merge of the same pair replaces an earlier one, as in `tokenizers`.
  void add_merges(const std::vector<BpeMerge>& merges);

  // The merges of a tokenizer.json or GGUF file, given as token pairs and ranked by position
  // (`continuing_subword_prefix` is dropped from the right token when concatenating). Fails
  // naming `file` when a token of a pair or its concatenation is not in the vocabulary.
  std::vector<BpeMerge> merges_from_pairs(
      const std::vector<std::pair<std::string_view, std::string_view>>& pairs,
      const std::string& file) const;

  void encode_word(std::string_view word, std::vector<int32_t>& out) const;

  std::optional<int32_t> token_id(std::string_view token) const;
  const std::string* token(int32_t id) const;  // nullptr when the model has no such id
  size_t size() const { return tokens_.size(); }

 private:
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct MergeTarget {
    uint32_t rank;
    int32_t result;
  };
  static uint64_t pair_key(int32_t left, int32_t right) {
    return (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
  }
  void initial_symbols(std::string_view word, std::vector<int32_t>& ids) const;

  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> ids_;
  std::unordered_map<uint64_t, MergeTarget> merges_;
  BpeOptions options_;
  std::array<int32_t, 256> byte_tokens_{};  // "<0xXX>" ids, -1 where missing
};

}  // namespace vktrain::data
