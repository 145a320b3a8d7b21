#include <gtest/gtest.h>

#include <filesystem>

#include "ops/elementwise.hpp"
#include "support/support.hpp"

using namespace vktrain;

TEST(Recorder, BarriersOnlyWhereAReadFollowsAWrite) {
  auto& ctx = test::context();
  Tensor a = make_tensor(ctx, DType::f32, {1000}, "a");
  Tensor b = make_tensor(ctx, DType::f32, {1000}, "b");
  Tensor c = make_tensor(ctx, DType::f32, {1000}, "c");
  Tensor d = make_tensor(ctx, DType::f32, {1000}, "d");
  vk::Recorder rec(ctx);
  ops::fill(rec, a, 1.5f);
  ops::fill(rec, b, 2.0f);    // independent of a: no barrier
  EXPECT_EQ(rec.barriers(), 0u);
  ops::add(rec, c, a, b);     // reads a and b: one barrier
  EXPECT_EQ(rec.barriers(), 1u);
  ops::scale(rec, d, c, 3);   // reads c: another
  ops::fill(rec, a, 7.0f);    // a was read by add, before the last barrier: none needed
  EXPECT_EQ(rec.barriers(), 2u);
  ops::fill(rec, d, 1.0f);    // overwrites d, just written: write after write
  EXPECT_EQ(rec.barriers(), 3u);
  rec.run();
  EXPECT_EQ(read_floats(ctx, c), std::vector<float>(1000, 3.5f));
  EXPECT_EQ(read_floats(ctx, a), std::vector<float>(1000, 7.0f));
  EXPECT_EQ(read_floats(ctx, d), std::vector<float>(1000, 1.0f));
}

TEST(Recorder, ReplaysARecording) {
  auto& ctx = test::context();
  auto values = test::random_values(777, 3);
  Tensor x = test::tensor_with({777}, DType::f32, values);
  vk::Recorder rec(ctx);
  ops::scale(rec, x, x, 2.0f);
  for (int i = 0; i < 3; ++i) rec.run();
  auto got = read_floats(ctx, x);
  for (size_t i = 0; i < values.size(); ++i) ASSERT_EQ(got[i], values[i] * 8) << i;
  EXPECT_EQ(rec.commands(), 1u);
}

TEST(Recorder, ProfilesEachLabel) {
  auto& ctx = test::context();
  if (!ctx.caps().timestamps) GTEST_FAIL() << "the test device has no timestamps";
  Tensor a = make_tensor(ctx, DType::f32, {4096}, "a");
  vk::Recorder rec(ctx);
  rec.profile(true);
  ops::fill(rec, a, 1.0f);
  ops::scale(rec, a, a, 2.0f);
  ops::scale(rec, a, a, 2.0f);
  rec.run();
  ASSERT_EQ(rec.timings().size(), 2u);
  for (const auto& t : rec.timings()) {
    EXPECT_TRUE(t.label == "fill" || t.label == "scale") << t.label;
    EXPECT_EQ(t.count, t.label == "scale" ? 2u : 1u);
    EXPECT_GE(t.milliseconds, 0.0);
  }
}

TEST(Pipelines, CacheIsWrittenAndReadBack) {
  namespace fs = std::filesystem;
  test::TempDir dir;
  vk::ContextOptions options = vk::ContextOptions::from_env();
  options.pipeline_cache = dir.file("pipelines.bin");
  {
    vk::Context ctx(options);
    Tensor a = make_tensor(ctx, DType::f16, {100}, "a");
    vk::Recorder rec(ctx);
    ops::fill(rec, a, 1.0f);
    rec.run();
    EXPECT_EQ(ctx.pipelines.created(), 1u);
  }
  ASSERT_TRUE(fs::exists(options.pipeline_cache));
  // At least the header that names the device (some drivers, lavapipe among them, keep no more).
  EXPECT_GE(fs::file_size(options.pipeline_cache), 32u);
  {
    vk::Context ctx(options);  // loads the cache; the pipeline still works
    Tensor a = make_tensor(ctx, DType::f16, {100}, "a");
    vk::Recorder rec(ctx);
    ops::fill(rec, a, -2.0f);
    rec.run();
    EXPECT_EQ(read_floats(ctx, a), std::vector<float>(100, -2.0f));
  }
}
