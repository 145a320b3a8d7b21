#pragma once
// Tokenized examples into micro-batches of B rows x T tokens (HostBatch, batch.hpp), by a seeded
// order that is reshuffled every epoch, so batch (epoch, index) is a pure function of the data,
// the options and those two numbers: resuming needs only the position.
//  - Packing (the default): examples are laid one after another into rows; an example that does
//    not fit the rest of a row starts the next one. Each keeps its own document id and positions
//    from 0, so attention never crosses examples (DESIGN.md "Data").
//  - Without packing each example has a row of its own.
// Rows are right-padded (ignored targets). An example longer than T keeps its first T tokens;
// truncated() counts them so the caller can report it.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "data/batch.hpp"

namespace vktrain::data {

struct TokenSequence {
  std::vector<int32_t> tokens;
  // trained[i]: predicting tokens[i] counts in the loss (trained[0] is never used). Empty: all.
  std::vector<uint8_t> trained;
};

struct BatchingOptions {
  int64_t batch = 1, time = 1;  // B, T
  bool pack = true;
  bool shuffle = true;
  uint64_t seed = 0;
  int32_t pad_id = 0;
};

class Batcher {
 public:
  Batcher(std::vector<TokenSequence> examples, const BatchingOptions& options);

  int64_t batches_in_epoch(int64_t epoch) const;
  HostBatch batch(int64_t epoch, int64_t index) const;
  int64_t truncated() const { return truncated_; }
  int64_t examples() const { return int64_t(examples_.size()); }

 private:
  struct Piece {
    size_t example;
    int64_t start;  // column in the row
  };
  using Rows = std::vector<std::vector<Piece>>;
  const Rows& rows(int64_t epoch) const;

  std::vector<TokenSequence> examples_;
  BatchingOptions options_;
  int64_t truncated_ = 0;
  mutable int64_t cached_epoch_ = -1;
  mutable Rows cached_rows_;
};

// A seeded permutation of 0 .. n-1, the same on every platform (std::shuffle is not).
std::vector<size_t> shuffled_order(size_t n, uint64_t seed);

}  // namespace vktrain::data
