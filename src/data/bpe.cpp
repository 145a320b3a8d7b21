#include "data/bpe.hpp"

#include <queue>

#include "base/error.hpp"
#include "data/unicode.hpp"

namespace vktrain::data {

BpeModel::BpeModel(std::vector<std::string> tokens, BpeOptions options)
    : tokens_(std::move(tokens)), options_(std::move(options)) {
  ids_.reserve(tokens_.size());
  for (size_t id = 0; id < tokens_.size(); ++id)
    if (!tokens_[id].empty()) ids_.insert_or_assign(tokens_[id], int32_t(id));
  for (int b = 0; b < 256; ++b) {
    auto id = token_id(fmt::format("<0x{:02X}>", b));
    byte_tokens_[b] = id ? *id : -1;
  }
}

void BpeModel::add_merges(const std::vector<BpeMerge>& merges) {
  merges_.reserve(merges_.size() + merges.size());
  for (const auto& m : merges) merges_.insert_or_assign(pair_key(m.left, m.right), MergeTarget{m.rank, m.result});
}

std::vector<BpeMerge> BpeModel::merges_from_pairs(
    const std::vector<std::pair<std::string_view, std::string_view>>& pairs,
    const std::string& file) const {
  std::vector<BpeMerge> merges;
  merges.reserve(pairs.size());
  const auto& prefix = options_.continuing_subword_prefix;
  std::string joined;
  for (size_t i = 0; i < pairs.size(); ++i) {
    const auto& [left, right] = pairs[i];
    auto left_id = token_id(left), right_id = token_id(right);
    if (!left_id || !right_id)
      fail("[tokenizer] {}: merge {} '{} {}' uses '{}', which is not in the vocabulary", file, i,
           left, right, left_id ? right : left);
    joined = left;
    joined.append(right.substr(right.compare(0, prefix.size(), prefix) == 0 ? prefix.size() : 0));
    auto result = token_id(joined);
    if (!result)
      fail("[tokenizer] {}: merge {} '{} {}' makes '{}', which is not in the vocabulary", file, i,
           left, right, joined);
    merges.push_back({*left_id, *right_id, *result, uint32_t(i)});
  }
  return merges;
}

std::optional<int32_t> BpeModel::token_id(std::string_view token) const {
  auto it = ids_.find(token);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::token(int32_t id) const {
  if (id < 0 || size_t(id) >= tokens_.size() || tokens_[id].empty()) return nullptr;
  return &tokens_[id];
}

void BpeModel::initial_symbols(std::string_view word, std::vector<int32_t>& ids) const {
  // A pending unknown token, kept open so that neighbouring unknown code points fuse into it.
  std::optional<int32_t> unk;
  std::string piece;
  for (size_t pos = 0; pos < word.size();) {
    size_t start = pos;
    next_code_point(word, pos);
    piece.clear();
    if (start > 0) piece += options_.continuing_subword_prefix;
    piece.append(word.substr(start, pos - start));
    if (pos == word.size()) piece += options_.end_of_word_suffix;
    if (auto id = token_id(piece)) {
      if (unk) ids.push_back(*std::exchange(unk, std::nullopt));
      ids.push_back(*id);
      continue;
    }
    if (options_.byte_fallback) {
      bool all = true;
      for (unsigned char b : piece) all = all && byte_tokens_[b] >= 0;
      if (all) {
        // As in `tokenizers`, a pending unknown token is not flushed first.
        for (unsigned char b : piece) ids.push_back(byte_tokens_[b]);
        continue;
      }
    }
    if (options_.unk) {
      if (unk && !options_.fuse_unk) ids.push_back(*unk);
      unk = *options_.unk;
    }
  }
  if (unk) ids.push_back(*unk);
}

void BpeModel::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (options_.ignore_merges) {
    if (auto id = token_id(word)) {
      out.push_back(*id);
      return;
    }
  }
  std::vector<int32_t> ids;
  initial_symbols(word, ids);
  const int32_t n = int32_t(ids.size());
  // Symbols form a linked list; a merged-away symbol is marked dead.
  std::vector<int32_t> prev(n), next(n);
  std::vector<bool> alive(n, true);
  for (int32_t i = 0; i < n; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  struct Candidate {
    uint32_t rank;
    int32_t pos, result;
    bool operator<(const Candidate& o) const {  // max-heap: lowest rank, then leftmost, on top
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::vector<Candidate> storage;
  storage.reserve(n);
  std::priority_queue<Candidate> queue(std::less<Candidate>(), std::move(storage));
  auto lookup = [&](int32_t left, int32_t right) -> const MergeTarget* {
    auto it = merges_.find(pair_key(ids[left], ids[right]));
    return it == merges_.end() ? nullptr : &it->second;
  };
  auto push = [&](int32_t pos) {
    if (pos < 0 || next[pos] < 0) return;
    if (const auto* m = lookup(pos, next[pos])) queue.push({m->rank, pos, m->result});
  };
  for (int32_t i = 0; i + 1 < n; ++i) push(i);
  while (!queue.empty()) {
    Candidate top = queue.top();
    queue.pop();
    // Entries go stale when a neighbour merged since they were pushed; check they still hold.
    if (!alive[top.pos] || next[top.pos] < 0) continue;
    int32_t right = next[top.pos];
    const auto* m = lookup(top.pos, right);
    if (!m || m->result != top.result) continue;
    ids[top.pos] = top.result;
    alive[right] = false;
    next[top.pos] = next[right];
    if (next[right] >= 0) prev[next[right]] = top.pos;
    push(prev[top.pos]);
    push(top.pos);
  }
  for (int32_t i = 0; i < n; ++i)
    if (alive[i]) out.push_back(ids[i]);
}

}  // namespace vktrain::data
