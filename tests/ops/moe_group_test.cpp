#include <gtest/gtest.h>

#include <cmath>

#include "ops/moe_group.hpp"
#include "reference/moe.hpp"
#include "support/support.hpp"

using namespace vktrain;
using ops::GradientStore;

namespace {

struct Case {
  const char* name;
  size_t T, E, k;
  // How ids are drawn: random over all experts but `empty`; every slot `all`; or with a few
  // corrupt ids (-1, E, 1000) mixed in.
  enum { random, all, corrupt } draw;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

// Distinct experts per token (as the router gives), from seeded random values; expert 3 (where
// E > 4) never appears in `random` draws, expert E - 1 takes every token's first slot in `all`.
std::vector<int32_t> draw_ids(const Case& c) {
  auto r = test::random_values(c.T * c.k * 4, 21);
  std::vector<int32_t> ids;
  size_t next = 0;
  for (size_t t = 0; t < c.T; ++t) {
    std::vector<int32_t> row;
    while (row.size() < c.k) {
      int32_t e = int32_t(std::fabs(r[next++ % r.size()]) * 997.0f) % int32_t(c.E);
      if (c.draw == Case::all && row.empty()) e = int32_t(c.E) - 1;
      if (c.draw != Case::all && c.E > 4 && e == 3) continue;
      if (std::find(row.begin(), row.end(), e) == row.end()) row.push_back(e);
    }
    ids.insert(ids.end(), row.begin(), row.end());
  }
  if (c.draw == Case::corrupt) {
    ids[1] = -1;
    ids[ids.size() / 2] = int32_t(c.E);
    ids.back() = 1000;
  }
  return ids;
}

struct Grouped {
  std::vector<int32_t> offsets, rows, positions;
};

Grouped run_group(const Case& c, const std::vector<int32_t>& ids_host) {
  auto& ctx = test::context();
  int64_t T = int64_t(c.T), k = int64_t(c.k);
  Tensor ids = make_tensor(ctx, DType::i32, {T, k}, "ids");
  write_ints(ctx, ids, ids_host);
  Tensor offsets = make_tensor(ctx, DType::i32, {int64_t(c.E) + 1}, "offsets");
  Tensor rows = make_tensor(ctx, DType::i32, {T * k}, "rows");
  Tensor positions = make_tensor(ctx, DType::i32, {T, k}, "positions");
  Tensor scratch = make_tensor(
      ctx, DType::i32, {int64_t(ops::moe_group_scratch_elements(c.T * c.k, c.E))}, "scratch");
  vk::Recorder rec(ctx);
  ops::moe_group(rec, offsets, rows, positions, scratch, ids, uint32_t(c.E));
  rec.run();
  return {read_ints(ctx, offsets), read_ints(ctx, rows), read_ints(ctx, positions)};
}

// A reference grouping on the device, for the gather and combine tests.
struct GroupingTensors {
  Tensor offsets, rows, positions;
  GroupingTensors(const Case& c, const reference::MoeGrouping& g) {
    auto& ctx = test::context();
    offsets = make_tensor(ctx, DType::i32, {int64_t(c.E) + 1}, "offsets");
    rows = make_tensor(ctx, DType::i32, {int64_t(c.T * c.k)}, "rows");
    positions = make_tensor(ctx, DType::i32, {int64_t(c.T), int64_t(c.k)}, "positions");
    write_ints(ctx, offsets, g.offsets);
    write_ints(ctx, rows, g.rows);
    write_ints(ctx, positions, g.positions);
  }
};

const Case kCases[] = {
    {"T37_E5_k2", 37, 5, 2, Case::random},    {"one_expert_takes_all", 37, 5, 1, Case::all},
    {"k_is_e", 23, 4, 4, Case::random},       {"several_blocks", 301, 9, 3, Case::random},
    {"corrupt_ids", 37, 6, 2, Case::corrupt},
};

}  // namespace

class MoeGroupCases : public testing::TestWithParam<Case> {};

// Offsets, rows and positions equal the stable sort's, and a second run gives the same result.
TEST_P(MoeGroupCases, GroupingIsTheStableSortByExpert) {
  const Case& c = GetParam();
  auto ids = draw_ids(c);
  auto want = reference::moe_group(ids, c.E);
  Grouped got = run_group(c, ids);
  EXPECT_EQ(got.offsets, want.offsets);
  EXPECT_EQ(got.rows, want.rows);
  EXPECT_EQ(got.positions, want.positions);
  Grouped again = run_group(c, ids);
  EXPECT_EQ(again.rows, got.rows);
  if (c.draw == Case::random && c.E > 4) EXPECT_EQ(got.offsets[3], got.offsets[4]);
  if (c.draw == Case::all) EXPECT_EQ(got.offsets[c.E - 1], 0);
}

// Gather (plain and weighted), combine and the combine's weight gradient against the reference,
// in f32 and bf16, adding into or writing their outputs.
TEST_P(MoeGroupCases, GatherAndCombineMatchTheReference) {
  const Case& c = GetParam();
  auto& ctx = test::context();
  const size_t C = 67, S = c.T * c.k;
  auto ids = draw_ids(c);
  auto g = reference::moe_group(ids, c.E);
  for (DType dt : {DType::f32, DType::bf16}) {
    SCOPED_TRACE(dtype_name(dt));
    auto x = test::random_values(c.T * C, 31, dt);
    auto ye = test::random_values(S * C, 32, dt);
    auto w = test::random_values(S, 33);
    auto start = test::random_values(c.T * C, 34, dt);
    auto dw_start = test::random_values(S, 35);
    int64_t T = int64_t(c.T), k = int64_t(c.k);
    Tensor xt = test::tensor_with({T, int64_t(C)}, dt, x, "x");
    Tensor yet = test::tensor_with({int64_t(S), int64_t(C)}, dt, ye, "ye");
    Tensor wt = test::tensor_with({T, k}, DType::f32, w, "weights");
    GroupingTensors grouping(c, g);
    auto& [offsets, rows, positions] = grouping;
    Tensor xe = make_tensor(ctx, dt, {int64_t(S), int64_t(C)}, "xe");
    Tensor xe_weighted = make_tensor(ctx, dt, {int64_t(S), int64_t(C)}, "xe_weighted");
    Tensor y = test::tensor_with({T, int64_t(C)}, dt, start, "y");
    Tensor y_plain = make_tensor(ctx, dt, {T, int64_t(C)}, "y_plain");
    Tensor dw = test::tensor_with({T, k}, DType::f32, dw_start, "dweights");
    vk::Recorder rec(ctx);
    ops::moe_gather(rec, xe, xt, rows);
    ops::moe_gather(rec, xe_weighted, xt, rows, &wt);
    ops::moe_combine(rec, y, yet, positions, offsets, &wt, GradientStore::add);
    ops::moe_combine(rec, y_plain, yet, positions, offsets, nullptr);
    ops::moe_combine_backward_weights(rec, dw, xt, yet, positions, offsets, GradientStore::add);
    rec.run();
    std::vector<double> want_xe(S * C), want_xw(S * C), want_y(start.begin(), start.end()),
        want_plain(c.T * C, 0.0), want_dw(dw_start.begin(), dw_start.end());
    for (size_t p = 0; p < S; ++p)
      for (size_t i = 0; i < C; ++i) {
        size_t s = size_t(g.rows[p]);
        want_xe[p * C + i] = x[s / c.k * C + i];
        want_xw[p * C + i] = double(x[s / c.k * C + i]) * w[s];
      }
    for (size_t s = 0; s < S; ++s) {
      if (g.positions[s] >= g.offsets[c.E]) continue;  // a corrupt id: combined nowhere
      size_t t = s / c.k, p = size_t(g.positions[s]);
      for (size_t i = 0; i < C; ++i) {
        want_y[t * C + i] += double(w[s]) * ye[p * C + i];
        want_plain[t * C + i] += ye[p * C + i];
        want_dw[s] += double(x[t * C + i]) * ye[p * C + i];
      }
    }
    double tolerance = dt == DType::f32 ? 1e-5 : 8e-3;
    EXPECT_LT(test::relative_error(read_floats(ctx, xe), want_xe), tolerance);
    EXPECT_LT(test::relative_error(read_floats(ctx, xe_weighted), want_xw), tolerance);
    EXPECT_LT(test::relative_error(read_floats(ctx, y), want_y), tolerance);
    EXPECT_LT(test::relative_error(read_floats(ctx, y_plain), want_plain), tolerance);
    EXPECT_LT(test::relative_error(read_floats(ctx, dw), want_dw), 1e-5);
  }
}

INSTANTIATE_TEST_SUITE_P(Routings, MoeGroupCases, testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

// The combine's backward (d ye = the weighted gather of dy, d weights) against central
// differences of L = sum(combine(ye, weights) * r) through the GPU combine.
TEST(MoeCombineGradient, MatchesFiniteDifferences) {
  auto& ctx = test::context();
  Case c{"fd", 19, 5, 2, Case::random};
  const size_t C = 13, S = c.T * c.k;
  auto g = reference::moe_group(draw_ids(c), c.E);
  auto ye = test::random_values(S * C, 41), w = test::random_values(S, 42);
  auto r = test::random_values(c.T * C, 43);
  int64_t T = int64_t(c.T), k = int64_t(c.k);
  Tensor yet = make_tensor(ctx, DType::f32, {int64_t(S), int64_t(C)}, "ye");
  Tensor wt = make_tensor(ctx, DType::f32, {T, k}, "weights");
  GroupingTensors grouping(c, g);
  auto& [offsets, rows, positions] = grouping;
  Tensor y = make_tensor(ctx, DType::f32, {T, int64_t(C)}, "y");
  Tensor dy = test::tensor_with({T, int64_t(C)}, DType::f32, r, "dy");
  Tensor dye = make_tensor(ctx, DType::f32, {int64_t(S), int64_t(C)}, "dye");
  Tensor dw = make_tensor(ctx, DType::f32, {T, k}, "dweights");
  vk::Recorder forward(ctx);
  ops::moe_combine(forward, y, yet, positions, offsets, &wt);
  auto loss = [&] {
    write_floats(ctx, yet, ye);
    write_floats(ctx, wt, w);
    forward.run();
    return test::dot(read_floats(ctx, y), r);
  };
  loss();
  vk::Recorder backward(ctx);
  ops::moe_gather(backward, dye, dy, rows, &wt);
  ops::moe_combine_backward_weights(backward, dw, dy, yet, positions, offsets);
  backward.run();
  auto dye_host = read_floats(ctx, dye), dw_host = read_floats(ctx, dw);
  for (size_t i : test::sample_indices(S * C, 8, 44))
    EXPECT_NEAR(test::central_difference(ye, i, 1e-2f, loss), dye_host[i], 1e-3) << i;
  for (size_t i : test::sample_indices(S, 8, 45))
    EXPECT_NEAR(test::central_difference(w, i, 1e-2f, loss), dw_host[i], 1e-3) << i;
}

TEST(MoeGroupErrors, ShapesAndCountsAreNamed) {
  auto& ctx = test::context();
  Tensor ids = make_tensor(ctx, DType::i32, {7, 2}, "ids");
  Tensor offsets = make_tensor(ctx, DType::i32, {5}, "offsets");
  Tensor rows = make_tensor(ctx, DType::i32, {14}, "rows");
  Tensor positions = make_tensor(ctx, DType::i32, {7, 2}, "positions");
  Tensor scratch = make_tensor(ctx, DType::i32, {2}, "scratch");
  vk::Recorder rec(ctx);
  auto message =
      test::error_message([&] { ops::moe_group(rec, offsets, rows, positions, scratch, ids, 4); });
  EXPECT_NE(message.find("scratch (i32, [2]) holds fewer than the 5 elements"), std::string::npos)
      << message;
  message = test::error_message(
      [&] { ops::moe_group(rec, offsets, rows, positions, scratch, ids, 5000); });
  EXPECT_NE(message.find("5000 experts"), std::string::npos) << message;
  message =
      test::error_message([&] { ops::moe_group(rec, offsets, rows, positions, scratch, ids, 3); });
  EXPECT_NE(message.find("offsets (i32, [5]) must be [E + 1]"), std::string::npos) << message;
}
