#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "ops/adamw_8bit.hpp"
#include "ops/elementwise.hpp"
#include "ops/reduce.hpp"
#include "reference/adamw_8bit.hpp"
#include "support/support.hpp"

using namespace vktrain;

namespace {

constexpr int64_t kRow = 1024;  // the arenas' row: parameters start on one, padded with zeros

// Parameters of 300, 77 and 2500 values (none a multiple of the block) laid out as the
// optimizer's arenas are: each from a fresh row of 1024, zero padding after it; the second is
// a norm (no weight decay).
struct Layout {
  std::vector<uint64_t> sizes = {300, 77, 2500};
  std::vector<ops::AdamwGroup> groups = {{0, 1024, true}, {1024, 1024, false}, {2048, 3072, true}};
  uint64_t values = 5 * kRow;
  bool real(uint64_t i) const {  // a parameter's value, not padding
    for (size_t k = 0; k < groups.size(); ++k)
      if (i >= groups[k].first && i < groups[k].first + sizes[k]) return true;
    return false;
  }
  bool decay(uint64_t i) const {
    for (const auto& g : groups)
      if (i >= g.first && i < g.first + g.count) return g.decay;
    return false;
  }
};

// Random values in the parameters, zeros in the padding; every 7th value 1e-7 smaller, so that
// blocks span more than the map's 1e6 and moments round to the codes next to zero.
std::vector<float> arena_values(const Layout& layout, uint32_t seed, float scale) {
  std::vector<float> values = test::random_values(layout.values, seed, DType::f32, scale);
  for (uint64_t i = 0; i < values.size(); ++i) {
    if (!layout.real(i)) values[i] = 0;
    else if (i % 7 == 3) values[i] *= 1e-7f;
  }
  return values;
}

std::vector<uint8_t> codes_of(vk::Context& ctx, const Tensor& words) {
  std::vector<int32_t> packed = read_ints(ctx, words);
  std::vector<uint8_t> codes(packed.size() * 4);
  std::memcpy(codes.data(), packed.data(), codes.size());
  return codes;
}

struct StepsRun {
  std::vector<float> params;
  reference::Adamw8bitState got, want;
};

// Four steps of the update from one recording (each with new gradients, lr and step values) on
// the device and in the reference; the reference's clipping factor is the device's formula on
// the device's squared norm.
StepsRun run_steps(vk::Context& ctx, const reference::AdamwSettings& s) {
  const Layout layout;
  const uint64_t n = layout.values;
  const int64_t rows = int64_t(n / kRow);
  ops::AdamwOptions options{s.beta1, s.beta2, s.eps, s.weight_decay, s.max_grad_norm};
  std::vector<bool> decay(n);
  for (uint64_t i = 0; i < n; ++i) decay[i] = layout.decay(i);
  StepsRun run;
  run.params = arena_values(layout, 1, 1.0f);
  run.want = {std::vector<uint8_t>(n, 0), std::vector<uint8_t>(n, 0),
              std::vector<float>(n / 256, 0), std::vector<float>(n / 256, 0)};
  Tensor params = test::tensor_with({rows, kRow}, DType::f32, run.params, "params", ctx);
  Tensor grads = make_tensor(ctx, DType::f32, {rows, kRow}, "grads");
  ops::Adamw8bitState state{make_tensor(ctx, DType::i32, {rows, kRow / 4}, "m codes"),
                            make_tensor(ctx, DType::i32, {rows, kRow / 4}, "v codes"),
                            make_tensor(ctx, DType::f32, {rows, kRow / 256}, "m absmax"),
                            make_tensor(ctx, DType::f32, {rows, kRow / 256}, "v absmax")};
  Tensor tables = test::tensor_with({4, 256}, DType::f32, ops::adamw_8bit_tables(), "tables", ctx);
  Tensor step_values = make_tensor(ctx, DType::f32, {3}, "step values");
  Tensor norm_sq = make_tensor(ctx, DType::f32, {1}, "grad norm^2");
  vk::Recorder zero(ctx);
  for (Tensor* t : {&state.m_codes, &state.v_codes, &state.m_absmax, &state.v_absmax})
    ops::fill(zero, *t, 0.0f);
  zero.run();

  vk::Recorder rec(ctx);
  ops::sum_squares(rec, norm_sq, grads);
  ops::adamw_8bit_update(rec, params, state, grads, tables, step_values, &norm_sq,
                         layout.groups, options);
  const auto signed_map = ops::dynamic_quantization_map(true);
  const auto unsigned_map = ops::dynamic_quantization_map(false);
  for (int64_t step = 1; step <= 4; ++step) {
    const double lr = s.lr * (1.0 - 0.2 * double(step - 1));
    const std::vector<float> g = arena_values(layout, uint32_t(10 + step), 0.5f);
    write_floats(ctx, grads, g);
    const auto values = ops::adamw_step_values(lr, step, options);
    write_floats(ctx, step_values, values);
    rec.run();
    float clip = 1.0f;
    if (s.max_grad_norm > 0)
      clip = std::min(1.0f, float(s.max_grad_norm) /
                                (std::sqrt(read_floats(ctx, norm_sq)[0]) + 1e-6f));
    reference::adamw_8bit(run.params, run.want, g, decay, values, clip, s, signed_map,
                          unsigned_map);
  }
  run.got = {codes_of(ctx, state.m_codes), codes_of(ctx, state.v_codes),
             read_floats(ctx, state.m_absmax), read_floats(ctx, state.v_absmax)};
  // The parameters through a square root and divisions, which Vulkan lets a device round within
  // a few ulps, over 4 steps.
  EXPECT_LT(test::relative_error(read_floats(ctx, params), run.params), 1e-6);
  return run;
}

// Without clipping every operation that leads to a code is an exactly rounded product, sum or
// maximum: the codes and the absmax equal the reference's bit for bit.
void expect_same_state(const StepsRun& run) {
  EXPECT_EQ(run.got.m_absmax, run.want.m_absmax);
  EXPECT_EQ(run.got.v_absmax, run.want.v_absmax);
  size_t m_differ = 0, v_differ = 0;
  for (size_t i = 0; i < run.want.m_codes.size(); ++i) {
    m_differ += run.got.m_codes[i] != run.want.m_codes[i];
    v_differ += run.got.v_codes[i] != run.want.v_codes[i];
  }
  EXPECT_EQ(m_differ, 0u);
  EXPECT_EQ(v_differ, 0u);
}

}  // namespace

