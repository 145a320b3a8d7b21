// bench/moe: the MoE grouped matmul (ops/moe_matmul.hpp) at a model's expert shapes, against the
// dense matmul ops::matmul picks for the same FLOPs in the same orientation, measured in the same
// run: the issue-16 target is >= 60% of the dense rate. Tokens are routed on the device by the
// router on random logits and grouped as training groups them, so experts own uneven row counts.
// Each product (the gate/up forward y = x W_e^T against [S, K] x [N, K]^T, the input gradient
// dx = dy W_e against [S, N] x [N, K], the weight gradient dW_e = dy_e^T x_e against
// [S, N]^T x [S, K]) is checked on sampled entries against a host sum, then timed. --tiles
// times the coopmat2 variant at forced tiles too (tuning).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <cstdio>
#include <random>
#include <stdexcept>

#include "cli/measure.hpp"
#include "ops/moe_group.hpp"
#include "ops/moe_matmul.hpp"
#include "ops/moe_router.hpp"

using namespace vktrain;

namespace {

struct Shape {
  const char* name;
  int64_t experts, k, hidden, intermediate;
};

// Qwen3-30B-A3B (128 experts, top-8, C 2048, F 768) and gpt-oss-20b (32, top-4, 2880, 2880).
const Shape kShapes[] = {{"qwen3-30b-a3b", 128, 8, 2048, 768}, {"gpt-oss-20b", 32, 4, 2880, 2880}};

// Largest |got[i] - want(i)| over 64 sampled entries, relative to the largest |want(i)|.
double sampled_error(const std::vector<float>& got, const std::function<double(uint64_t)>& want) {
  std::mt19937 rng(5);
  double err = 0, largest = 1e-30;
  for (int s = 0; s < 64; ++s) {
    uint64_t i = rng() % got.size();
    double w = want(i);
    err = std::max(err, std::fabs(got[i] - w));
    largest = std::max(largest, std::fabs(w));
  }
  return err / largest;
}

// A variant to time, at a forced coopmat2 tile or the op's choice.
struct Run {
  ops::MoeMatmulVariant variant;
  ops::MoeTile tile;
  std::string name;
};

std::vector<Run> parse_runs(const std::vector<std::string>& variants,
                            const std::vector<std::string>& tiles) {
  std::vector<Run> runs;
  for (const auto& name : variants) {
    auto variant = ops::moe_matmul_variant_from_name(name);
    if (variant != ops::MoeMatmulVariant::coopmat2) {
      runs.push_back({variant, {}, name});
      continue;
    }
    for (const auto& tile : tiles) {
      ops::MoeTile t;
      if (tile != "auto" &&
          std::sscanf(tile.c_str(), "%ux%ux%ux%u", &t.bm, &t.bn, &t.bk, &t.threads) != 4)
        throw std::runtime_error("--tiles '" + tile + "': use BMxBNxBKxTHREADS or auto");
      runs.push_back({variant, t, tile == "auto" ? name : name + " " + tile});
    }
  }
  return runs;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"moe lab: grouped expert matmul vs dense matmul of the same FLOPs"};
  int64_t tokens = 4096;
  int repeats = 10;
  std::string dtype_name_option = "bf16";
  std::vector<std::string> variants = {"portable", "coopmat", "coopmat2"};
  std::vector<std::string> tiles = {"auto"};
  app.add_option("--tokens", tokens, "tokens T routed (S = T x k grouped rows)");
  app.add_option("--repeats", repeats, "products per timed run");
  app.add_option("--dtype", dtype_name_option, "f16 or bf16 inputs (f32 outputs)");
  app.add_option("--variants", variants, "portable, coopmat, coopmat2");
  app.add_option("--tiles", tiles,
                 "coopmat2 tiles BMxBNxBKxTHREADS (e.g. 64x128x64x128) or auto (the op's)");
  int64_t divide = 1;
  app.add_option("--divide", divide, "divide C and F by this (a quick check on a CPU driver)");
  CLI11_PARSE(app, argc, argv);
  try {
    vk::Context ctx;
    DType in = dtype_from_name(dtype_name_option);
    std::vector<Run> runs = parse_runs(variants, tiles);
    fmt::print("device: {}, {} tokens, {} inputs, f32 outputs\n", ctx.caps().name, tokens,
               dtype_name(in));
    bool all_correct = true;
    for (const Shape& shape : kShapes) {
      const int64_t T = tokens, E = shape.experts, k = shape.k, S = T * k;
      // The gate_up product: N = 2F, K = C.
      const int64_t N = 2 * shape.intermediate / divide, K = shape.hidden / divide;
      Tensor logits = make_tensor(ctx, DType::f32, {T, E}, "logits");
      write_floats(ctx, logits, cli::random_floats(uint64_t(T * E), DType::f32, 1));
      Tensor ids = make_tensor(ctx, DType::i32, {T, k}, "ids");
      Tensor weights = make_tensor(ctx, DType::f32, {T, k}, "weights");
      Tensor offsets = make_tensor(ctx, DType::i32, {E + 1}, "offsets");
      Tensor rows = make_tensor(ctx, DType::i32, {S}, "rows");
      Tensor positions = make_tensor(ctx, DType::i32, {T, k}, "positions");
      Tensor counts = make_tensor(
          ctx, DType::i32, {int64_t(ops::moe_group_scratch_elements(uint64_t(S), uint64_t(E)))},
          "counts");
      vk::Recorder route(ctx);
      ops::moe_router_forward(route, ids, weights, nullptr, logits, {});
      ops::moe_group(route, offsets, rows, positions, counts, ids, uint32_t(E));
      route.run();
      auto off = read_ints(ctx, offsets);
      auto expert_of = [&](uint64_t p) {
        return uint64_t(std::upper_bound(off.begin(), off.end(), int32_t(p)) - off.begin() - 1);
      };
      auto xs = cli::random_floats(uint64_t(S * K), in, 2);
      auto ws = cli::random_floats(uint64_t(E * N * K), in, 3);
      auto dys = cli::random_floats(uint64_t(S * N), in, 4);
      Tensor x = make_tensor(ctx, in, {S, K}, "x"), w = make_tensor(ctx, in, {E, N, K}, "w");
      Tensor dy = make_tensor(ctx, in, {S, N}, "dy");
      write_floats(ctx, x, xs);
      write_floats(ctx, w, ws);
      write_floats(ctx, dy, dys);
      Tensor y = make_tensor(ctx, DType::f32, {S, N}, "y");
      Tensor dx = make_tensor(ctx, DType::f32, {S, K}, "dx");
      Tensor dw = make_tensor(ctx, DType::f32, {E, N, K}, "dw");
      const double flops = 2.0 * double(S) * double(N) * double(K);
      // Each product's dense twin: the same M, N, K and operand orientations.
      const auto dense_variant = ops::matmul_choose(ctx, in, DType::f32);
      const uint32_t s32 = uint32_t(S), n32 = uint32_t(N), k32 = uint32_t(K);
      const cli::MatmulRun dense_runs[3] = {
          {dense_variant, in, DType::f32, s32, n32, k32, false, true},
          {dense_variant, in, DType::f32, s32, k32, n32, false, false},
          {dense_variant, in, DType::f32, n32, k32, s32, true, false}};
      double dense[3];
      for (int product = 0; product < 3; ++product)
        dense[product] = cli::measure_matmul(ctx, dense_runs[product], repeats).tflops;
      fmt::print("\n{}: E {} top-{} C {} F {}; S {} rows; dense {} on the same FLOPs: "
                 "{:.2f} (NT), {:.2f} (NN), {:.2f} (TN) TFLOP/s\n",
                 shape.name, E, k, K, N / 2, S, ops::matmul_variant_name(dense_variant),
                 dense[0], dense[1], dense[2]);
      for (const Run& run : runs) {
        if (auto why = ops::moe_matmul_unavailable(ctx, run.variant, in, DType::f32);
            !why.empty()) {
          fmt::print("  {:<24} unavailable: {}\n", run.name, why);
          continue;
        }
        for (int product = 0; product < 3; ++product) {
          vk::Recorder rec(ctx);
          for (int i = 0; i < repeats; ++i) {
            if (product == 0)
              ops::moe_matmul(rec, y, x, w, offsets, {.variant = run.variant, .tile = run.tile});
            else if (product == 1)
              ops::moe_matmul(rec, dx, dy, w, offsets,
                              {.trans_w = false, .variant = run.variant, .tile = run.tile});
            else
              ops::moe_matmul_weight(rec, dw, dy, x, offsets, 1.0f, 0.0f, {}, run.variant,
                                     run.tile);
          }
          double seconds = cli::median_seconds(rec);
          const uint64_t n_ = uint64_t(N), k_ = uint64_t(K);
          double error = 0;
          // Row p of a grouped operand a [S, depth] times expert e(p)'s weight: output column
          // `col` of the row sums a[p, r] * w[e, n, c] with (n, c) = (col, r) for y = x W^T and
          // (r, col) for dx = dy W.
          auto expert_row = [&](const std::vector<float>& a, uint64_t depth, uint64_t cols,
                                bool trans) {
            return [&, depth, cols, trans](uint64_t i) {
              uint64_t p = i / cols, col = i % cols, e = expert_of(p);
              double sum = 0;
              for (uint64_t r = 0; r < depth; ++r)
                sum += double(a[p * depth + r]) *
                       ws[trans ? (e * n_ + col) * k_ + r : (e * n_ + r) * k_ + col];
              return sum;
            };
          };
          if (product == 0)
            error = sampled_error(read_floats(ctx, y), expert_row(xs, k_, n_, true));
          else if (product == 1)
            error = sampled_error(read_floats(ctx, dx), expert_row(dys, n_, k_, false));
          else  // dw[e, n, c] = sum over e's rows p of dy[p, n] x[p, c]
            error = sampled_error(read_floats(ctx, dw), [&](uint64_t i) {
              uint64_t e = i / (n_ * k_), n = i / k_ % n_, c = i % k_;
              double sum = 0;
              for (int32_t p = off[e]; p < off[e + 1]; ++p)
                sum += double(dys[uint64_t(p) * n_ + n]) * xs[uint64_t(p) * k_ + c];
              return sum;
            });
          bool correct = error < 1e-2;
          all_correct = all_correct && correct;
          double tflops = flops * repeats / seconds / 1e12;
          fmt::print("  {:<24} {:<11} {:8.2f} TFLOP/s  dense {:7.2f}  {:5.1f}% of dense  "
                     "error {:.1e} {}\n",
                     run.name,
                     product == 0   ? "y = x W^T"
                     : product == 1 ? "dx = dy W"
                                    : "dW = dy^T x",
                     tflops, dense[product], 100 * tflops / std::max(dense[product], 1e-30),
                     error, correct ? "ok" : "WRONG");
        }
      }
    }
    return all_correct ? 0 : 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench/moe: {}\n", e.what());
    return 1;
  }
}
