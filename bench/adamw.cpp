// bench/adamw: the fused AdamW update over flat f32 arenas (with clipping: the squared norm of
// the gradients first), checked on a few elements against a host AdamW, then timed over replays.
// GB/s count 28 bytes per parameter (parameter, gradient and both moments read; parameter and
// moments written) plus the norm's 4, against the copy kernel's bandwidth measured here.
// --optimizer adamw_8bit: the 8-bit update (ops/adamw_8bit.hpp), its moments a byte each
// (12 bytes of parameter and gradient, 4 of codes, the absmax's 1/32, plus the norm's 4).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cmath>

#include "cli/measure.hpp"
#include "ops/adamw.hpp"
#include "ops/adamw_8bit.hpp"
#include "ops/reduce.hpp"
#include "vk/context.hpp"

using namespace vktrain;

int main(int argc, char** argv) {
  CLI::App app{"adamw lab: fused optimizer step bandwidth"};
  double millions = 100;  // Qwen3-0.6B has ~600 M; a LoRA r=16 of Qwen3-1.7B ~17 M
  int repeats = 10;
  app.add_option("--params", millions, "parameters, millions");
  app.add_option("--repeats", repeats, "steps per timed run");
  std::string optimizer = "adamw";
  app.add_option("--optimizer", optimizer, "adamw or adamw_8bit");
  CLI11_PARSE(app, argc, argv);
  try {
    vk::Context ctx;
    const int64_t cols = 1024, rows = std::max<int64_t>(1, int64_t(millions * 1e6) / cols);
    const uint64_t n = uint64_t(rows * cols);
    auto arena = [&](const char* name, float value) {
      Tensor t = make_tensor(ctx, DType::f32, {rows, cols}, name);
      vk::Recorder init(ctx);
      ops::fill(init, t, value);
      init.run();
      return t;
    };
    Tensor params = arena("params", 0.5f), grads = arena("grads", 0.01f), m = arena("m", 0.0f),
           v = arena("v", 0.0f);
    Tensor step_values = make_tensor(ctx, DType::f32, {3}, "step values");
    Tensor norm_sq = make_tensor(ctx, DType::f32, {1}, "grad norm^2");
    ops::AdamwOptions options{0.9, 0.999, 1e-8, 0.1, 1.0};
    auto values = ops::adamw_step_values(1e-3, 1, options);
    write_floats(ctx, step_values, values);

    const bool eight_bit = optimizer == "adamw_8bit";
    if (!eight_bit && optimizer != "adamw") throw std::runtime_error("--optimizer: adamw or adamw_8bit");
    auto state = [&](DType dtype, int64_t per_row, const char* name) {
      Tensor t = make_tensor(ctx, dtype, {rows, per_row}, name);
      vk::Recorder init(ctx);
      ops::fill(init, t, 0.0f);
      init.run();
      return t;
    };
    ops::Adamw8bitState codes;
    Tensor tables;
    if (eight_bit) {
      codes = {state(DType::i32, cols / 4, "m codes"), state(DType::i32, cols / 4, "v codes"),
               state(DType::f32, cols / 256, "m absmax"), state(DType::f32, cols / 256, "v absmax")};
      tables = make_tensor(ctx, DType::f32, {4, 256}, "tables");
      write_floats(ctx, tables, ops::adamw_8bit_tables());
    }

    std::vector<ops::AdamwGroup> groups = {{0, n / 2, true}, {n / 2, n - n / 2, false}};
    auto record_step = [&](vk::Recorder& r) {
      ops::sum_squares(r, norm_sq, grads);
      if (eight_bit)
        ops::adamw_8bit_update(r, params, codes, grads, tables, step_values, &norm_sq, groups,
                               options);
      else
        ops::adamw_update(r, params, m, v, grads, step_values, &norm_sq, groups, options);
    };
    // Check: one step, first (decayed) element against AdamW by hand.
    vk::Recorder once(ctx);
    record_step(once);
    once.run();
    double norm = 0.01 * std::sqrt(double(n)), clip = std::min(1.0, 1.0 / (norm + 1e-6));
    double g = 0.01 * clip, m1 = 0.1 * g, v1 = 0.001 * g * g;
    double want = 0.5 * (1 - 1e-3 * 0.1) - values[1] * m1 / (std::sqrt(v1) / values[2] + 1e-8);
    // The 8-bit update's step uses the moments before they are stored, so the same; every
    // gradient is the same, so every moment is its block's absmax: the last code (1.0).
    bool ok = std::fabs(read_floats(ctx, params)[0] - want) < 1e-6;
    if (eight_bit) ok = ok && read_ints(ctx, codes.m_codes)[0] == -1 &&
                        read_ints(ctx, codes.v_codes)[0] == -1;

    vk::Recorder rec(ctx);
    for (int i = 0; i < repeats; ++i) record_step(rec);
    double seconds = cli::median_seconds(rec);
    const double bytes = eight_bit ? 20.0 + 2 * 2 * 4.0 / 256 : 32.0;
    double gbps = bytes * double(n) * repeats / seconds * 1e-9;
    double peak = cli::measure_copy_gbps(ctx, std::min<uint64_t>(n * 4, 1ull << 30), 5,
                                         ops::CopyPath::kernel);
    fmt::print("device: {}\n{}, {:.1f} M parameters: {:.3f} ms per step, {:.1f} GB/s, {:.0f}% of "
               "the copy kernel's {:.1f} GB/s  {}\n",
               ctx.caps().name, optimizer, double(n) * 1e-6, seconds / repeats * 1e3, gbps,
               100 * gbps / peak, peak, ok ? "ok" : "WRONG");
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench/adamw: {}\n", e.what());
    return 1;
  }
}
