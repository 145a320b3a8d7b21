#pragma once
// Added tokens (special tokens such as "<|im_start|>", and user-added ones): found in the text
// before the model sees it, each becoming one id. As in `tokenizers`, tokens with
// normalized = false are matched in the raw text, the others in the normalized text; matching is
// leftmost-longest; single_word rejects a match touching a word character; lstrip / rstrip
// widen a match over the whitespace beside it.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace vktrain::data {

struct AddedToken {
  std::string content;
  int32_t id = 0;
  bool special = false, single_word = false, lstrip = false, rstrip = false, normalized = false;
};

// A piece of text: either an added token (id >= 0) or text for the model (id < 0).
struct TextSegment {
  size_t start, end;
  int32_t id;
};

// A byte trie over token contents; `terminal[node]` is the token ending there, or -1.
struct ByteTrie {
  std::unordered_map<uint64_t, uint32_t> edges;  // (node << 8 | byte) -> child
  std::vector<int32_t> terminal{-1};
  bool first_bytes[256] = {};
  // A second content equal to an earlier one is ignored: the first keeps it.
  void add(const std::string& content, size_t token);
  // The longest token starting at `pos`, or -1; sets `end` to where it stops.
  int32_t longest_at(std::string_view text, size_t pos, size_t& end) const;
  // Every token starting at `pos`, shortest first.
  void all_at(std::string_view text, size_t pos, std::vector<int32_t>& out) const;
};

class AddedVocabulary {
 public:
  AddedVocabulary() = default;
  // `normalize` maps a normalized token's content to the form it has in normalized text.
  template <typename Normalize>
  AddedVocabulary(std::vector<AddedToken> tokens, Normalize&& normalize) : tokens_(std::move(tokens)) {
    for (size_t i = 0; i < tokens_.size(); ++i) {
      const auto& t = tokens_[i];
      by_id_[t.id] = i;
      by_content_.try_emplace(t.content, t.id);
      if (t.normalized)
        normalized_.add(normalize(t.content), i);
      else
        raw_.add(t.content, i);
    }
  }

  // Cuts raw text (or normalized text) at the added tokens matched there.
  std::vector<TextSegment> split_raw(std::string_view text) const { return split(text, raw_); }
  std::vector<TextSegment> split_normalized(std::string_view text) const {
    return split(text, normalized_);
  }

  const AddedToken* find(int32_t id) const;
  std::optional<int32_t> find(std::string_view content) const;
  const std::vector<AddedToken>& tokens() const { return tokens_; }

 private:
  using Trie = ByteTrie;
  std::vector<TextSegment> split(std::string_view text, const Trie& trie) const;

  std::vector<AddedToken> tokens_;
  std::unordered_map<int32_t, size_t> by_id_;
  std::unordered_map<std::string, int32_t> by_content_;
  Trie raw_, normalized_;
};

}  // namespace vktrain::data
