#include "data/batches.hpp"

#include <algorithm>

#include "base/error.hpp"
#include "base/random.hpp"

namespace vktrain::data {

int64_t count_targets(const HostBatch& batch) {
  int64_t n = 0;
  for (int32_t t : batch.targets) n += t >= 0;
  return n;
}

int64_t count_tokens(const HostBatch& batch) {
  if (batch.documents.empty()) return batch.batch * batch.time;
  int64_t n = 0;
  for (int32_t d : batch.documents) n += d >= 0;
  return n;
}

std::vector<size_t> shuffled_order(size_t n, uint64_t seed) {
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  uint64_t state = seed;
  for (size_t i = n; i > 1; --i) std::swap(order[i - 1], order[splitmix64(state) % i]);
  return order;
}

Batcher::Batcher(std::vector<TokenSequence> examples, const BatchingOptions& options)
    : examples_(std::move(examples)), options_(options) {
  if (options.batch < 1 || options.time < 2)
    fail("[data] batches need at least 1 row of 2 tokens (got {}x{})", options.batch,
         options.time);
  std::erase_if(examples_, [](const TokenSequence& e) { return e.tokens.size() < 2; });
  if (examples_.empty()) fail("[data] no example has two or more tokens");
  for (auto& e : examples_) {
    if (!e.trained.empty() && e.trained.size() != e.tokens.size())
      fail("[data] an example has {} tokens but {} loss-mask entries", e.tokens.size(),
           e.trained.size());
    if (int64_t(e.tokens.size()) > options.time) {
      ++truncated_;
      e.tokens.resize(size_t(options.time));
      if (!e.trained.empty()) e.trained.resize(size_t(options.time));
    }
  }
}

const Batcher::Rows& Batcher::rows(int64_t epoch) const {
  if (epoch == cached_epoch_) return cached_rows_;
  std::vector<size_t> order = shuffled_order(examples_.size(), options_.seed + uint64_t(epoch));
  if (!options_.shuffle) std::sort(order.begin(), order.end());
  cached_rows_.clear();
  int64_t used = options_.time;  // forces a new row first
  for (size_t e : order) {
    int64_t length = int64_t(examples_[e].tokens.size());
    if (!options_.pack || used + length > options_.time) {
      cached_rows_.emplace_back();
      used = 0;
    }
    cached_rows_.back().push_back({e, used});
    used += length;
  }
  cached_epoch_ = epoch;
  return cached_rows_;
}

int64_t Batcher::batches_in_epoch(int64_t epoch) const {
  int64_t n = int64_t(rows(epoch).size());
  return (n + options_.batch - 1) / options_.batch;
}

HostBatch Batcher::batch(int64_t epoch, int64_t index) const {
  const Rows& all = rows(epoch);
  const int64_t B = options_.batch, T = options_.time;
  HostBatch b;
  b.batch = B;
  b.time = T;
  const size_t n = size_t(B * T);
  b.ids.assign(n, options_.pad_id);
  b.targets.assign(n, -100);
  b.positions.assign(n, 0);
  b.documents.assign(n, -1);  // padding: a document of its own
  for (int64_t r = 0; r < B; ++r) {
    size_t row = size_t(index * B + r);
    if (row >= all.size()) break;
    int32_t document = 0;
    for (const Piece& piece : all[row]) {
      const TokenSequence& e = examples_[piece.example];
      const int64_t length = int64_t(e.tokens.size());
      for (int64_t t = 0; t < length; ++t) {
        size_t at = size_t(r * T + piece.start + t);
        b.ids[at] = e.tokens[size_t(t)];
        b.positions[at] = int32_t(t);
        b.documents[at] = document;
        bool counts = t + 1 < length && (e.trained.empty() || e.trained[size_t(t + 1)]);
        if (counts) b.targets[at] = e.tokens[size_t(t + 1)];
      }
      ++document;
    }
  }
  return b;
}

}  // namespace vktrain::data
