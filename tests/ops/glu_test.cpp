#include <gtest/gtest.h>

#include <array>

#include "base/error.hpp"
#include "ops/glu.hpp"
#include "reference/glu.hpp"
#include "support/support.hpp"

using namespace vktrain;
using ops::GluActivation;
using ops::GradientStore;

namespace {

const char* activation_name(GluActivation a) { return a == GluActivation::silu ? "silu" : "gelu_tanh"; }

// Inputs of one GLU call, [N, F], random in the dtype; gate spans [-6, 6] so that both tails of
// the activation are exercised.
struct Inputs {
  std::vector<float> gate, up, dh, dgate, dup;
  Inputs(size_t n, DType dt)
      : gate(test::random_values(n, 1, dt, 6.0f)), up(test::random_values(n, 2, dt)),
        dh(test::random_values(n, 3, dt)), dgate(test::random_values(n, 4, dt)),
        dup(test::random_values(n, 5, dt)) {}
};

struct Outputs {
  std::vector<float> h, dgate, dup;
};

// Forward and backward (into dgate, dup, which start at in.dgate, in.dup) in one recording on
// `ctx`. Each tensor is a view at element offsets[i] of a larger one (gate, up, dh, dgate, dup,
// h), so the kernels see any alignment.
Outputs run_glu(vk::Context& ctx, const Inputs& in, std::vector<int64_t> shape, DType dt,
                GluActivation act, GradientStore store, std::array<uint64_t, 6> offsets = {}) {
  size_t n = in.gate.size();
  std::vector<Tensor> memory;
  std::vector<Tensor> t;
  const char* names[] = {"gate", "up", "dh", "dgate", "dup", "h"};
  const std::vector<float>* values[] = {&in.gate, &in.up, &in.dh, &in.dgate, &in.dup, &in.dh};
  for (size_t i = 0; i < 6; ++i) {
    if (offsets[i] == 0) {
      t.push_back(test::tensor_with(shape, dt, *values[i], names[i], ctx));
      continue;
    }
    std::vector<float> padded(n + offsets[i] + 5, 0.5f);
    std::copy(values[i]->begin(), values[i]->end(), padded.begin() + ptrdiff_t(offsets[i]));
    memory.push_back(test::tensor_with({int64_t(padded.size())}, dt, padded, names[i], ctx));
    t.push_back(view(memory.back(), offsets[i], shape, names[i]));
  }
  vk::Recorder rec(ctx);
  ops::glu_forward(rec, t[5], t[0], t[1], act);
  ops::glu_backward(rec, t[3], t[4], t[2], t[0], t[1], act, store);
  rec.run();
  return {read_floats(ctx, t[5]), read_floats(ctx, t[3]), read_floats(ctx, t[4])};
}

// `store` add: the gradients are in.dgate, in.dup plus the backward's; write: the backward's.
void expect_reference(const Outputs& got, const Inputs& in, DType dt, GluActivation act,
                      GradientStore store) {
  std::vector<double> h, dgate(in.dgate.size()), dup(in.dup.size());
  if (store == GradientStore::add) {
    dgate.assign(in.dgate.begin(), in.dgate.end());
    dup.assign(in.dup.begin(), in.dup.end());
  }
  reference::glu_forward(h, in.gate, in.up, act);
  reference::glu_backward(dgate, dup, in.dh, in.gate, in.up, act);
  // Inputs are exact in their dtype: what remains is one rounding of each output to it (2^-11
  // f16, 2^-8 bf16, relative), or f32 exp/division error of a few ulp.
  double tolerance = dt == DType::f32 ? 1e-5 : dt == DType::f16 ? 1e-3 : 8e-3;
  EXPECT_LT(test::relative_error(got.h, h), tolerance);
  EXPECT_LT(test::relative_error(got.dgate, dgate), tolerance);
  EXPECT_LT(test::relative_error(got.dup, dup), tolerance);
}

}  // namespace

class Glu : public testing::TestWithParam<std::tuple<DType, GluActivation>> {};

// The backward adds into random gradients, or writes over them without reading them.
TEST_P(Glu, ForwardAndBackwardMatchTheReference) {
  auto [dt, act] = GetParam();
  Inputs in(37 * 67, dt);
  for (GradientStore store : {GradientStore::add, GradientStore::write}) {
    SCOPED_TRACE(store == GradientStore::add ? "add" : "write");
    expect_reference(run_glu(test::context(), in, {37, 67}, dt, act, store), in, dt, act, store);
  }
}