TEST(Adamw8bit, CodesMatchTheReferenceOverReplayedSteps) {
  const StepsRun run = run_steps(test::context(), {.lr = 1e-2, .weight_decay = 0.1});
  expect_same_state(run);
  // The tiny gradients took the first moment to both codes beside zero (126: a negative value
  // kept negative) and the padding's moments stay at the zero codes.
  const auto& m = run.want.m_codes;
  EXPECT_NE(std::count(m.begin(), m.end(), uint8_t(126)), 0);
  EXPECT_EQ(m[400], ops::kAdamw8bitZeroCode);
  EXPECT_EQ(run.want.v_codes[400], 0);
  EXPECT_EQ(run.params[400], 0.0f);
}

TEST(Adamw8bit, ArenasSplitAcrossAllocations) {
  vk::ContextOptions options = vk::ContextOptions::from_env();
  options.memory.max_span = 8 << 10;  // two rows of parameters a span, 8 of codes
  vk::Context ctx(options);
  expect_same_state(run_steps(ctx, {.lr = 1e-2, .beta1 = 0.8, .beta2 = 0.99,
                                    .weight_decay = 0.1}));
}

TEST(Adamw8bit, ClipsToTheGlobalNorm) {
  // The clipping factor comes from a square root and a division, which a device may round a few
  // ulps from the host (lavapipe does not): a value that close to a midpoint may take the code
  // beside the reference's, never one further.
  const StepsRun run = run_steps(test::context(), {.lr = 1e-2, .weight_decay = 0.01,
                                              .max_grad_norm = 1.0});
  for (size_t i = 0; i < run.want.m_codes.size(); ++i) {
    ASSERT_LE(std::abs(int(run.got.m_codes[i]) - int(run.want.m_codes[i])), 1) << i;
    ASSERT_LE(std::abs(int(run.got.v_codes[i]) - int(run.want.v_codes[i])), 1) << i;
  }
  EXPECT_LT(test::relative_error(run.got.m_absmax, run.want.m_absmax), 1e-6);
  EXPECT_LT(test::relative_error(run.got.v_absmax, run.want.v_absmax), 1e-6);
}

