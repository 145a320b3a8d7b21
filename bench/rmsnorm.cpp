// bench/rmsnorm: RMSNorm forward and backward (with the weight gradient, and without it as for
// a frozen weight) at Qwen3-1.7B's shapes: the hidden state [tokens, 2048] and the per-head
// q_norm [tokens * 16, 128] and k_norm [tokens * 8, 128]. Each dtype is first
// checked against a double-precision host computation on small shapes, then timed over replays of
// one recording. GB/s count the bytes a kernel must move (forward: x read, y and rstd written;
// backward: dy, x and rstd read, dx read and written) against the copy kernel's measured peak.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cmath>
#include <random>

#include "cli/measure.hpp"
#include "ops/rmsnorm.hpp"

using namespace vktrain;

namespace {

constexpr float kEps = 1e-6f;

struct Operands {
  Tensor x, w, y, rstd, dy, dx, dw;
  std::vector<float> host_x, host_w, host_dy;
};

Operands make_operands(vk::Context& ctx, DType dt, int64_t rows, int64_t cols) {
  Operands o{make_tensor(ctx, dt, {rows, cols}, "x"),  make_tensor(ctx, DType::f32, {cols}, "w"),
             make_tensor(ctx, dt, {rows, cols}, "y"),  make_tensor(ctx, DType::f32, {rows}, "rstd"),
             make_tensor(ctx, dt, {rows, cols}, "dy"), make_tensor(ctx, dt, {rows, cols}, "dx"),
             make_tensor(ctx, DType::f32, {cols}, "dw"), {}, {}, {}};
  o.host_x = cli::random_floats(size_t(rows * cols), dt, 1);
  o.host_w = cli::random_floats(size_t(cols), DType::f32, 2);
  o.host_dy = cli::random_floats(size_t(rows * cols), dt, 3);
  write_floats(ctx, o.x, o.host_x);
  write_floats(ctx, o.w, o.host_w);
  write_floats(ctx, o.dy, o.host_dy);
  return o;
}

// Forward, then backward into zeroed gradients; the largest error of y, dx and dw against the
// host, each relative to its largest value.
double check(vk::Context& ctx, DType dt, int64_t rows, int64_t cols, float offset) {
  Operands o = make_operands(ctx, dt, rows, cols);
  ops::RmsnormOptions options{kEps, offset};
  vk::Recorder rec(ctx);
  ops::fill(rec, o.dx, 0.0f);
  ops::fill(rec, o.dw, 0.0f);
  ops::rmsnorm_forward(rec, o.y, &o.rstd, o.x, o.w, options);
  ops::rmsnorm_backward(rec, o.dx, &o.dw, o.dy, o.x, o.w, o.rstd, options);
  rec.run();
  auto y = read_floats(ctx, o.y), dx = read_floats(ctx, o.dx), dw = read_floats(ctx, o.dw);
  std::vector<double> want_y(y.size()), want_dx(dx.size()), want_dw(dw.size(), 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = &o.host_x[size_t(r * cols)];
    const float* dyr = &o.host_dy[size_t(r * cols)];
    double squares = 0, dot = 0;
    for (int64_t c = 0; c < cols; ++c) {
      squares += double(xr[c]) * xr[c];
      dot += double(dyr[c]) * (offset + o.host_w[c]) * xr[c];
    }
    double s = 1 / std::sqrt(squares / cols + kEps);
    for (int64_t c = 0; c < cols; ++c) {
      double g = offset + o.host_w[c];
      want_y[size_t(r * cols + c)] = xr[c] * s * g;
      want_dx[size_t(r * cols + c)] = s * g * dyr[c] - s * s * s * xr[c] * dot / cols;
      want_dw[size_t(c)] += double(dyr[c]) * xr[c] * s;
    }
  }
  auto error = [](const std::vector<float>& got, const std::vector<double>& want) {
    double worst = 0, largest = 1e-30;
    for (size_t i = 0; i < want.size(); ++i) {
      worst = std::max(worst, std::fabs(got[i] - want[i]));
      largest = std::max(largest, std::fabs(want[i]));
    }
    return worst / largest;
  };
  return std::max({error(y, want_y), error(dx, want_dx), error(dw, want_dw)});
}

bool check_dtypes(vk::Context& ctx) {
  bool all_correct = true;
  for (DType dt : {DType::f32, DType::f16, DType::bf16}) {
    // Inputs are exact in their dtype: f32 sums, plus one rounding of y and dx.
    double tolerance = dt == DType::f32 ? 1e-5 : dt == DType::f16 ? 2e-3 : 1e-2;
    for (auto [rows, cols, offset] : {std::tuple{37, 1000, 0.0f}, std::tuple{300, 64, 1.0f}}) {
      double e = check(ctx, dt, rows, cols, offset);
      all_correct = all_correct && e <= tolerance;
      fmt::print("check {:<4} {:>4} x {:<4} offset {}: error {:.1e} {}\n", dtype_name(dt), rows,
                 cols, offset, e, e <= tolerance ? "ok" : "WRONG");
    }
  }
  return all_correct;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"rmsnorm lab: check, then time forward and backward"};
  int64_t tokens = 8 * 512, hidden = 2048, heads = 16, kv_heads = 8, head_dim = 128;
  int repeats = 20;
  const auto channels = CLI::Range(1, 16384);  // what the kernel takes
  app.add_option("--tokens", tokens, "B x T")->check(CLI::PositiveNumber);
  app.add_option("--hidden", hidden, "channels of the hidden state")->check(channels);
  app.add_option("--heads", heads, "query heads: per-head rows per token")
      ->check(CLI::PositiveNumber);
  app.add_option("--kv-heads", kv_heads, "key heads: per-head rows per token of k_norm")
      ->check(CLI::PositiveNumber);
  app.add_option("--head-dim", head_dim, "channels of the per-head norm")->check(channels);
  app.add_option("--repeats", repeats, "calls per timed run")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  try {
    vk::Context ctx;
    fmt::print("device: {}\n", ctx.caps().name);
    bool all_correct = check_dtypes(ctx);
    uint64_t copy_bytes = uint64_t(tokens * hidden) * 4;
    double peak = cli::measure_copy_gbps(ctx, copy_bytes, repeats, ops::CopyPath::kernel);
    fmt::print("\ncopy kernel, {} MiB: {:.1f} GB/s\n\n", copy_bytes >> 20, peak);
    fmt::print("{:<26} {:<5} {:<9} {:>9} {:>9} {:>7}\n", "shape", "dtype", "pass", "ms", "GB/s",
               "% copy");
    for (auto [name, rows, cols] : {std::tuple{"hidden", tokens, hidden},
                                    std::tuple{"per-head q_norm", tokens * heads, head_dim},
                                    std::tuple{"per-head k_norm", tokens * kv_heads, head_dim}}) {
      for (DType dt : {DType::f32, DType::f16, DType::bf16}) {
        Operands o = make_operands(ctx, dt, rows, cols);
        vk::Recorder init(ctx);
        ops::fill(init, o.dx, 0.0f);
        ops::fill(init, o.dw, 0.0f);
        init.run();
        uint64_t activation = uint64_t(rows * cols) * dtype_size(dt), stats = uint64_t(rows) * 4;
        struct Pass {
          const char* name;
          uint64_t bytes;
          std::function<void(vk::Recorder&)> record;
        };
        Pass passes[] = {
            {"forward", 2 * activation + stats,
             [&](vk::Recorder& r) { ops::rmsnorm_forward(r, o.y, &o.rstd, o.x, o.w); }},
            {"backward", 4 * activation + stats,
             [&](vk::Recorder& r) {
               ops::rmsnorm_backward(r, o.dx, &o.dw, o.dy, o.x, o.w, o.rstd);
             }},
            {"bwd no dw", 4 * activation + stats,
             [&](vk::Recorder& r) {
               ops::rmsnorm_backward(r, o.dx, nullptr, o.dy, o.x, o.w, o.rstd);
             }},
        };
        for (const Pass& pass : passes) {
          vk::Recorder timed(ctx);
          for (int i = 0; i < repeats; ++i) pass.record(timed);
          double seconds = cli::median_seconds(timed) / repeats;
          double gbps = double(pass.bytes) / seconds * 1e-9;
          fmt::print("{:<26} {:<5} {:<9} {:>9.3f} {:>9.1f} {:>6.1f}%\n",
                     fmt::format("{} {}x{}", name, rows, cols), dtype_name(dt), pass.name,
                     seconds * 1e3, gbps, 100 * gbps / peak);
        }
      }
    }
    return all_correct ? 0 : 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench/rmsnorm: {}\n", e.what());
    return 1;
  }
}
