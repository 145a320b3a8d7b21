#include <gtest/gtest.h>

#include <cmath>

#include <fmt/format.h>

#include "attention_runs.hpp"
#include "ops/attention_decode.hpp"

using namespace vktrain;
using reference::AttentionShape;

namespace attention_decode_test {
namespace {

// A causal sequence of `shape.T` positions in a cache of `capacity`; the decode query is the
// last position's.
struct Case {
  const char* name;
  AttentionShape shape;
  int64_t capacity;
};

// Lengths are no multiples of the 256-key chunks; windows start mid-chunk.
std::vector<Case> all_cases() {
  return {
      {"gqa4_d64", {2, 77, 4, 1, 64, true, 0, 0.125}, 80},
      {"mha_d128_window", {1, 301, 2, 2, 128, true, 37, 0.088}, 320},
      {"gqa2_d256_long", {1, 523, 2, 1, 256, true, 0, 0.0625}, 600},
      {"d72_window_over_two_chunks", {1, 600, 4, 2, 72, true, 300, 0.118}, 601},
      {"one_position", {1, 1, 2, 1, 64, true, 0, 0.125}, 4},
      // With a sink per head (gpt-oss): over a window, and where the query sees only itself.
      {"gqa3_d72_window_sinks", test::with_sinks({1, 300, 6, 2, 72, true, 37, 0.118}), 310},
      {"one_position_sinks", test::with_sinks({1, 1, 2, 1, 64, true, 0, 0.125}), 4},
  };
}

struct Decoded {
  std::vector<float> got;
  std::vector<double> want;
};

// The query of position T-1 against a cache holding positions [0, T) (NaN beyond, which the
// kernel must never read), and row T-1 of the full causal reference.
Decoded run(const Case& c, DType dt) {
  const AttentionShape& s = c.shape;
  auto& ctx = test::context();
  size_t per_q = size_t(s.Hq) * s.D, per_kv = size_t(s.Hkv) * s.D;
  auto q = test::random_values(s.B * s.T * per_q, 11, dt);
  auto k = test::random_values(s.B * s.T * per_kv, 12, dt);
  auto v = test::random_values(s.B * s.T * per_kv, 13, dt);
  std::vector<double> o, lse;
  reference::attention_forward(o, lse, q, k, v, s);

  std::vector<float> last_q, k_cache(s.B * c.capacity * per_kv, NAN), v_cache(k_cache);
  Decoded result;
  for (uint32_t b = 0; b < s.B; ++b) {
    size_t row = (size_t(b) * s.T + s.T - 1) * per_q;
    last_q.insert(last_q.end(), q.begin() + row, q.begin() + row + per_q);
    result.want.insert(result.want.end(), o.begin() + row, o.begin() + row + per_q);
    for (size_t i = 0; i < s.T * per_kv; ++i) {
      k_cache[b * c.capacity * per_kv + i] = k[b * s.T * per_kv + i];
      v_cache[b * c.capacity * per_kv + i] = v[b * s.T * per_kv + i];
    }
  }
  std::vector<int64_t> q_shape{s.B, s.Hq, s.D}, cache_shape{s.B, c.capacity, s.Hkv, s.D};
  Tensor qt = test::tensor_with(q_shape, dt, last_q, "q");
  Tensor kt = test::tensor_with(cache_shape, dt, k_cache, "k cache");
  Tensor vt = test::tensor_with(cache_shape, dt, v_cache, "v cache");
  Tensor ot = make_tensor(ctx, dt, q_shape, "o");
  ops::AttentionDecodeOptions options{float(s.scale), s.window};
  Tensor sinks;
  if (!s.sinks.empty()) {
    sinks = test::tensor_with({s.Hq}, DType::f32, s.sinks, "sinks");
    options.sinks = &sinks;
  }
  vk::Recorder rec(ctx);
  ops::attention_decode(rec, ot, qt, kt, vt, s.T, options);
  rec.run();
  result.got = read_floats(ctx, ot);
  return result;
}

// As tests/ops/attention_test.cpp: inputs exact in their dtype, f32 accumulation, and one
// rounding of the stored output for 16-bit dtypes.
double tolerance(DType dt) { return dt == DType::f32 ? 1e-5 : dt == DType::f16 ? 1e-3 : 8e-3; }

std::string case_name(const testing::TestParamInfo<std::tuple<DType, Case>>& info) {
  return fmt::format("{}_{}", dtype_name(std::get<0>(info.param)), std::get<1>(info.param).name);
}

}  // namespace

class AttentionDecode : public testing::TestWithParam<std::tuple<DType, Case>> {};

TEST_P(AttentionDecode, EqualsTheLastRowOfCausalAttention) {
  auto [dt, c] = GetParam();
  Decoded d = run(c, dt);
  for (float x : d.got) ASSERT_TRUE(std::isfinite(x)) << "read a position beyond the length";
  EXPECT_LT(test::relative_error(d.got, d.want), tolerance(dt));
}

INSTANTIATE_TEST_SUITE_P(F32, AttentionDecode,
                         testing::Combine(testing::Values(DType::f32), testing::ValuesIn(all_cases())),
                         case_name);
INSTANTIATE_TEST_SUITE_P(F16, AttentionDecode,
                         testing::Combine(testing::Values(DType::f16),
                                          testing::Values(all_cases()[0], all_cases()[1])),
                         case_name);
INSTANTIATE_TEST_SUITE_P(BF16, AttentionDecode,
                         testing::Combine(testing::Values(DType::bf16),
                                          testing::Values(all_cases()[0], all_cases()[3])),
                         case_name);

TEST(AttentionDecodeErrors, LengthBeyondTheCacheIsOneError) {
  auto& ctx = test::context();
  Tensor q = make_tensor(ctx, DType::f32, {1, 2, 64}, "q");
  Tensor kv = make_tensor(ctx, DType::f32, {1, 8, 1, 64}, "k cache");
  Tensor o = make_tensor(ctx, DType::f32, {1, 2, 64}, "o");
  vk::Recorder rec(ctx);
  EXPECT_EQ(test::error_message([&] { ops::attention_decode(rec, o, q, kv, kv, 9, {0.125f, 0}); }),
            "[attention_decode] length 9 must be 1 to the cache's 8 positions (k cache (f32, [1, 8, "
            "1, 64]))");
}

TEST(AttentionDecodeErrors, SinksOfAnotherShapeAreNamed) {
  auto& ctx = test::context();
  Tensor q = make_tensor(ctx, DType::f32, {1, 2, 64}, "q");
  Tensor kv = make_tensor(ctx, DType::f32, {1, 8, 1, 64}, "k cache");
  Tensor o = make_tensor(ctx, DType::f32, {1, 2, 64}, "o");
  Tensor by_kv_head = make_tensor(ctx, DType::f32, {1}, "sinks by kv head");
  vk::Recorder rec(ctx);
  EXPECT_EQ(test::error_message([&] {
              ops::attention_decode(rec, o, q, kv, kv, 8, {0.125f, 0, &by_kv_head});
            }),
            "[attention_decode] sinks must be f32 [Hq] = [2], one per query head, got sinks by kv "
            "head (f32, [1])");
}

}  // namespace attention_decode_test
