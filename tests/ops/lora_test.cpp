#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "base/error.hpp"
#include "ops/elementwise.hpp"
#include "ops/lora.hpp"
#include "reference/lora.hpp"
#include "support/support.hpp"

using namespace vktrain;

namespace lora_test {
namespace {

constexpr int32_t kSeed = 2024;
constexpr uint32_t kSalt = 17;
constexpr float kScale = 0.75f;

// A layer's host values, its device tensors, and the sizes and settings of both sides.
struct Layer {
  reference::LinearShape shape;
  reference::LinearValues values;
  reference::LoraSettings host;
  Tensor weight, bias, lora_a, lora_b, seed;

  ops::LoraSettings settings() const { return {kScale, {host.dropout, kSalt, &seed}}; }

  ops::Linear linear() const {
    bool adapter = shape.rank != 0;
    return {weight, values.bias.empty() ? nullptr : &bias, adapter ? &lora_a : nullptr,
            adapter ? &lora_b : nullptr};
  }
};

Layer make_layer(vk::Context& ctx, DType dt, reference::LinearShape shape, bool bias,
                 float dropout) {
  Layer l;
  l.shape = shape;
  int64_t in = int64_t(shape.in), out = int64_t(shape.out), rank = int64_t(shape.rank);
  l.values.weight = test::random_values(shape.out * shape.in, 11, dt);
  l.weight = test::tensor_with({out, in}, dt, l.values.weight, "weight", ctx);
  if (bias) {
    l.values.bias = test::random_values(shape.out, 12);
    l.bias = test::tensor_with({out}, DType::f32, l.values.bias, "bias", ctx);
  }
  if (rank) {
    l.values.lora_a = test::random_values(shape.rank * shape.in, 13, dt);
    l.values.lora_b = test::random_values(shape.out * shape.rank, 14, dt);
    l.lora_a = test::tensor_with({rank, in}, dt, l.values.lora_a, "lora_a", ctx);
    l.lora_b = test::tensor_with({out, rank}, dt, l.values.lora_b, "lora_b", ctx);
  }
  l.seed = make_tensor(ctx, DType::i32, {1}, "seed");
  write_ints(ctx, l.seed, std::vector<int32_t>{kSeed});
  l.host = {kScale, dropout, kSalt, kSeed};
  return l;
}

std::vector<double> plus(const std::vector<double>& a, const std::vector<float>& b) {
  std::vector<double> sum(a);
  for (size_t i = 0; i < sum.size(); ++i) sum[i] += b[i];
  return sum;
}

// Runs forward and backward once, every gradient starting at random values (backward adds into
// them), and a backward of dx alone that writes over other random values; compares each output
// with the reference.
struct Tolerances {
  double activations, hidden, weight, adapter;
};

void check_against_reference(vk::Context& ctx, DType dt, const Layer& l,
                             const std::vector<int64_t>& x_shape, const Tolerances& tol) {
  const auto& d = l.shape;
  int64_t rows = int64_t(d.rows), out = int64_t(d.out), rank = int64_t(d.rank);
  auto vx = test::random_values(d.rows * d.in, 21, dt);
  auto vdy = test::random_values(d.rows * d.out, 22, dt);
  auto start_dx = test::random_values(vx.size(), 23, dt);
  auto start_dw = test::random_values(d.out * d.in, 24), start_db = test::random_values(d.out, 25);
  auto start_da = test::random_values(d.rank * d.in, 26);
  auto start_dbb = test::random_values(d.out * d.rank, 27);
  Tensor x = test::tensor_with(x_shape, dt, vx, "x", ctx);
  Tensor dx = test::tensor_with(x_shape, dt, start_dx, "dx", ctx);
  Tensor written = test::tensor_with(x_shape, dt, test::random_values(vx.size(), 28, dt),
                                     "dx written", ctx);
  Tensor dy = test::tensor_with({rows, out}, dt, vdy, "dy", ctx);
  Tensor y = make_tensor(ctx, dt, {rows, out}, "y");
  Tensor hidden = make_tensor(ctx, dt, {rows, std::max<int64_t>(rank, 1)}, "lora hidden");
  Tensor dw = test::tensor_with(l.weight.shape, DType::f32, start_dw, "dW", ctx);
  Tensor db = test::tensor_with({out}, DType::f32, start_db, "dbias", ctx);
  Tensor da = test::tensor_with({rank, int64_t(d.in)}, DType::f32, start_da, "dA", ctx);
  Tensor dbb = test::tensor_with({out, rank}, DType::f32, start_dbb, "dB", ctx);
  bool adapter = rank != 0, bias = !l.values.bias.empty();
  vk::Recorder rec(ctx);
  ops::linear_forward(rec, y, adapter ? &hidden : nullptr, x, l.linear(), l.settings());
  ops::LinearGradients grads{&dx, &dw, bias ? &db : nullptr, adapter ? &da : nullptr,
                             adapter ? &dbb : nullptr};
  ops::linear_backward(rec, grads, dy, x, adapter ? &hidden : nullptr, l.linear(), l.settings());
  ops::linear_backward(rec, {&written}, dy, x, nullptr, l.linear(), l.settings(),
                       ops::GradientStore::write);
  rec.run();

  std::vector<double> want_y, want_u;
  reference::linear_forward(want_y, want_u, vx, l.values, d, l.host);
  reference::LinearGradients want;
  reference::linear_backward(want, vdy, vx, l.values, d, l.host);
  EXPECT_LT(test::relative_error(read_floats(ctx, y), want_y), tol.activations) << "y";
  EXPECT_LT(test::relative_error(read_floats(ctx, dx), plus(want.x, start_dx)), tol.activations)
      << "dx";
  EXPECT_LT(test::relative_error(read_floats(ctx, written), want.x), tol.activations)
      << "dx written";
  EXPECT_LT(test::relative_error(read_floats(ctx, dw), plus(want.weight, start_dw)), tol.weight)
      << "dW";
  if (bias) {
    EXPECT_LT(test::relative_error(read_floats(ctx, db), plus(want.bias, start_db)), tol.weight)
        << "dbias";
  }
  if (!adapter) return;
  auto got_u = read_floats(ctx, hidden);
  EXPECT_LT(test::relative_error(got_u, want_u), tol.hidden) << "u";
  EXPECT_LT(test::relative_error(read_floats(ctx, da), plus(want.lora_a, start_da)), tol.adapter)
      << "dA";
  EXPECT_LT(test::relative_error(read_floats(ctx, dbb), plus(want.lora_b, start_dbb)), tol.adapter)
      << "dB";
}

Tolerances tolerances(DType dt) {
  // Inputs are exact in their dtype and the reference works in double without rounding. What
  // remains is f32 accumulation (~3e-7 measured) and, for f16/bf16, roundings to the activation
  // dtype (unit roundoff 2^-11 / 2^-8): y and dx are rounded up to three times (base product,
  // bias or adapter product, their sums) and carry u's or du's rounding in the adapter term; u
  // carries its own and dropout(x)'s; dA and dB read rounded u, du or dropout(x). dW and dbias
  // are f32 sums of exact inputs. Largest seen: 1.5 units (f16 y), 1.1 units (bf16 y).
  if (dt == DType::f32) return {1e-5, 1e-5, 1e-5, 1e-5};
  double unit = std::ldexp(1.0, dt == DType::f16 ? -11 : -8);
  return {4 * unit, 3 * unit, 1e-5, 3 * unit};
}

struct Case {
  DType dtype;
  size_t rank;
  bool bias;
  float dropout;
};

std::string case_name(const testing::TestParamInfo<Case>& info) {
  const Case& c = info.param;
  return fmt::format("{}_rank{}_{}_{}", dtype_name(c.dtype), c.rank, c.bias ? "bias" : "nobias",
                     c.dropout > 0 ? "dropout" : "nodropout");
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (DType dt : {DType::f32, DType::f16, DType::bf16})
    for (size_t rank : {8, 5})
      for (bool bias : {true, false})
        for (float dropout : {0.0f, 0.2f}) cases.push_back({dt, rank, bias, dropout});
  return cases;
}

}  // namespace

class LoraLinear : public testing::TestWithParam<Case> {};

TEST_P(LoraLinear, ForwardAndBackwardMatchTheReference) {
  auto& ctx = test::context();
  const Case& c = GetParam();
  reference::LinearShape shape{67, 45, 71, c.rank};  // no multiple of any tile
  Layer l = make_layer(ctx, c.dtype, shape, c.bias, c.dropout);
  check_against_reference(ctx, c.dtype, l, {67, 45}, tolerances(c.dtype));
}

INSTANTIATE_TEST_SUITE_P(Cases, LoraLinear, testing::ValuesIn(all_cases()), case_name);

TEST(LoraLinearPlain, WithoutAdapterIsTheLinearLayer) {
  auto& ctx = test::context();
  for (DType dt : {DType::f32, DType::bf16}) {
    SCOPED_TRACE(dtype_name(dt));
    // x with leading dimensions [3, 13]: N = 39 rows. Dropout is set but, with no adapter,
    // never drawn.
    Layer l = make_layer(ctx, dt, {39, 45, 71, 0}, true, 0.5f);
    check_against_reference(ctx, dt, l, {3, 13, 45}, tolerances(dt));
  }
}

TEST(LoraLinearChunked, OperandsSplitAcrossAllocations) {
  vk::ContextOptions options = vk::ContextOptions::from_env();
  options.memory.max_span = 16 << 10;  // a few dozen rows per span
  vk::Context ctx(options);
  Layer l = make_layer(ctx, DType::f32, {150, 45, 71, 5}, true, 0.2f);
  check_against_reference(ctx, DType::f32, l, {150, 45}, tolerances(DType::f32));
}

// The gradients against central differences of L = sum(y * r) through the GPU forward, in f32
// with bias and dropout on: with a fixed seed the mask is a fixed linear map.
TEST(LoraLinearGradients, MatchFiniteDifferences) {
  auto& ctx = test::context();
  const reference::LinearShape d{14, 21, 11, 5};
  Layer l = make_layer(ctx, DType::f32, d, true, 0.3f);
  auto vx = test::random_values(d.rows * d.in, 31), r = test::random_values(d.rows * d.out, 32);
  Tensor x = test::tensor_with({2, 7, 21}, DType::f32, vx, "x");
  Tensor y = make_tensor(ctx, DType::f32, {14, 11}, "y");
  Tensor dy = test::tensor_with({14, 11}, DType::f32, r, "dy");
  Tensor dx = make_tensor(ctx, DType::f32, {2, 7, 21}, "dx");
  Tensor db = make_tensor(ctx, DType::f32, {11}, "dbias");
  Tensor da = make_tensor(ctx, DType::f32, {5, 21}, "dA");
  Tensor dbb = make_tensor(ctx, DType::f32, {11, 5}, "dB");
  vk::Recorder backward(ctx);
  for (Tensor* g : {&dx, &db, &da, &dbb}) ops::fill(backward, *g, 0.0f);
  ops::linear_backward(backward, {&dx, nullptr, &db, &da, &dbb}, dy, x, nullptr, l.linear(),
                       l.settings());
  backward.run();

  vk::Recorder forward(ctx);
  ops::linear_forward(forward, y, nullptr, x, l.linear(), l.settings());
  struct Input {
    const char* name;
    Tensor* tensor;
    std::vector<float>* values;
    const Tensor* grad;
  };
  Input inputs[] = {{"x", &x, &vx, &dx},
                    {"bias", &l.bias, &l.values.bias, &db},
                    {"lora_a", &l.lora_a, &l.values.lora_a, &da},
                    {"lora_b", &l.lora_b, &l.values.lora_b, &dbb}};
  for (Input& in : inputs) {
    auto grad = read_floats(ctx, *in.grad);
    double largest = 0;
    for (float g : grad) largest = std::max(largest, double(std::fabs(g)));
    auto loss = [&] {
      write_floats(ctx, *in.tensor, *in.values);
      forward.run();
      return test::dot(read_floats(ctx, y), r);
    };
    for (size_t i : test::sample_indices(in.values->size(), 6, 33)) {
      // y is linear in each input alone, so the difference quotient has no truncation error and
      // eps can be large: what remains is f32 rounding of L (~1e-6 of sum |y r|) over 2 eps.
      double numeric = test::central_difference(*in.values, i, 0.25f, loss);
      EXPECT_NEAR(grad[i], numeric, 1e-4 * std::max(largest, 1.0)) << in.name << "[" << i << "]";
    }
    write_floats(ctx, *in.tensor, *in.values);
  }
}

// Each gradient alone: backward then takes other paths (dx without dropout(x) to reuse, dB
// recomputing u), which must give what the full backward gives.
TEST(LoraLinear, GradientsOneAtATime) {
  auto& ctx = test::context();
  const reference::LinearShape d{37, 45, 71, 5};
  Layer l = make_layer(ctx, DType::f32, d, false, 0.2f);
  auto vx = test::random_values(d.rows * d.in, 61), vdy = test::random_values(d.rows * d.out, 62);
  Tensor x = test::tensor_with({37, 45}, DType::f32, vx, "x");
  Tensor dy = test::tensor_with({37, 71}, DType::f32, vdy, "dy");
  Tensor dx = make_tensor(ctx, DType::f32, {37, 45}, "dx");
  Tensor da = make_tensor(ctx, DType::f32, {5, 45}, "dA");
  Tensor dbb = make_tensor(ctx, DType::f32, {71, 5}, "dB");
  reference::LinearGradients want;
  reference::linear_backward(want, vdy, vx, l.values, d, l.host);
  struct Alone {
    Tensor* grad;
    ops::LinearGradients grads;
    const std::vector<double>* want;
  };
  for (const Alone& alone : {Alone{&dx, {&dx}, &want.x}, Alone{&da, {.lora_a = &da}, &want.lora_a},
                             Alone{&dbb, {.lora_b = &dbb}, &want.lora_b}}) {
    vk::Recorder rec(ctx);
    ops::fill(rec, *alone.grad, 0.0f);
    ops::linear_backward(rec, alone.grads, dy, x, nullptr, l.linear(), l.settings());
    rec.run();
    EXPECT_LT(test::relative_error(read_floats(ctx, *alone.grad), *alone.want), 1e-5)
        << alone.grad->name;  // f32 sums, as in the cases above
  }
}

TEST(LoraLinear, DeterministicBits) {
  auto& ctx = test::context();
  const reference::LinearShape d{300, 45, 71, 8};  // several column_sum chunks of dbias
  Layer l = make_layer(ctx, DType::bf16, d, true, 0.1f);
  auto vx = test::random_values(300 * 45, 41, DType::bf16);
  auto vdy = test::random_values(300 * 71, 42, DType::bf16);
  Tensor x = test::tensor_with({300, 45}, DType::bf16, vx, "x");
  Tensor dy = test::tensor_with({300, 71}, DType::bf16, vdy, "dy");
  Tensor y = make_tensor(ctx, DType::bf16, {300, 71}, "y");
  Tensor dx = make_tensor(ctx, DType::bf16, {300, 45}, "dx");
  Tensor db = make_tensor(ctx, DType::f32, {71}, "dbias");
  Tensor da = make_tensor(ctx, DType::f32, {8, 45}, "dA");
  Tensor dbb = make_tensor(ctx, DType::f32, {71, 8}, "dB");
  vk::Recorder rec(ctx);
  for (Tensor* g : {&dx, &db, &da, &dbb}) ops::fill(rec, *g, 0.0f);
  ops::linear_forward(rec, y, nullptr, x, l.linear(), l.settings());
  ops::linear_backward(rec, {&dx, nullptr, &db, &da, &dbb}, dy, x, nullptr, l.linear(),
                       l.settings());
  auto outputs = [&] {
    rec.run();
    std::vector<std::vector<float>> all;
    for (const Tensor* t : {&y, &dx, &db, &da, &dbb}) all.push_back(read_floats(ctx, *t));
    return all;
  };
  auto first = outputs(), again = outputs();
  for (size_t i = 0; i < first.size(); ++i)
    EXPECT_EQ(std::memcmp(first[i].data(), again[i].data(), first[i].size() * 4), 0) << i;
}

TEST(LoraBias, AddsOverRowsAndSpans) {
  vk::ContextOptions options = vk::ContextOptions::from_env();
  options.memory.max_span = 16 << 10;
  vk::Context ctx(options);
  for (DType dt : {DType::f32, DType::f16, DType::bf16}) {
    auto vy = test::random_values(203 * 77, 51, dt), vb = test::random_values(77, 52);
    Tensor y = test::tensor_with({7, 29, 77}, dt, vy, "y", ctx);
    Tensor bias = test::tensor_with({77}, DType::f32, vb, "bias", ctx);
    vk::Recorder rec(ctx);
    ops::add_bias(rec, y, bias);
    rec.run();
    auto got = read_floats(ctx, y);
    for (size_t i = 0; i < got.size(); ++i)  // f32 math, one rounding: what the host computes
      ASSERT_EQ(got[i], round_to(dt, vy[i] + vb[i % 77])) << dtype_name(dt) << " " << i;
  }
}

TEST(LoraLinearErrors, BadShapesAreNamed) {
  auto& ctx = test::context();
  Layer l = make_layer(ctx, DType::f32, {4, 6, 3, 2}, true, 0.1f);
  Tensor x = make_tensor(ctx, DType::f32, {4, 6}, "x");
  Tensor y = make_tensor(ctx, DType::f32, {4, 3}, "y");
  Tensor wide_x = make_tensor(ctx, DType::f32, {4, 7}, "wide x");
  Tensor bad_y = make_tensor(ctx, DType::f32, {4, 4}, "bad y");
  Tensor half_x = make_tensor(ctx, DType::bf16, {4, 6}, "half x");
  Tensor rank5_b = make_tensor(ctx, DType::f32, {3, 5}, "rank5 b");
  Tensor long_bias = make_tensor(ctx, DType::f32, {4}, "long bias");
  Tensor bad_da = make_tensor(ctx, DType::f32, {2, 5}, "bad dA");
  Tensor half_db = make_tensor(ctx, DType::bf16, {3}, "half dbias");
  vk::Recorder rec(ctx);
  auto forward = [&](Tensor& out, const Tensor& in, const ops::Linear& layer,
                     const ops::LoraSettings& settings) {
    return test::error_message(
        [&] { ops::linear_forward(rec, out, nullptr, in, layer, settings); });
  };
  auto has = [](const std::string& message, const std::string& part) {
    return message.find(part) != std::string::npos;
  };
  EXPECT_TRUE(has(forward(y, wide_x, l.linear(), l.settings()), "wide x"));
  EXPECT_TRUE(has(forward(bad_y, x, l.linear(), l.settings()), "bad y"));
  EXPECT_TRUE(has(forward(y, half_x, l.linear(), l.settings()), "half x"));
  auto message = forward(y, x, {l.weight, &l.bias, &l.lora_a, &rank5_b}, l.settings());
  EXPECT_TRUE(has(message, "[linear_forward] the ranks differ: lora_a")) << message;
  EXPECT_TRUE(has(message, "rank5 b")) << message;
  EXPECT_TRUE(has(forward(y, x, {l.weight, &long_bias}, l.settings()), "long bias"));
  EXPECT_TRUE(has(forward(y, x, {l.weight, &l.bias, &l.lora_a}, l.settings()), "come together"));
  EXPECT_TRUE(has(forward(y, x, l.linear(), {kScale, {0.1f, 0, nullptr}}), "needs a seed"));
  auto backward = [&](const ops::LinearGradients& grads) {
    return test::error_message(
        [&] { ops::linear_backward(rec, grads, y, x, nullptr, l.linear(), l.settings()); });
  };
  EXPECT_TRUE(has(backward({nullptr, nullptr, nullptr, &bad_da}), "bad dA"));
  EXPECT_TRUE(has(backward({nullptr, nullptr, &half_db}), "half dbias"));
  EXPECT_EQ(backward({}), "");
}

}  // namespace lora_test
