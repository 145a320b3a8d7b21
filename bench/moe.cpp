// bench/moe: the MoE grouped matmul (ops/moe_matmul.hpp) at a model's expert shapes, against the
// dense matmul ops::matmul picks for the same FLOPs ([S, K] x [K, N], S = tokens x k): the
// issue-16 target is >= 60% of the dense rate. Tokens are routed on the device by the router on
// random logits and grouped as training groups them, so experts own uneven row counts. Each
// product (the gate/up forward y = x W_e^T, the input gradient dx = dy W_e, the weight gradient
// dW_e = dy_e^T x_e) is checked on sampled entries against a host sum, then timed.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"moe lab: grouped expert matmul vs dense matmul of the same FLOPs"};
  int64_t tokens = 4096;
  int repeats = 10;
  std::string dtype_name_option = "bf16";
  std::vector<std::string> variants = {"portable", "coopmat"};
  app.add_option("--tokens", tokens, "tokens T routed (S = T x k grouped rows)");
  app.add_option("--repeats", repeats, "products per timed run");
  app.add_option("--dtype", dtype_name_option, "f16 or bf16 inputs (f32 outputs)");
  app.add_option("--variants", variants, "portable, coopmat");
  int64_t divide = 1;
  app.add_option("--divide", divide, "divide C and F by this (a quick check on a CPU driver)");
  CLI11_PARSE(app, argc, argv);
  try {
    vk::Context ctx;
    DType in = dtype_from_name(dtype_name_option);
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
      auto dense = cli::measure_matmul(ctx,
                                       {ops::matmul_choose(ctx, in, DType::f32), in, DType::f32,
                                        uint32_t(S), uint32_t(N), uint32_t(K), false, true},
                                       repeats);
      fmt::print("\n{}: E {} top-{} C {} F {}; S {} rows; dense {} [S,K]x[K,N]: {:.2f} TFLOP/s\n",
                 shape.name, E, k, K, N / 2, S,
                 ops::matmul_variant_name(ops::matmul_choose(ctx, in, DType::f32)), dense.tflops);
      for (const auto& variant_name : variants) {
        auto variant = variant_name == "coopmat" ? ops::MoeMatmulVariant::coopmat
                                                 : ops::MoeMatmulVariant::portable;
        if (auto why = ops::moe_matmul_unavailable(ctx, variant, in, DType::f32); !why.empty()) {
          fmt::print("  {:<9} unavailable: {}\n", variant_name, why);
          continue;
        }
        for (int product = 0; product < 3; ++product) {
          vk::Recorder rec(ctx);
          for (int i = 0; i < repeats; ++i) {
            if (product == 0)
              ops::moe_matmul(rec, y, x, w, offsets, {.variant = variant});
            else if (product == 1)
              ops::moe_matmul(rec, dx, dy, w, offsets, {.trans_w = false, .variant = variant});
            else
              ops::moe_matmul_weight(rec, dw, dy, x, offsets, 1.0f, 0.0f, {}, variant);
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
          fmt::print("  {:<9} {:<13} {:8.2f} TFLOP/s {:6.1f}% of dense  error {:.1e} {}\n",
                     variant_name,
                     product == 0   ? "y = x W^T"
                     : product == 1 ? "dx = dy W"
                                    : "dW = dy^T x",
                     tflops, 100 * tflops / std::max(dense.tflops, 1e-30), error,
                     correct ? "ok" : "WRONG");
        }
      }
    }
    return all_correct ? 0 : 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench/moe: {}\n", e.what());
    return 1;
  }
}