// 7 x 143 elements (not a multiple of the 8-element vector steps) as views at odd offsets:
// all at one offset (vector steps after an unaligned head), and at offsets that never align
// together (element by element).
TEST_P(Glu, ViewsAtOddOffsets) {
  auto [dt, act] = GetParam();
  Inputs in(7 * 143, dt);
  for (auto offsets : {std::array<uint64_t, 6>{3, 3, 3, 3, 3, 3},
                       std::array<uint64_t, 6>{1, 2, 3, 4, 5, 6}}) {
    SCOPED_TRACE(fmt::format("offset of gate {}, up {}", offsets[0], offsets[1]));
    for (GradientStore store : {GradientStore::add, GradientStore::write})
      expect_reference(run_glu(test::context(), in, {7, 143}, dt, act, store, offsets), in, dt,
                       act, store);
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, Glu,
                         testing::Combine(testing::Values(DType::f32, DType::f16, DType::bf16),
                                          testing::Values(GluActivation::silu, GluActivation::gelu_tanh)),
                         [](const auto& info) {
                           return fmt::format("{}_{}", dtype_name(std::get<0>(info.param)),
                                              activation_name(std::get<1>(info.param)));
                         });

class GluGradient : public testing::TestWithParam<GluActivation> {};

// dgate and dup against central differences of L = sum(h * r) through the GPU forward.
TEST_P(GluGradient, MatchesFiniteDifferences) {
  auto& ctx = test::context();
  GluActivation act = GetParam();
  const size_t n = 19 * 23;
  Inputs in(n, DType::f32);
  auto r = in.dh;
  Tensor gate = make_tensor(ctx, DType::f32, {19, 23}, "gate");
  Tensor up = make_tensor(ctx, DType::f32, {19, 23}, "up");
  Tensor h = make_tensor(ctx, DType::f32, {19, 23}, "h");
  vk::Recorder forward(ctx);
  ops::glu_forward(forward, h, gate, up, act);
  auto loss = [&] {
    write_floats(ctx, gate, in.gate);
    write_floats(ctx, up, in.up);
    forward.run();
    return test::dot(read_floats(ctx, h), r);
  };
  Outputs grads = run_glu(ctx, in, {19, 23}, DType::f32, act, GradientStore::write);
  // Only h[i] changes with element i: the difference carries one f32 rounding of h (~1e-7)
  // over 2 eps, plus eps^2 |act'''| / 6 truncation; both far below 1e-3.
  for (size_t i : test::sample_indices(n, 8, 7)) {
    EXPECT_NEAR(test::central_difference(in.gate, i, 1e-2f, loss), grads.dgate[i], 1e-3) << i;
    EXPECT_NEAR(test::central_difference(in.up, i, 1e-2f, loss), grads.dup[i], 1e-3) << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Activations, GluGradient,
                         testing::Values(GluActivation::silu, GluActivation::gelu_tanh),
                         [](const auto& info) { return activation_name(info.param); });

TEST(GluSpans, TensorsSplitAcrossAllocations) {
  vk::ContextOptions options = vk::ContextOptions::from_env();
  options.memory.max_span = 16 << 10;  // 61 rows of 67 f32 per span
  vk::Context ctx(options);
  Inputs in(150 * 67, DType::f32);
  for (GradientStore store : {GradientStore::add, GradientStore::write})
    expect_reference(run_glu(ctx, in, {150, 67}, DType::f32, GluActivation::gelu_tanh, store), in,
                     DType::f32, GluActivation::gelu_tanh, store);
}

TEST(GluErrors, MismatchedTensorsAreNamed) {
  auto& ctx = test::context();
  Tensor gate = make_tensor(ctx, DType::bf16, {4, 6}, "gate");
  Tensor up = make_tensor(ctx, DType::bf16, {4, 5}, "up");
  Tensor h = make_tensor(ctx, DType::bf16, {4, 6}, "h");
  Tensor dh32 = make_tensor(ctx, DType::f32, {4, 6}, "dh32");
  vk::Recorder rec(ctx);
  auto message = test::error_message([&] { ops::glu_forward(rec, h, gate, up, GluActivation::silu); });
  EXPECT_NE(message.find("up (bf16, [4, 5])"), std::string::npos) << message;
  message = test::error_message(
      [&] { ops::glu_backward(rec, h, h, dh32, gate, gate, GluActivation::silu); });
  EXPECT_NE(message.find("dh32"), std::string::npos) << message;
}
