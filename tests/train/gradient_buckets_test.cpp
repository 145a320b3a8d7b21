// The buckets of the data-parallel gradient all-reduce: they cover the gradient arena once, in
// backward order, and no bucket holds a gradient that the backward has not finished where the
// bucket is copied out (a layer below it, or the embedding, which a tied lm_head shares).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>

#include "arch/tensor_names.hpp"
#include "model/tiny_models.hpp"
#include "train/gradient_buckets.hpp"

namespace vktrain {
namespace {

constexpr uint64_t kNoLimit = 1ull << 40;

// The layer of model.layers.N.*, else -1.
int64_t layer_of(const std::string& name) {
  const std::string prefix = "model.layers.";
  return name.rfind(prefix, 0) == 0 ? std::strtoll(name.c_str() + prefix.size(), nullptr, 10)
                                    : -1;
}

void expect_sound(const model::Parameters& params, const io::ModelConfig& config,
                  const std::vector<train::GradientBucket>& buckets) {
  ASSERT_FALSE(buckets.empty());
  uint64_t end = params.trainable_elements();
  int64_t layer = config.num_layers;
  for (const auto& b : buckets) {
    EXPECT_EQ(b.first + b.count, end) << "buckets must run down the arena without a gap";
    EXPECT_GT(b.count, 0u);
    EXPECT_LE(b.after_layer, layer) << "buckets must follow the backward";
    layer = b.after_layer;
    end = b.first;
    for (const auto& p : params.all()) {
      if (!p.trainable || p.offset + p.spec.elements() <= b.first ||
          p.offset >= b.first + b.count || b.after_layer < 0)
        continue;
      const bool head = p.spec.name == arch::hf::kFinalNorm || p.spec.name == arch::hf::kLmHead;
      EXPECT_TRUE(head || layer_of(p.spec.name) >= b.after_layer)
          << p.spec.name << " is not final after layer " << b.after_layer;
    }
  }
  EXPECT_EQ(end, 0u);
}

class GradientBucketsTest : public testing::TestWithParam<std::tuple<std::string, bool>> {};

TEST_P(GradientBucketsTest, CoverTheArenaInBackwardOrder) {
  const auto& [family, full] = GetParam();
  const io::ModelConfig config = test::tiny_config(family);
  model::ModelSetup setup = full ? model::ModelSetup{} : test::tiny_lora_setup();
  setup.full = full;
  auto m = test::random_model(config, setup, 3);
  const model::Parameters& params = m->parameters();
  const uint64_t arena = params.trainable_elements();

  // One bucket when it may hold everything: the whole arena, after the whole backward.
  auto one = train::gradient_buckets(params, config, kNoLimit, kNoLimit);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].first, 0u);
  EXPECT_EQ(one[0].count, arena);
  EXPECT_EQ(one[0].after_layer, -1);

  // Bucket size 0: a bucket per layer (the head goes with the top one), the embedding last.
  auto per_layer = train::gradient_buckets(params, config, 0, kNoLimit);
  expect_sound(params, config, per_layer);
  std::vector<int64_t> layers;
  for (const auto& b : per_layer) layers.push_back(b.after_layer);
  std::vector<int64_t> want;
  for (int64_t l = config.num_layers - 1; l >= 0; --l) want.push_back(l);
  if (full) want.push_back(-1);  // the embedding
  EXPECT_EQ(layers, want);

  // A cap on a bucket's bytes cuts a layer into several buckets, final at the same layer.
  auto capped = train::gradient_buckets(params, config, 0, 4 * model::kArenaRow);
  expect_sound(params, config, capped);
  EXPECT_EQ(capped.size(), arena / model::kArenaRow);
  // A middle size gathers layers until it holds enough.
  const uint64_t half = arena * 4 / 2;
  auto two = train::gradient_buckets(params, config, half, kNoLimit);
  expect_sound(params, config, two);
  for (size_t i = 0; i + 1 < two.size(); ++i) EXPECT_GE(two[i].count * 4, half);

  // The staging ring the step makes: every bucket cut at its buffers' size fits one buffer,
  // four buffers at most, and no more than the arena's buckets can fill.
  for (uint64_t bytes : {uint64_t(0), uint64_t(40'000), arena * 4, uint64_t(25'000'000)}) {
    const train::StagingRing ring = train::staging_ring(arena, bytes, kNoLimit);
    EXPECT_GE(ring.slots, 1u);
    EXPECT_LE(ring.slots, train::kStagingSlots);
    EXPECT_EQ(ring.slot_elements % model::kArenaRow, 0u);
    EXPECT_LE((ring.slots - 1) * ring.slot_elements, arena);
    const auto cut = train::gradient_buckets(params, config, bytes, ring.slot_elements * 4);
    expect_sound(params, config, cut);
    for (const auto& b : cut) EXPECT_LE(b.count, ring.slot_elements) << bytes << " bytes";
  }
  // 40 KB buffers for the tiny model's arena: four of them, the buckets cycling through.
  const train::StagingRing small = train::staging_ring(arena, 40'000, kNoLimit);
  EXPECT_EQ(small.slot_elements, 9 * uint64_t(model::kArenaRow));
  EXPECT_EQ(small.slots,
            std::min<uint64_t>(4, (arena + small.slot_elements - 1) / small.slot_elements));
  // The allocation limit caps a buffer.
  EXPECT_EQ(train::staging_ring(arena, 25'000'000, 8 * 4 * model::kArenaRow).slot_elements,
            std::min<uint64_t>(arena, 8 * model::kArenaRow));
}

INSTANTIATE_TEST_SUITE_P(Families, GradientBucketsTest,
                         testing::Combine(testing::Values("llama", "qwen3", "gemma3"),
                                          testing::Bool()),
                         [](const auto& info) {
                           return std::get<0>(info.param) +
                                  (std::get<1>(info.param) ? "_full" : "_lora");
                         });

}  // namespace
}  // namespace vktrain
