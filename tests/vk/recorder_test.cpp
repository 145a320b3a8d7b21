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

// A step split into submissions (train::TrainingStep under MPI): the later recordings take the
// first one's workspace, and the host waits for each with a timeout, doing other work between.
TEST(Recorder, SharesAWorkspaceAndWaitsWithATimeout) {
  auto& ctx = test::context();
  vk::Recorder first(ctx), second(ctx);
  second.share_workspace(first);
  const uint64_t address = first.workspace(4096).address;
  EXPECT_EQ(second.workspace(1024).address, address);
  // A larger request grows the owner's, which both then use.
  EXPECT_EQ(second.workspace(1 << 20).address, first.workspace(1 << 20).address);
  EXPECT_NE(test::error_message([&] { second.wait_for(0); }).find("nothing submitted"),
            std::string::npos);
  auto values = test::random_values(4096, 5);
  Tensor x = test::tensor_with({4096}, DType::f32, values);
  ops::scale(second, x, x, 2.0f);
  second.submit();
  int waits = 1;
  while (!second.wait_for(1'000'000)) ASSERT_LT(++waits, 100000) << "the submission never ended";
  // Finished: the recording can run again, and its results are there.
  EXPECT_NE(test::error_message([&] { second.wait(); }).find("nothing submitted"),
            std::string::npos);
  auto got = read_floats(ctx, x);
  for (size_t i = 0; i < values.size(); ++i) ASSERT_EQ(got[i], values[i] * 2) << i;
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