TEST(Adamw8bit, DynamicMapsAreBitsandbytes) {
  const auto s = ops::dynamic_quantization_map(true);
  const auto u = ops::dynamic_quantization_map(false);
  EXPECT_TRUE(std::is_sorted(s.begin(), s.end()));
  EXPECT_TRUE(std::is_sorted(u.begin(), u.end()));
  EXPECT_EQ(std::count_if(s.begin(), s.end(), [](float x) { return x < 0; }), 127);
  EXPECT_EQ(s[ops::kAdamw8bitZeroCode], 0.0f);
  EXPECT_EQ(s[255], 1.0f);
  EXPECT_EQ(u[0], 0.0f);
  EXPECT_EQ(u[255], 1.0f);
  // The smallest magnitudes: 1e-6 x the midpoint of linspace(0.1, 1, 2) and of (0.1, 1, 3).
  EXPECT_FLOAT_EQ(s[128], 0.55e-6f);
  EXPECT_FLOAT_EQ(s[126], -0.55e-6f);
  EXPECT_FLOAT_EQ(u[1], 0.325e-6f);
  // The largest below 1: the top decade's last midpoint, linspace(0.1, 1, 65) signed, 129
  // unsigned.
  EXPECT_FLOAT_EQ(s[254], (1.0f + (1.0f - 0.9f / 64)) / 2);
  EXPECT_FLOAT_EQ(u[254], (1.0f + (1.0f - 0.9f / 128)) / 2);
  // Distinct codes everywhere but none (every code means a value of its own).
  EXPECT_EQ(std::adjacent_find(s.begin(), s.end()), s.end());
  EXPECT_EQ(std::adjacent_find(u.begin(), u.end()), u.end());
}

TEST(Adamw8bitErrors, PartialBlocksAndWrongStateAreNamed) {
  auto& ctx = test::context();
  Tensor p = make_tensor(ctx, DType::f32, {2, 256}, "params");
  Tensor g = make_tensor(ctx, DType::f32, {2, 256}, "grads");
  ops::Adamw8bitState state{make_tensor(ctx, DType::i32, {128}, "m codes"),
                            make_tensor(ctx, DType::i32, {128}, "v codes"),
                            make_tensor(ctx, DType::f32, {2}, "m absmax"),
                            make_tensor(ctx, DType::f32, {3}, "v absmax")};
  Tensor tables = make_tensor(ctx, DType::f32, {4, 256}, "tables");
  Tensor s = make_tensor(ctx, DType::f32, {3}, "step values");
  vk::Recorder rec(ctx);
  auto update = [&](const std::vector<ops::AdamwGroup>& groups) {
    return test::error_message(
        [&] { ops::adamw_8bit_update(rec, p, state, g, tables, s, nullptr, groups, {}); });
  };
  EXPECT_NE(update({}).find("v absmax"), std::string::npos);
  state.v_absmax = make_tensor(ctx, DType::f32, {2}, "v absmax");
  EXPECT_NE(update({{0, 300, true}}).find("not whole blocks"), std::string::npos);
  EXPECT_NE(update({{256, 512, true}}).find("outside"), std::string::npos);
}
