#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "attention_runs.hpp"
#include "ops/elementwise.hpp"

using namespace vktrain;
using namespace vktrain::test;

namespace attention_test {
namespace {

struct Case {
  const char* name;
  AttentionShape shape;
};

// Sizes are no multiples of the tiles (64 / 32 rows, 16 for short sequences); each case covers one mask and head layout,
// the last a head_dim that is no multiple of the 16 accumulator columns.
std::vector<Case> all_cases() {
  return {
      {"causal_gqa4_d64", {2, 77, 4, 1, 64, true, 0, 0.125}},
      {"window_mha_d128", {1, 150, 2, 2, 128, true, 37, 0.088}},
      {"full_gqa2_d256", {1, 45, 2, 1, 256, false, 0, 0.0625}},
      {"full_window_d72", {1, 100, 2, 2, 72, false, 17, 0.118}},
      // Many tiles: the window spans several key tiles and starts mid-tile.
      {"long_window_gqa2_d32", {1, 700, 4, 2, 32, true, 200, 0.17}},
      // At most 32 tokens: the portable kernels' short tiles (16 x 16), every mask.
      {"short_window_gqa2_d72", {2, 29, 4, 2, 72, true, 7, 0.118}},
      {"short_documents_full_d256", with_documents({1, 31, 2, 1, 256, false, 0, 0.0625}, {12, 10, 9})},
  };
}

std::string case_name(const testing::TestParamInfo<std::tuple<DType, Case>>& info) {
  return fmt::format("{}_{}", dtype_name(std::get<0>(info.param)), std::get<1>(info.param).name);
}

}  // namespace

class Attention : public testing::TestWithParam<std::tuple<DType, Case>> {};

TEST_P(Attention, ForwardMatchesTheReference) {
  auto [dt, c] = GetParam();
  check_forward(c.shape, dt, AttentionVariant::portable, portable_tolerances(dt));
}

TEST_P(Attention, BackwardMatchesTheReferenceAddingOrWriting) {
  auto [dt, c] = GetParam();
  check_backward(c.shape, dt, AttentionVariant::portable, portable_tolerances(dt));
}

// Every case in f32; the 16-bit dtypes change only loads and stores, so they take fewer cases
// (each dtype and head_dim is a pipeline to compile, which dominates the time on lavapipe).
INSTANTIATE_TEST_SUITE_P(F32, Attention,
                         testing::Combine(testing::Values(DType::f32), testing::ValuesIn(all_cases())),
                         case_name);
INSTANTIATE_TEST_SUITE_P(F16, Attention,
                         testing::Combine(testing::Values(DType::f16),
                                          testing::Values(all_cases()[0], all_cases()[1])),
                         case_name);
INSTANTIATE_TEST_SUITE_P(BF16, Attention,
                         testing::Combine(testing::Values(DType::bf16),
                                          testing::Values(all_cases()[0], all_cases()[3])),
                         case_name);

namespace {

// The cooperative-matrix variant (f16 or bf16, head_dim a multiple of 16): sizes no multiple of
// its tiles (64 own rows on GPUs, 32 on lavapipe's 8x8x8; 64 or 32 visited), every mask, GQA,
// and head_dim 32 to 256.
std::vector<Case> coopmat_cases() {
  auto all = all_cases();
  return {all[0], all[1], all[2], all[4],
          {"causal_gqa2_d128", {2, 130, 4, 2, 128, true, 0, 0.088}},
          {"documents_gqa2_d80", with_documents({1, 77, 4, 2, 80, true, 0, 0.11}, {20, 33, 24})},
          {"documents_full_window_d64",
           with_documents({2, 130, 2, 1, 64, false, 50, 0.125}, {70, 60})}};
}

// The coopmat2 variant (f16 or bf16, any head_dim: its layouts pad head_dim to 16): the coopmat
// cases, a head_dim that is no multiple of 16 (72, with a two-sided window) and a sequence
// shorter than one 64-row tile.
std::vector<Case> coopmat2_cases() {
  auto cases = coopmat_cases();
  cases.push_back(all_cases()[3]);
  cases.push_back({"causal_gqa2_d128_t37", {1, 37, 4, 2, 128, true, 0, 0.088}});
  return cases;
}

// Whether `variant` runs here for the dtype and head_dim; where not, says why (the refusal itself
// is AttentionCoopmat's to check).
bool coopmat_runs_here(DType dt, int64_t head_dim,
                       AttentionVariant variant = AttentionVariant::coopmat) {
  auto why = ops::attention_unavailable(test::context(), variant, dt, head_dim);
  if (!why.empty())
    fmt::print("{} attention did not run here: {}\n", ops::attention_variant_name(variant), why);
  return why.empty();
}

using CoopmatCase = std::tuple<AttentionVariant, DType, Case>;

std::string coopmat_case_name(const testing::TestParamInfo<CoopmatCase>& info) {
  return fmt::format("{}_{}_{}", ops::attention_variant_name(std::get<0>(info.param)),
                     dtype_name(std::get<1>(info.param)), std::get<2>(info.param).name);
}

}  // namespace

class AttentionCoopmat : public testing::TestWithParam<CoopmatCase> {};

// Runs on a device with the variant's cooperative matrices of the dtype (coopmat: 16x16x16 or
// 8x8x8, lavapipe f16 only; coopmat2: VK_NV_cooperative_matrix2); elsewhere the op must refuse
// the forced variant with the reason, and this test checks that reason instead.
TEST_P(AttentionCoopmat, MatchesTheReferenceOrSaysWhyNot) {
  auto [variant, dt, c] = GetParam();
  const AttentionShape& s = c.shape;
  auto why = ops::attention_unavailable(test::context(), variant, dt, s.D);
  if (!why.empty()) {
    Inputs in = random_inputs(s, dt, 11);
    auto message = test::error_message([&] { run_forward(s, dt, in, variant); });
    EXPECT_NE(message.find("cannot run: " + why), std::string::npos) << message;
    fmt::print("{} attention did not run here: {}\n", ops::attention_variant_name(variant), why);
    return;
  }
  auto forward = check_forward(s, dt, variant, coopmat_tolerances(dt));
  auto backward = check_backward(s, dt, variant, coopmat_tolerances(dt));
  fmt::print("{} {} {}: o {:.1e} lse {:.1e} dq {:.1e} dk {:.1e} dv {:.1e}\n",
             ops::attention_variant_name(variant), dtype_name(dt), c.name, forward[0], forward[1],
             backward[0], backward[1], backward[2]);
}

// With a sink per head (attention_sinks_test.cpp): the forward starts each row's running
// maximum and sum from its head's sink, the backward kernels see it only through lse, and the
// sinks' gradient comes from lse and delta. Same kernels as above (the sinks are a push
// address), so where the variant cannot run the test above checks the refusal.
TEST_P(AttentionCoopmat, WithSinksMatchesTheReference) {
  auto [variant, dt, c] = GetParam();
  const AttentionShape s = with_sinks(c.shape);
  if (!coopmat_runs_here(dt, s.D, variant)) return;
  auto forward = check_forward(s, dt, variant, coopmat_tolerances(dt));
  auto backward = check_backward(s, dt, variant, coopmat_tolerances(dt));
  fmt::print("{} {} {} with sinks: o {:.1e} lse {:.1e} dq {:.1e} dk {:.1e} dv {:.1e} dsinks "
             "{:.1e}\n", ops::attention_variant_name(variant), dtype_name(dt), c.name, forward[0],
             forward[1], backward[0], backward[1], backward[2], backward[3]);
}

INSTANTIATE_TEST_SUITE_P(Coopmat, AttentionCoopmat,
                         testing::Combine(testing::Values(AttentionVariant::coopmat),
                                          testing::Values(DType::f16, DType::bf16),
                                          testing::ValuesIn(coopmat_cases())),
                         coopmat_case_name);
INSTANTIATE_TEST_SUITE_P(Coopmat2, AttentionCoopmat,
                         testing::Combine(testing::Values(AttentionVariant::coopmat2),
                                          testing::Values(DType::f16, DType::bf16),
                                          testing::ValuesIn(coopmat2_cases())),
                         coopmat_case_name);

// The coopmat kernels at tiles other than the op's choice, as bench_attention's sweeps run them
// on a GPU: two row blocks a subgroup (each visited fragment serves two products), visited tiles
// of one matrix side (H100: 2x16; lavapipe spent over 9 minutes compiling 2x16 at its side of
// 8), so query and key tiles differ in size. Where the variant cannot run, AttentionCoopmat
// checks the refusal.
TEST(AttentionCoopmatTiles, TwoRowBlocksMatchTheReference) {
  const Case c = all_cases()[0];
  const DType dt = DType::f16;
  if (!coopmat_runs_here(dt, c.shape.D)) return;
  const ops::CoopmatTile tile{2, ops::coopmat_khr_fragment(test::context().caps(), dt).m};
  check_forward(c.shape, dt, AttentionVariant::coopmat, coopmat_tolerances(dt), tile);
  check_backward(c.shape, dt, AttentionVariant::coopmat, coopmat_tolerances(dt), 0, tile);
}

// A sweep's tile the kernels cannot take is refused with the op and the limits named.
TEST(AttentionCoopmatTiles, BadTilesAreNamed) {
  const Case c = all_cases()[0];
  const DType dt = DType::f16;
  if (!coopmat_runs_here(dt, c.shape.D)) return;
  Inputs in = random_inputs(c.shape, dt, 11);
  auto message = test::error_message(
      [&] { run_forward(c.shape, dt, in, AttentionVariant::coopmat, ops::CoopmatTile{5, 12}); });
  EXPECT_NE(message.find("[attention_forward] coopmat tiles of 5 row blocks and 12 visited rows"),
            std::string::npos)
      << message;
}

// The coopmat2 kernels at tiles other than the op's choice, as bench_attention's --coopmat2-tile
// sweeps run them: 32 own rows over 64 threads and 128 visited rows (more than T, 77), and a
// tile they cannot take, refused with the op and the limits named. Where the variant cannot run,
// AttentionCoopmat checks the refusal.
TEST(AttentionCoopmatTiles, Coopmat2TilesMatchTheReferenceOrAreNamed) {
  const Case c = all_cases()[0];
  const DType dt = DType::f16;
  if (!coopmat_runs_here(dt, c.shape.D, AttentionVariant::coopmat2)) return;
  const ops::CoopmatTile tile{0, 128, 32, 64};
  check_forward(c.shape, dt, AttentionVariant::coopmat2, coopmat_tolerances(dt), tile);
  check_backward(c.shape, dt, AttentionVariant::coopmat2, coopmat_tolerances(dt), 0, tile);
  Inputs in = random_inputs(c.shape, dt, 11);
  auto message = test::error_message([&] {
    run_forward(c.shape, dt, in, AttentionVariant::coopmat2, ops::CoopmatTile{0, 64, 24, 128});
  });
  EXPECT_NE(message.find("[attention_forward] coopmat2 tiles of 24 x 64 rows over 128 threads"),
            std::string::npos)
      << message;
}

namespace {

// dk/dv with each key tile's query visits cut into parts (AttentionOptions::kv_parts), as for
// Gemma-3's one kv head of 4 query heads: parts that cut heads apart (3), one head each (4),
// that cut query tiles of one head (8, around skipped document tiles), and more parts than a key
// tile has visits (64: empty parts store zeros); 1 is the whole, which a GPU would not choose
// for these small shapes. T is no multiple of the 64-key tiles; head_dim 64 and 256.
using PartsCase = std::tuple<Case, uint32_t>;  // the shape, kv_parts

std::vector<PartsCase> parts_cases() {
  Case causal{"causal_gqa4_d64", {2, 77, 4, 1, 64, true, 0, 0.125}};
  return {{causal, 1},
          {causal, 3},
          {{"window_gqa4_d256", {1, 150, 4, 1, 256, true, 37, 0.0625}}, 4},
          {{"documents_gqa4_d64", with_documents({1, 130, 4, 1, 64, true, 0, 0.125}, {50, 47, 33})},
           8},
          {{"full_gqa4_d64", {1, 100, 4, 1, 64, false, 0, 0.125}}, 64}};
}

std::string parts_name(const testing::TestParamInfo<PartsCase>& info) {
  return fmt::format("{}_{}parts", std::get<0>(info.param).name, std::get<1>(info.param));
}

}  // namespace

class AttentionKvParts : public testing::TestWithParam<PartsCase> {};

TEST_P(AttentionKvParts, PortableMatchesTheReferenceAddingOrWriting) {
  auto [c, parts] = GetParam();
  check_backward(c.shape, DType::f32, AttentionVariant::portable,
                 portable_tolerances(DType::f32), parts);
}

// On devices without cooperative matrices of the dtype AttentionCoopmat checks the refusal.
TEST_P(AttentionKvParts, CoopmatMatchesTheReferenceAddingOrWriting) {
  auto [c, parts] = GetParam();
  for (AttentionVariant variant : {AttentionVariant::coopmat, AttentionVariant::coopmat2})
    for (DType dt : {DType::f16, DType::bf16}) {
      const auto name = ops::attention_variant_name(variant);
      auto why = ops::attention_unavailable(test::context(), variant, dt, c.shape.D);
      if (!why.empty()) {
        fmt::print("{} {} attention did not run here: {}\n", name, dtype_name(dt), why);
        continue;
      }
      auto errors = check_backward(c.shape, dt, variant, coopmat_tolerances(dt), parts);
      fmt::print("{} {} {} in {} parts: dq {:.1e} dk {:.1e} dv {:.1e}\n", name, dtype_name(dt),
                 c.name, parts, errors[0], errors[1], errors[2]);
    }
}

INSTANTIATE_TEST_SUITE_P(Parts, AttentionKvParts, testing::ValuesIn(parts_cases()), parts_name);

// The gradient of L = sum(o * r) through the GPU forward, by central differences in f32, on a
// few sampled elements of q, k and v.
TEST(AttentionFiniteDifferences, GradientsMatch) {
  for (bool causal : {true, false}) {
    AttentionShape s{1, 37, 4, 2, 64, causal, causal ? 13 : 0, 0.125};
    if (!causal) s.documents.assign(20, 3), s.documents.resize(37, 8);
    SCOPED_TRACE(causal ? "causal, window 13" : "full, two documents");
    Inputs in = random_inputs(s, DType::f32, 31);
    auto r = test::random_values(in.q.size(), 34);
    Gradients got = run_backward(s, DType::f32, in, r);
    Inputs x = in;
    auto loss = [&] { return test::dot(run_forward(s, DType::f32, x).o, r); };
    struct Operand {
      std::vector<float>& values;
      const std::vector<float>& grad;
    };
    for (Operand op : {Operand{x.q, got.dq}, Operand{x.k, got.dk}, Operand{x.v, got.dv}}) {
      std::vector<float> numeric, analytic;
      for (size_t i : test::sample_indices(op.values.size(), 6, 35)) {
        numeric.push_back(float(test::central_difference(op.values, i, 1e-2f, loss)));
        analytic.push_back(op.grad[i]);
      }
      // eps = 1e-2 leaves an O(eps^2) truncation error (seen: up to 6e-4); the f32 loss terms
      // that the step does not touch are the same bits in both runs and cancel.
      EXPECT_LT(test::relative_error(numeric, analytic), 2e-3);
    }
  }
}

namespace {

// A row that packs several documents gives each document what it gets alone. `rows` holds the
// document lengths of each batch row (all rows of one length T).
void check_packed(const std::vector<std::vector<uint32_t>>& rows, bool causal, int64_t window) {
  uint32_t T = 0;
  for (uint32_t length : rows[0]) T += length;
  AttentionShape packed{uint32_t(rows.size()), T, 4, 1, 64, causal, window, 0.125};
  for (size_t b = 0; b < rows.size(); ++b)
    for (size_t d = 0; d < rows[b].size(); ++d)
      packed.documents.resize(packed.documents.size() + rows[b][d], int32_t(7 * b + d));
  Inputs in = random_inputs(packed, DType::f32, 41);
  auto dout = test::random_values(in.q.size(), 44);
  Forward f = run_forward(packed, DType::f32, in);
  Gradients g = run_backward(packed, DType::f32, in, dout);
  for (uint32_t b = 0; b < rows.size(); ++b) {
    uint32_t first = 0;
    for (uint32_t length : rows[b]) {
      AttentionShape alone{1, length, 4, 1, 64, causal, window, 0.125};
      // Rows [first, first + length) of batch row b, of a [B, T, H * D] tensor.
      auto slice = [&](const std::vector<float>& all, uint32_t heads) {
        size_t row = size_t(heads) * packed.D, at = (size_t(b) * packed.T + first) * row;
        return std::vector<float>(all.begin() + at, all.begin() + at + length * row);
      };
      Inputs part{slice(in.q, 4), slice(in.k, 1), slice(in.v, 1)};
      Forward fa = run_forward(alone, DType::f32, part);
      Gradients ga = run_backward(alone, DType::f32, part, slice(dout, 4));
      std::vector<float> lse;
      for (uint32_t h = 0; h < 4; ++h)
        for (uint32_t t = 0; t < length; ++t)
          lse.push_back(f.lse[(size_t(b) * 4 + h) * packed.T + first + t]);
      // Same math in a different tile alignment: f32 summation order only (seen: 6e-7; the
      // first document of a row, aligned alike, matches bit for bit).
      EXPECT_LT(test::relative_error(slice(f.o, 4), fa.o), 1e-5);
      EXPECT_LT(test::relative_error(lse, fa.lse), 1e-5);
      EXPECT_LT(test::relative_error(slice(g.dq, 4), ga.dq), 1e-5);
      EXPECT_LT(test::relative_error(slice(g.dk, 1), ga.dk), 1e-5);
      EXPECT_LT(test::relative_error(slice(g.dv, 1), ga.dv), 1e-5);
      first += length;
    }
  }
}

}  // namespace

TEST(AttentionDocuments, PackedEqualsSeparate) {
  for (bool causal : {true, false}) {
    SCOPED_TRACE(causal ? "causal" : "full");
    check_packed({{20, 33, 24}, {40, 37}}, causal, 0);  // T = 77
  }
}

// Documents longer than a tile, starting mid-tile, with a window shorter than some of them.
TEST(AttentionDocuments, LongDocumentsWithAWindow) {
  check_packed({{150, 261, 89}}, true, 100);  // T = 500
}

// Whole and with dk/dv in parts (summed in order).
TEST(AttentionDeterminism, SameBitsEveryRun) {
  for (uint32_t parts : {1u, 3u}) {
    SCOPED_TRACE(fmt::format("kv_parts {}", parts));
    auto& ctx = test::context();
    AttentionShape s{1, 150, 4, 1, 64, true, 0, 0.125};
    Inputs in = random_inputs(s, DType::bf16, 51);
    DeviceInputs x(s, DType::bf16, in, AttentionVariant::portable, parts);
    Tensor dout = test::tensor_with(q_shape(s), DType::bf16,
                                    test::random_values(in.q.size(), 54, DType::bf16), "dout");
    Tensor dq = make_tensor(ctx, DType::bf16, q_shape(s), "dq"),
           dk = make_tensor(ctx, DType::bf16, kv_shape(s), "dk"),
           dv = make_tensor(ctx, DType::bf16, kv_shape(s), "dv");
    vk::Recorder rec(ctx);
    for (Tensor* t : {&dq, &dk, &dv}) ops::fill(rec, *t, 0.0f);
    ops::attention_forward(rec, x.o, x.lse, x.q, x.k, x.v, x.options);
    ops::attention_backward(rec, dq, dk, dv, dout, x.q, x.k, x.v, x.o, x.lse, x.options);
    auto results = [&] {
      rec.run();
      std::vector<std::vector<float>> all;
      for (const Tensor* t : {&x.o, &x.lse, &dq, &dk, &dv}) all.push_back(read_floats(ctx, *t));
      return all;
    };
    auto first = results(), again = results();
    for (size_t i = 0; i < first.size(); ++i)
      EXPECT_EQ(std::memcmp(first[i].data(), again[i].data(), first[i].size() * 4), 0) << i;
  }
}

TEST(AttentionErrors, BadInputsAreNamed) {
  auto& ctx = test::context();
  auto make = [&](DType dt, std::vector<int64_t> shape, const char* name) {
    return make_tensor(ctx, dt, std::move(shape), name);
  };
  Tensor q = make(DType::f32, {1, 8, 4, 16}, "q"), k = make(DType::f32, {1, 8, 2, 16}, "k"),
         v = make(DType::f32, {1, 8, 2, 16}, "v"), o = make(DType::f32, {1, 8, 4, 16}, "o"),
         lse = make(DType::f32, {1, 4, 8}, "lse");
  ops::AttentionOptions options;
  options.scale = 0.25f;
  vk::Recorder rec(ctx);
  auto forward_error = [&](const Tensor& q_, const Tensor& k_, const Tensor& v_, Tensor& lse_,
                           const ops::AttentionOptions& opt) {
    return test::error_message([&] { ops::attention_forward(rec, o, lse_, q_, k_, v_, opt); });
  };
  auto expect = [](const std::string& message, const char* part) {
    EXPECT_NE(message.find(part), std::string::npos) << message;
  };
  Tensor k_d = make(DType::f32, {1, 8, 2, 8}, "short k");
  expect(forward_error(q, k_d, v, lse, options), "short k (f32, [1, 8, 2, 8])");
  Tensor k_3 = make(DType::f32, {1, 8, 3, 16}, "three heads"),
         v_3 = make(DType::f32, {1, 8, 3, 16}, "v3");
  expect(forward_error(q, k_3, v_3, lse, options), "multiple of the kv heads of three heads");
  Tensor k_h = make(DType::f16, {1, 8, 2, 16}, "half k");
  expect(forward_error(q, k_h, v, lse, options), "half k (f16");
  Tensor bad_lse = make(DType::f32, {1, 8, 4}, "lse by time");
  expect(forward_error(q, k, v, bad_lse, options), "lse by time");
  Tensor wide_q = make(DType::f32, {1, 8, 4, 264}, "wide q"),
         wide_k = make(DType::f32, {1, 8, 2, 264}, "wk");
  expect(forward_error(wide_q, wide_k, wide_k, lse, options), "head_dim 264 of wide q");
  Tensor docs = make(DType::f32, {1, 8}, "float ids");
  ops::AttentionOptions with_docs = options;
  with_docs.documents = &docs;
  expect(forward_error(q, k, v, lse, with_docs),
         "documents must be i32 [B, T] = [1, 8], got float ids");
  expect(forward_error(q, k, v, lse, ops::AttentionOptions{}), "options.scale is not set");
  Tensor dq = make(DType::f32, {1, 8, 4, 16}, "dq"), dk = make(DType::f32, {1, 8, 2, 16}, "dk"),
         dv_short = make(DType::f32, {1, 7, 2, 16}, "dv of 7");
  expect(test::error_message([&] {
           ops::attention_backward(rec, dq, dk, dv_short, o, q, k, v, o, lse, options);
         }),
         "dv of 7 (f32, [1, 7, 2, 16]) must have the shape and dtype of k");

  vk::ContextOptions split = vk::ContextOptions::from_env();
  split.memory.max_span = 4 << 10;  // q below needs 8 KiB: two spans
  vk::Context small(split);
  Tensor q_split = make_tensor(small, DType::f32, {1, 32, 4, 16}, "split q");
  Tensor k_whole = make_tensor(small, DType::f32, {1, 32, 1, 16}, "k"),
         o_split = make_tensor(small, DType::f32, {1, 32, 4, 16}, "o"),
         lse_small = make_tensor(small, DType::f32, {1, 4, 32}, "lse");
  vk::Recorder split_rec(small);
  expect(test::error_message([&] {
           ops::attention_forward(split_rec, o_split, lse_small, q_split, k_whole, k_whole, options);
         }),
         "split q (f32, [1, 32, 4, 16]) lies in 2 allocation spans");
}

// Where the driver silently stops a shader's loops after a budget (lavapipe), an attention whose
// key loop would run past it is refused with the reason before anything is recorded, never
// computed wrong; elsewhere the same attention runs.
TEST(AttentionErrors, LongerThanTheDriversLoopLimitIsRefused) {
  auto& ctx = test::context();
  const int64_t T = 8192, D = 128;
  Tensor q = make_tensor(ctx, DType::f32, {1, T, 1, D}, "q"),
         k = make_tensor(ctx, DType::f32, {1, T, 1, D}, "k"),
         v = make_tensor(ctx, DType::f32, {1, T, 1, D}, "v"),
         o = make_tensor(ctx, DType::f32, {1, T, 1, D}, "o"),
         lse = make_tensor(ctx, DType::f32, {1, 1, T}, "lse");
  ops::AttentionOptions options;
  options.causal = true;
  options.scale = 0.125f;
  vk::Recorder rec(ctx);
  auto message = test::error_message([&] { ops::attention_forward(rec, o, lse, q, k, v, options); });
  if (ctx.caps().loop_limit) {
    EXPECT_NE(message.find("attention over 8192 keys of head_dim 128 needs about"),
              std::string::npos) << message;
    EXPECT_NE(message.find("silently stops a shader's loops"), std::string::npos) << message;
  } else {
    EXPECT_EQ(message, "") << message;
    rec.run();
  }
}

}  // namespace attention_test
