// Examples into micro-batches: packing, padding, loss masks, truncation and seeded order.
#include <gtest/gtest.h>

#include "data/batches.hpp"
#include "support/support.hpp"

namespace vktrain {
namespace {

data::TokenSequence sequence(std::vector<int32_t> tokens, std::vector<uint8_t> trained = {}) {
  return {std::move(tokens), std::move(trained)};
}

TEST(Batches, PackingLaysExamplesIntoRowsAsSeparateDocuments) {
  data::Batcher b({sequence({10, 11, 12}), sequence({20, 21}), sequence({30, 31, 32, 33})},
                  {.batch = 2, .time = 6, .pack = true, .shuffle = false});
  ASSERT_EQ(b.batches_in_epoch(0), 1);
  data::HostBatch batch = b.batch(0, 0);
  // Row 0: [10 11 12 | 20 21 | pad]; row 1: [30 31 32 33 | pad pad] (4 tokens do not fit the
  // single free slot of row 0).
  using V = std::vector<int32_t>;
  EXPECT_EQ(batch.ids, (V{10, 11, 12, 20, 21, 0, 30, 31, 32, 33, 0, 0}));
  EXPECT_EQ(batch.positions, (V{0, 1, 2, 0, 1, 0, 0, 1, 2, 3, 0, 0}));
  EXPECT_EQ(batch.documents, (V{0, 0, 0, 1, 1, -1, 0, 0, 0, 0, -1, -1}));
  // The last token of each document predicts nothing: targets never cross documents.
  EXPECT_EQ(batch.targets, (V{11, 12, -100, 21, -100, -100, 31, 32, 33, -100, -100, -100}));
}

TEST(Batches, WithoutPackingEachExampleHasARowAndMasksHideUntrainedTokens) {
  data::Batcher b({sequence({1, 2, 3, 4}, {0, 0, 1, 1}), sequence({5, 6})},
                  {.batch = 1, .time = 5, .pack = false, .shuffle = false});
  ASSERT_EQ(b.batches_in_epoch(0), 2);
  using V = std::vector<int32_t>;
  // Token 2 is not trained, so position 0 (which predicts it) has no target.
  EXPECT_EQ(b.batch(0, 0).targets, (V{-100, 3, 4, -100, -100}));
  EXPECT_EQ(b.batch(0, 1).ids, (V{5, 6, 0, 0, 0}));
}

TEST(Batches, LongExamplesAreTruncatedAndCounted) {
  data::Batcher b({sequence({1, 2, 3, 4, 5, 6, 7}), sequence({8, 9})},
                  {.batch = 1, .time = 4, .pack = false, .shuffle = false});
  EXPECT_EQ(b.truncated(), 1);
  EXPECT_EQ(b.batch(0, 0).ids, (std::vector<int32_t>{1, 2, 3, 4}));
}

TEST(Batches, OrderIsSeededAndChangesEveryEpoch) {
  std::vector<data::TokenSequence> examples;
  for (int32_t i = 0; i < 40; ++i) examples.push_back(sequence({i, i}));
  data::BatchingOptions options{.batch = 4, .time = 2, .pack = false, .seed = 5};
  data::Batcher a(examples, options), again(examples, options);
  options.seed = 6;
  data::Batcher other(examples, options);
  EXPECT_EQ(a.batch(0, 3).ids, again.batch(0, 3).ids);
  EXPECT_EQ(a.batch(2, 1).ids, again.batch(2, 1).ids);
  EXPECT_NE(a.batch(0, 0).ids, a.batch(1, 0).ids);
  EXPECT_NE(a.batch(0, 0).ids, other.batch(0, 0).ids);
  // An epoch is a permutation: every example once.
  std::vector<int32_t> seen;
  for (int64_t i = 0; i < a.batches_in_epoch(1); ++i)
    for (size_t r = 0; r < 4; ++r) seen.push_back(a.batch(1, i).ids[2 * r]);
  std::sort(seen.begin(), seen.end());
  for (int32_t i = 0; i < 40; ++i) EXPECT_EQ(seen[size_t(i)], i);
}

TEST(Batches, BadInputIsOneClearError) {
  EXPECT_NE(test::error_message([] { data::Batcher({sequence({1})}, {.batch = 1, .time = 4}); })
                .find("no example"),
            std::string::npos);
  EXPECT_NE(test::error_message([] {
              data::Batcher({sequence({1, 2}, {1})}, {.batch = 1, .time = 4});
            }).find("loss-mask"),
            std::string::npos);
}

}  // namespace
}  // namespace vktrain
