#include <gtest/gtest.h>

#include "base/error.hpp"
#include "ops/elementwise.hpp"
#include "support/support.hpp"

using namespace vktrain;

namespace {
const DType kTypes[] = {DType::f32, DType::f16, DType::bf16};
constexpr int64_t kOdd = 100'003;  // not a multiple of any workgroup size
}  // namespace

class Elementwise : public testing::TestWithParam<DType> {};

TEST_P(Elementwise, Fill) {
  auto& ctx = test::context();
  Tensor t = test::tensor_with({kOdd}, GetParam(), test::random_values(kOdd, 1, GetParam()));
  vk::Recorder rec(ctx);
  ops::fill(rec, t, -0.3f);
  rec.run();
  EXPECT_EQ(read_floats(ctx, t), std::vector<float>(kOdd, round_to(GetParam(), -0.3f)));
}

TEST_P(Elementwise, AddMulScaleMatchTheReference) {
  auto& ctx = test::context();
  DType dt = GetParam();
  auto va = test::random_values(kOdd, 2, dt), vb = test::random_values(kOdd, 3, dt);
  Tensor a = test::tensor_with({kOdd}, dt, va), b = test::tensor_with({kOdd}, dt, vb);
  Tensor sum = make_tensor(ctx, dt, {kOdd}, "sum"), product = make_tensor(ctx, dt, {kOdd}, "p"),
         scaled = make_tensor(ctx, dt, {kOdd}, "s");
  vk::Recorder rec(ctx);
  ops::add(rec, sum, a, b);
  ops::mul(rec, product, a, b);
  ops::scale(rec, scaled, a, -1.75f);
  rec.run();
  auto gs = read_floats(ctx, sum), gp = read_floats(ctx, product), gc = read_floats(ctx, scaled);
  for (size_t i = 0; i < va.size(); ++i) {
    // f32 math, one rounding to the storage type: exactly what the host computes.
    ASSERT_EQ(gs[i], round_to(dt, va[i] + vb[i])) << i;
    ASSERT_EQ(gp[i], round_to(dt, va[i] * vb[i])) << i;
    ASSERT_EQ(gc[i], round_to(dt, -1.75f * va[i])) << i;
  }
}

TEST_P(Elementwise, InPlace) {
  auto& ctx = test::context();
  DType dt = GetParam();
  auto va = test::random_values(999, 4, dt), vb = test::random_values(999, 5, dt);
  Tensor a = test::tensor_with({999}, dt, va), b = test::tensor_with({999}, dt, vb);
  vk::Recorder rec(ctx);
  ops::add(rec, a, a, b);
  rec.run();
  auto got = read_floats(ctx, a);
  for (size_t i = 0; i < va.size(); ++i) ASSERT_EQ(got[i], round_to(dt, va[i] + vb[i]));
}

TEST_P(Elementwise, ConvertToEveryType) {
  auto& ctx = test::context();
  DType from = GetParam();
  auto values = test::random_values(kOdd, 6, from, 300.0f);
  Tensor src = test::tensor_with({kOdd}, from, values);
  for (DType to : kTypes) {
    Tensor dst = make_tensor(ctx, to, {kOdd}, "dst");
    vk::Recorder rec(ctx);
    ops::convert(rec, dst, src);
    rec.run();
    auto got = read_floats(ctx, dst);
    for (size_t i = 0; i < values.size(); ++i)
      ASSERT_EQ(got[i], round_to(to, values[i])) << dtype_name(from) << "->" << dtype_name(to);
  }
}

