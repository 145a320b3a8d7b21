#include "data/tokenizer_added.hpp"

#include "data/unicode.hpp"

namespace vktrain::data {
namespace {

// The code point that ends at `end` (which must be > 0).
char32_t code_point_before(std::string_view text, size_t end) {
  size_t start = end - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
  return next_code_point(text, start);
}

char32_t code_point_at(std::string_view text, size_t pos) { return next_code_point(text, pos); }

}  // namespace

void ByteTrie::add(const std::string& content, size_t token) {
  if (content.empty()) return;  // `tokenizers` ignores empty added tokens
  uint32_t node = 0;
  for (unsigned char b : content) {
    auto [it, inserted] = edges.try_emplace((uint64_t(node) << 8) | b, uint32_t(terminal.size()));
    if (inserted) terminal.push_back(-1);
    node = it->second;
  }
  // Two tokens with one content: the first keeps it (its id is what `tokenizers` maps it to).
  if (terminal[node] < 0) terminal[node] = int32_t(token);
  first_bytes[static_cast<unsigned char>(content[0])] = true;
}

int32_t ByteTrie::longest_at(std::string_view text, size_t pos, size_t& end) const {
  int32_t best = -1;
  uint32_t node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    auto it = edges.find((uint64_t(node) << 8) | static_cast<unsigned char>(text[i]));
    if (it == edges.end()) break;
    node = it->second;
    if (terminal[node] >= 0) {
      best = terminal[node];
      end = i + 1;
    }
  }
  return best;
}

void ByteTrie::all_at(std::string_view text, size_t pos, std::vector<int32_t>& out) const {
  uint32_t node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    auto it = edges.find((uint64_t(node) << 8) | static_cast<unsigned char>(text[i]));
    if (it == edges.end()) return;
    node = it->second;
    if (terminal[node] >= 0) out.push_back(terminal[node]);
  }
}

const AddedToken* AddedVocabulary::find(int32_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

std::optional<int32_t> AddedVocabulary::find(std::string_view content) const {
  auto it = by_content_.find(std::string(content));
  if (it == by_content_.end()) return std::nullopt;
  return it->second;
}

std::vector<TextSegment> AddedVocabulary::split(std::string_view text, const Trie& trie) const {
  std::vector<TextSegment> segments;
  size_t covered = 0;  // end of the last segment emitted
  for (size_t pos = 0; pos < text.size();) {
    size_t stop = 0;
    int32_t index = trie.first_bytes[static_cast<unsigned char>(text[pos])]
                        ? trie.longest_at(text, pos, stop)
                        : -1;
    if (index < 0) {
      ++pos;
      continue;
    }
    const auto& token = tokens_[index];
    size_t start = pos;
    pos = stop;  // matches never overlap: the search resumes after this one, used or not
    if (token.single_word) {
      bool word_before = start > 0 && is_word_char(code_point_before(text, start));
      bool word_after = stop < text.size() && is_word_char(code_point_at(text, stop));
      if (word_before || word_after) continue;
    }
    if (token.lstrip) {
      size_t s = start;
      while (s > 0 && is_whitespace(code_point_before(text, s))) {
        --s;
        while (s > 0 && (static_cast<unsigned char>(text[s]) & 0xC0) == 0x80) --s;
      }
      start = std::max(s, covered);  // whitespace already taken by the previous match stays there
    }
    if (token.rstrip) {
      while (stop < text.size()) {
        size_t next = stop;
        if (!is_whitespace(next_code_point(text, next))) break;
        stop = next;
      }
    }
    if (covered < start) segments.push_back({covered, start, -1});
    segments.push_back({start, stop, token.id});
    covered = stop;
  }
  if (covered < text.size()) segments.push_back({covered, text.size(), -1});
  return segments;
}

}  // namespace vktrain::data
