#include "data/tokenizer_gguf_spm.hpp"

#include <algorithm>
#include <queue>
#include <unordered_set>

#include "base/error.hpp"

namespace vktrain::data {
namespace {

using namespace gguf_token_type;

// llama.cpp names an empty token "[EMPTY_<id>]" when it loads a vocabulary.
std::string token_text(const GgufVocab& v, size_t id) {
  return v.tokens[id].empty() ? fmt::format("[EMPTY_{}]", id) : v.tokens[id];
}

int32_t type_of(const GgufVocab& v, size_t id) {
  return id < v.token_types.size() ? v.token_types[id] : 1;
}

// Texts llama.cpp makes control tokens whatever their type, when it looks for end-of-generation
// and fill-in-the-middle tokens by text (llama_vocab::impl::load), and the gpt-oss tokens it makes
// user-defined: either way they are cut out of the raw text. (For fill-in-the-middle it takes
// only the first of a list that it finds in its hash map, where the file names none; we take
// every one, which differs only for a vocabulary with two such texts as normal tokens.)
bool llama_cpp_makes_special(std::string_view text) {
  static const std::unordered_set<std::string_view> kTexts = {
      "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
      "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
      "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
      "<\uFF5Cend\u2581of\u2581sentence\uFF5C>", "[e~[",
      "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<\uFF5Cfim\u2581begin\uFF5C>", "<PRE>",
      "\u2581<PRE>", "<|code_prefix|>", "<|prefix|>",
      "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<\uFF5Cfim\u2581hole\uFF5C>", "<SUF>",
      "\u2581<SUF>", "<|code_suffix|>", "<|suffix|>",
      "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<\uFF5Cfim\u2581end\uFF5C>", "<MID>",
      "\u2581<MID>", "<|code_middle|>", "<|middle|>",
      "<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]",
      "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>", "<|file_sep|>",
      "<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"};
  return kTexts.count(text) > 0;
}

// Bytes of the UTF-8 sequence that `lead` starts, by its high nibble alone as llama.cpp counts
// them: continuation and invalid bytes are symbols of their own, 0xF8..0xFF claim four bytes.
size_t symbol_length(unsigned char lead) {
  static constexpr uint8_t kLength[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLength[lead >> 4];
}

void append_escaped(std::string& out, std::string_view text) {
  for (char c : text) {
    if (c == ' ')
      out += "\u2581";
    else
      out += c;
  }
}

}  // namespace

SpecialTokenSplitter::SpecialTokenSplitter(const GgufVocab& v) {
  std::unordered_map<std::string, uint32_t> index;
  std::vector<std::string> text_by_id(v.tokens.size());
  for (size_t id = 0; id < v.tokens.size(); ++id) {
    int32_t type = type_of(v, id);
    text_by_id[id] = token_text(v, id);
    if (type != kControl && type != kUnknown && type != kUserDefined &&
        !llama_cpp_makes_special(text_by_id[id]))
      continue;
    order_.push_back(int32_t(id));
  }
  // The same unstable sort on the same ids as llama.cpp, so that tokens of equal length are
  // tried in its order (with the same standard library).
  std::sort(order_.begin(), order_.end(), [&](int32_t a, int32_t b) {
    return text_by_id[size_t(a)].size() > text_by_id[size_t(b)].size();
  });
  for (int32_t id : order_) {
    auto [it, inserted] = index.try_emplace(text_by_id[size_t(id)], uint32_t(texts_.size()));
    if (inserted) {
      texts_.push_back(it->first);
      trie_.add(it->first, it->second);
    }
    text_of_.push_back(it->second);
  }
}

std::vector<TextSegment> SpecialTokenSplitter::split(std::string_view text) const {
  std::vector<TextSegment> segments;
  if (text.empty()) return segments;
  segments.push_back({0, text.size(), -1});
  // Only the tokens that occur somewhere in the text can cut it: one trie walk finds them.
  std::vector<char> present(texts_.size(), 0);
  std::vector<int32_t> found;
  for (size_t pos = 0; pos < text.size(); ++pos) {
    if (!trie_.first_bytes[static_cast<unsigned char>(text[pos])]) continue;
    found.clear();
    trie_.all_at(text, pos, found);
    for (int32_t i : found) present[size_t(i)] = 1;
  }
  std::vector<TextSegment> next;
  for (size_t k = 0; k < order_.size(); ++k) {
    if (!present[text_of_[k]]) continue;
    const std::string& token = texts_[text_of_[k]];
    next.clear();
    for (const auto& s : segments) {
      if (s.id >= 0) {
        next.push_back(s);
        continue;
      }
      size_t from = s.start;
      for (size_t at; (at = text.substr(0, s.end).find(token, from)) != std::string_view::npos;) {
        if (at > from) next.push_back({from, at, -1});
        next.push_back({at, at + token.size(), order_[k]});
        from = at + token.size();
      }
      if (from < s.end) next.push_back({from, s.end, -1});
    }
    segments.swap(next);
  }
  return segments;
}

SpmTokenizer::SpmTokenizer(const GgufVocab& v)
    : specials_(v), add_space_prefix_(v.add_space_prefix) {
  scores_ = v.scores;
  scores_.resize(v.tokens.size(), 0.0f);  // llama.cpp scores every token 0 when there are none
  ids_.reserve(v.tokens.size());
  for (size_t id = 0; id < v.tokens.size(); ++id)
    ids_.insert_or_assign(token_text(v, id), int32_t(id));  // a repeated text: the later id
  byte_tokens_.assign(256, -1);
  for (int b = 0; b < 256; ++b) {
    auto id = find(fmt::format("<0x{:02X}>", b));
    if (!id) id = find(std::string(1, char(b)));
    if (id) byte_tokens_[size_t(b)] = *id;
  }
  if (v.add_bos && v.bos) prefix_ = v.bos;
  if (v.add_eos && v.eos) suffix_ = v.eos;
}

std::optional<int32_t> SpmTokenizer::find(std::string_view text) const {
  auto it = ids_.find(text);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

int32_t SpmTokenizer::byte_token(unsigned char byte) const {
  int32_t id = byte_tokens_[byte];
  if (id < 0)
    fail("[tokenizer] GGUF vocabulary: byte 0x{:02X} of the text has no token (neither "
         "\"<0x{:02X}>\" nor the byte itself), so this vocabulary cannot encode it",
         byte, byte);
  return id;
}

std::vector<int32_t> SpmTokenizer::encode(std::string_view text, bool add_special_tokens) const {
  std::vector<int32_t> ids;
  if (add_special_tokens && prefix_) ids.push_back(*prefix_);
  bool after_special = true;
  std::string piece;
  for (const auto& segment : specials_.split(text)) {
    if (segment.id >= 0) {
      ids.push_back(segment.id);
      after_special = true;
      continue;
    }
    piece.clear();
    if (add_space_prefix_ && after_special) piece = "\u2581";
    append_escaped(piece, text.substr(segment.start, segment.end - segment.start));
    encode_piece(piece, ids);
    after_special = false;
  }
  if (add_special_tokens && suffix_) ids.push_back(*suffix_);
  return ids;
}

// Merging only ever joins symbols into a token, so every symbol left at the end is a token or
// one of the starting symbols; llama.cpp's split-back of merged symbols never finds anything to
// split, and is left out.
void SpmTokenizer::encode_piece(std::string_view text, std::vector<int32_t>& out) const {
  struct Symbol {
    size_t start, length;
    int32_t prev, next;
  };
  struct Bigram {
    float score;
    int32_t left, right;
    size_t length;
  };
  // The highest score first, then the leftmost pair.
  auto later = [](const Bigram& a, const Bigram& b) {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  };
  std::vector<Symbol> symbols;
  for (size_t pos = 0; pos < text.size();) {
    size_t length = std::min(symbol_length(static_cast<unsigned char>(text[pos])), text.size() - pos);
    int32_t index = int32_t(symbols.size());
    symbols.push_back({pos, length, index - 1, pos + length == text.size() ? -1 : index + 1});
    pos += length;
  }
  std::priority_queue<Bigram, std::vector<Bigram>, decltype(later)> queue(later);
  auto try_pair = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const auto& l = symbols[size_t(left)];
    size_t length = l.length + symbols[size_t(right)].length;
    if (auto id = find(text.substr(l.start, length)))
      queue.push({scores_[size_t(*id)], left, right, length});
  };
  for (int32_t i = 1; i < int32_t(symbols.size()); ++i) try_pair(i - 1, i);
  while (!queue.empty()) {
    Bigram pair = queue.top();
    queue.pop();
    auto& left = symbols[size_t(pair.left)];
    auto& right = symbols[size_t(pair.right)];
    // Stale: one side has merged since the pair was queued.
    if (left.length == 0 || right.length == 0 || left.length + right.length != pair.length)
      continue;
    left.length += right.length;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[size_t(right.next)].prev = pair.left;
    try_pair(left.prev, pair.left);
    try_pair(pair.left, left.next);
  }
  for (int32_t i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[size_t(i)].next) {
    const auto& s = symbols[size_t(i)];
    std::string_view piece = text.substr(s.start, s.length);
    if (auto id = find(piece)) {
      out.push_back(*id);
      continue;
    }
    for (char byte : piece) out.push_back(byte_token(static_cast<unsigned char>(byte)));
  }
}

}  // namespace vktrain::data
