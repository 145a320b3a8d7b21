// bench/matmul: every matmul variant, transpose case and size: checked against a host
// reference on sampled entries, then timed. Prints TFLOP/s and the share of a peak: by default
// the best rate measured here, or --peak (e.g. torch.matmul's bf16 TFLOP/s on the same card,
// from bench/reference/matmul.py). --b-type q4_k (or any block type) adds, beside each NN and NT
// row, the same product with B a frozen weight in that type: NT is a linear layer's forward
// x W^T, NN its input gradient dy W.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <stdexcept>

#include "cli/measure.hpp"

using namespace vktrain;

int main(int argc, char** argv) {
  CLI::App app{"matmul lab: check, then time, each variant"};
  std::vector<uint32_t> sizes = {1024, 2048, 4096};
  std::vector<std::string> variants = {"portable", "coopmat", "coopmat2"};
  int repeats = 10;
  double peak = 0;
  bool odd = true;
  app.add_option("--sizes", sizes, "square sizes M=N=K");
  app.add_option("--variants", variants,
                 "portable, coopmat, coopmat2, vector (with --b-type: --shapes of M <= 8, NT)");
  app.add_option("--repeats", repeats,
                 "products per timed run (runs are timed for at least 0.5 s after 0.25 s of "
                 "warm-up: steady state)");
  app.add_option("--peak", peak, "reference TFLOP/s for the % column (0: best measured here)");
  app.add_flag("--odd,!--no-odd", odd, "also a size that is not a multiple of any tile");
  std::vector<std::string> shapes;
  app.add_option("--shapes", shapes,
                 "also these f16 products, MxNxK:OP[:OUT] with OP NN, NT or TN and OUT f32 "
                 "(default) or f16 (a training step's shapes, e.g. 4096x16x2048:NT)");
  std::string b_type;
  app.add_option("--b-type", b_type,
                 "also products whose B is a weight in this block type (q8_0, q4_0, q4_1, q5_0, "
                 "q5_1, q2_k, q3_k, q4_k, q5_k, q6_k); --shapes then run with it too");
  CLI11_PARSE(app, argc, argv);
  DType weight = DType::f32;
  if (!b_type.empty()) {
    for (auto t = uint8_t(DType::q8_0); t <= uint8_t(DType::q6_k); ++t)
      if (dtype_name(DType(t)) == b_type) weight = DType(t);
    if (weight == DType::f32) {
      fmt::print(stderr, "bench/matmul: --b-type {}: use a block type such as q4_k or q8_0\n", b_type);
      return 1;
    }
  }

  try {
    vk::Context ctx;
    fmt::print("device: {}\n", ctx.caps().name);
    struct Row {
      std::string name;
      cli::MatmulResult result;
    };
    std::vector<Row> rows;
    std::vector<uint32_t> all_sizes = sizes;
    if (odd && !sizes.empty()) all_sizes.push_back(sizes.back() - 27);
    for (const auto& variant_name : variants) {
      auto variant = ops::matmul_variant_from_name(variant_name);
      for (DType in : {DType::f32, DType::f16, DType::bf16}) {
        for (int trans = 0; trans < 3; ++trans) {  // NN, NT, TN
          for (uint32_t n : all_sizes) {
            cli::MatmulRun run{variant, in, DType::f32, n, n, n, trans == 2, trans == 1};
            auto r = cli::measure_matmul(ctx, run, repeats);
            if (!r.unavailable.empty()) break;
            auto name = fmt::format("{:<9} {:<4} {} {:>5}", variant_name, dtype_name(in),
                                    trans == 0 ? "NN" : trans == 1 ? "NT" : "TN", n);
            fmt::print("{}  {:8.2f} TFLOP/s  error {:.1e} {}\n", name, r.tflops, r.max_error,
                       r.correct() ? "ok" : "WRONG");
            rows.push_back({name, r});
            if (weight == DType::f32 || trans == 2) continue;
            run.weight = weight;
            auto q = cli::measure_matmul(ctx, run, repeats);
            if (!q.unavailable.empty()) continue;
            name = fmt::format("{:<9} {:<4} {} {:>5} B {}", variant_name, dtype_name(in),
                               trans == 0 ? "NN" : "NT", n, dtype_name(weight));
            fmt::print("{}  {:8.2f} TFLOP/s  error {:.1e} {}\n", name, q.tflops, q.max_error,
                       q.correct() ? "ok" : "WRONG");
            rows.push_back({name, q});
          }
        }
      }
      for (const auto& shape : shapes) {
        uint32_t m = 0, n = 0, k = 0;
        char op[3] = {}, out[4] = {};
        if (std::sscanf(shape.c_str(), "%ux%ux%u:%2s:%3s", &m, &n, &k, op, out) < 4)
          throw std::runtime_error("--shapes takes MxNxK:OP[:OUT], got " + shape);
        std::string ops_name = op;
        cli::MatmulRun run{variant, DType::f16, std::string(out) == "f16" ? DType::f16 : DType::f32,
                           m, n, k, ops_name == "TN", ops_name == "NT", weight};
        auto r = cli::measure_matmul(ctx, run, repeats);
        if (!r.unavailable.empty()) continue;
        auto name = fmt::format("{:<9} f16  {}{}", variant_name, shape,
                                weight == DType::f32 ? "" : fmt::format(" B {}", dtype_name(weight)));
        fmt::print("{}  {:8.2f} TFLOP/s  {:.3f} ms  error {:.1e} {}\n", name, r.tflops,
                   r.milliseconds, r.max_error, r.correct() ? "ok" : "WRONG");
        rows.push_back({name, r});
      }
    }
    double best = peak;
    for (const auto& row : rows)
      if (row.result.correct()) best = peak > 0 ? peak : std::max(best, row.result.tflops);
    fmt::print("\n{:<32} {:>10} {:>8} {:>7}  check\n", "variant dtype op size", "TFLOP/s",
               "ms", peak > 0 ? "% peak" : "% best");
    bool all_correct = true;
    for (const auto& row : rows) {
      all_correct = all_correct && row.result.correct();
      fmt::print("{:<32} {:>10.2f} {:>8.3f} {:>6.1f}%  {}\n", row.name, row.result.tflops,
                 row.result.milliseconds, best > 0 ? 100 * row.result.tflops / best : 0.0,
                 row.result.correct() ? "ok" : "WRONG");
    }
    return all_correct ? 0 : 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench/matmul: {}\n", e.what());
    return 1;
  }
}