TEST_P(Elementwise, CopyAndCopyBlock) {
  auto& ctx = test::context();
  DType dt = GetParam();
  auto values = test::random_values(37 * 53, 7, dt);
  Tensor src = test::tensor_with({37, 53}, dt, values);
  Tensor whole = make_tensor(ctx, dt, {37, 53}, "whole");
  Tensor block = test::tensor_with({20, 30}, dt, test::random_values(600, 8, dt));
  auto before = read_floats(ctx, block);
  Tensor by_transfer = make_tensor(ctx, dt, {37, 53}, "by transfer");
  vk::Recorder rec(ctx);
  ops::copy(rec, whole, src, ops::CopyPath::kernel);  // 1961 elements: one row of 4096 short
  ops::copy(rec, by_transfer, src, ops::CopyPath::transfer);
  // rows 5..16 and columns 9..31 of src into rows 2.. and columns 3.. of block
  ops::copy_block(rec, block, 2 * 30 + 3, 30, src, 5 * 53 + 9, 53, 12, 23);
  rec.run();
  EXPECT_EQ(read_floats(ctx, whole), values);
  EXPECT_EQ(read_floats(ctx, by_transfer), values);
  auto got = read_floats(ctx, block);
  for (int r = 0; r < 20; ++r)
    for (int c = 0; c < 30; ++c) {
      bool inside = r >= 2 && r < 14 && c >= 3 && c < 26;
      float want = inside ? values[(r - 2 + 5) * 53 + (c - 3 + 9)] : before[r * 30 + c];
      ASSERT_EQ(got[r * 30 + c], want) << r << "," << c;
    }
}

// Views at odd element offsets of larger tensors, 1003 elements (not a multiple of the kernels'
// 8-element vector steps or of fill's pairs): 16-bit operands that share their offset modulo 16
// bytes take vector steps after an unaligned head, operands that never align together go element
// by element; the results are the same bits either way. Then fills of 1 to 3 elements.
TEST_P(Elementwise, ViewsAtOddOffsets) {
  auto& ctx = test::context();
  DType dt = GetParam();
  const int64_t n = 1003, total = n + 16;
  auto va = test::random_values(total, 10, dt), vb = test::random_values(total, 11, dt);
  Tensor a = test::tensor_with({total}, dt, va), b = test::tensor_with({total}, dt, vb);
  for (auto [offset_a, offset_b, offset_out] :
       {std::tuple{3, 3, 3}, std::tuple{1, 2, 5}, std::tuple{0, 8, 2}, std::tuple{5, 13, 13}}) {
    SCOPED_TRACE(fmt::format("offsets {} {} {}", offset_a, offset_b, offset_out));
    Tensor sum_memory = test::tensor_with({total}, dt, test::random_values(total, 12, dt));
    Tensor converted_memory = make_tensor(ctx, DType::f32, {total}, "converted");
    Tensor filled_memory = test::tensor_with({total}, dt, test::random_values(total, 13, dt));
    auto before = read_floats(ctx, filled_memory);
    Tensor view_a = view(a, uint64_t(offset_a), {n}, "a view");
    Tensor view_b = view(b, uint64_t(offset_b), {n}, "b view");
    Tensor sum = view(sum_memory, uint64_t(offset_out), {n}, "sum view");
    Tensor converted = view(converted_memory, uint64_t(offset_out), {n}, "converted view");
    Tensor filled = view(filled_memory, uint64_t(offset_out), {n}, "filled view");
    vk::Recorder rec(ctx);
    ops::add(rec, sum, view_a, view_b);
    ops::convert(rec, converted, view_b);
    ops::fill(rec, filled, 0.625f);
    rec.run();
    auto gs = read_floats(ctx, sum), gc = read_floats(ctx, converted);
    auto gf = read_floats(ctx, filled_memory);
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(gs[size_t(i)], round_to(dt, va[size_t(offset_a + i)] + vb[size_t(offset_b + i)])) << i;
      ASSERT_EQ(gc[size_t(i)], vb[size_t(offset_b + i)]) << i;
    }
    for (int64_t i = 0; i < total; ++i) {
      bool inside = i >= offset_out && i < offset_out + n;
      ASSERT_EQ(gf[size_t(i)], inside ? 0.625f : before[size_t(i)]) << i;
    }
  }
  for (int64_t count : {1, 2, 3}) {
    for (uint64_t offset : {0, 1}) {
      Tensor memory = test::tensor_with({8}, dt, std::vector<float>(8, 2.0f));
      Tensor filled = view(memory, offset, {count}, "short fill");
      vk::Recorder rec(ctx);
      ops::fill(rec, filled, -1.0f);
      rec.run();
      auto got = read_floats(ctx, memory);
      for (uint64_t i = 0; i < 8; ++i)
        ASSERT_EQ(got[i], i >= offset && i < offset + uint64_t(count) ? -1.0f : 2.0f)
            << count << " at " << offset << ": " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, Elementwise, testing::ValuesIn(kTypes),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

TEST(ElementwiseErrors, ShapeMismatchNamesBothTensors) {
  auto& ctx = test::context();
  Tensor a = make_tensor(ctx, DType::f32, {4, 5}, "left");
  Tensor b = make_tensor(ctx, DType::f32, {5, 4}, "right");
  vk::Recorder rec(ctx);
  EXPECT_EQ(test::error_message([&] { ops::add(rec, a, a, b); }),
            "[add] left (f32, [4, 5]) and right (f32, [5, 4]) differ in shape");
}

// Over 128 MiB: past lavapipe's storage-buffer range, which buffer device addresses do not
// have; and split across spans, which the ops walk piece by piece.
TEST(LargeTensors, PastTheStorageBufferRangeAndAcrossSpans) {
  const int64_t rows = 34'829, cols = 1'023;  // f32: just over 136 MiB
  const int64_t n = rows * cols;
  const auto values = test::random_values(size_t(n), 9);
  for (uint64_t max_span : {uint64_t(0), uint64_t(48) << 20}) {
    vk::ContextOptions options = vk::ContextOptions::from_env();
    options.memory.max_span = max_span;
    vk::Context ctx(options);
    Tensor a = test::tensor_with({rows, cols}, DType::f32, values, "a", ctx);
    Tensor half = make_tensor(ctx, DType::bf16, {rows, cols}, "half");
    Tensor back = make_tensor(ctx, DType::f32, {rows, cols}, "back");
    Tensor copied = make_tensor(ctx, DType::f32, {rows, cols}, "copied");
    EXPECT_EQ(a.memory.spans().size(), max_span ? 3u : 1u);
    vk::Recorder rec(ctx);
    ops::convert(rec, half, a);
    ops::add(rec, back, a, a);
    ops::copy(rec, copied, a, ops::CopyPath::kernel);  // rows of 4096 plus a remainder, per span
    ops::convert(rec, a, half);
    rec.run();
    auto got = read_floats(ctx, a), doubled = read_floats(ctx, back), same = read_floats(ctx, copied);
    for (int64_t i = 0; i < n; i += 997) {
      ASSERT_EQ(got[i], round_to(DType::bf16, values[i])) << i;
      ASSERT_EQ(doubled[i], 2 * values[i]) << i;
      ASSERT_EQ(same[i], values[i]) << i;
    }
    ASSERT_EQ(same[n - 1], values[n - 1]);
    ASSERT_EQ(got[n - 1], round_to(DType::bf16, values[n - 1]));
  }
}

TEST(IntegerTensors, RoundTripAndFill) {
  auto& ctx = test::context();
  std::vector<int32_t> ids = {7, -100, 151935, 0, 42};
  Tensor t = make_tensor(ctx, DType::i32, {5}, "ids");
  write_ints(ctx, t, ids);
  EXPECT_EQ(read_ints(ctx, t), ids);
  vk::Recorder rec(ctx);
  ops::fill(rec, t, -100.0f);
  rec.run();
  EXPECT_EQ(read_ints(ctx, t), std::vector<int32_t>(5, -100));
  EXPECT_NE(test::error_message([&] { read_floats(ctx, t); }).find("ids"), std::string::npos);
}
