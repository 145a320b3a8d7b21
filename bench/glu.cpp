// bench/glu: the SwiGLU / GEGLU gated unit, forward and backward, per dtype and activation:
// checked on a small random problem against the formula on the host, then timed over replays of one
// recording. GB/s count bytes read plus written (forward: gate, up, h; backward: dh, gate, up
// and both gradients read, both gradients written), against the copy kernel measured here.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cmath>
#include <random>

#include "cli/measure.hpp"
#include "ops/glu.hpp"
#include "vk/context.hpp"

using namespace vktrain;
using ops::GluActivation;

namespace {

double activation(double x, GluActivation a) {
  if (a == GluActivation::silu) return x / (1 + std::exp(-x));
  return 0.5 * x * (1 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
}

// Worst error of forward and backward on a small random problem, relative to the largest
// value of each output; act' on the host by a central difference in double.
double check(vk::Context& ctx, DType dt, GluActivation act) {
  const int64_t rows = 61, cols = 97;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-4.0f, 4.0f);
  std::vector<std::vector<float>> values(3, std::vector<float>(size_t(rows * cols)));
  for (auto& v : values)
    for (auto& x : v) x = round_to(dt, dist(rng));
  std::vector<Tensor> t;  // gate, up, dh, then h, dgate, dup
  for (int i = 0; i < 6; ++i) {
    t.push_back(make_tensor(ctx, dt, {rows, cols}, "glu check"));
    if (i < 3) write_floats(ctx, t.back(), values[size_t(i)]);
  }
  vk::Recorder rec(ctx);
  ops::fill(rec, t[4], 0.0f);
  ops::fill(rec, t[5], 0.0f);
  ops::glu_forward(rec, t[3], t[0], t[1], act);
  ops::glu_backward(rec, t[4], t[5], t[2], t[0], t[1], act);
  rec.run();
  double worst = 0;
  for (int output = 0; output < 3; ++output) {
    auto got = read_floats(ctx, t[size_t(3 + output)]);
    double err = 0, largest = 1e-30;
    for (size_t i = 0; i < got.size(); ++i) {
      double g = values[0][i], u = values[1][i], dh = values[2][i];
      double slope = (activation(g + 1e-5, act) - activation(g - 1e-5, act)) / 2e-5;
      double want = output == 0 ? activation(g, act) * u
                                : output == 1 ? dh * u * slope : dh * activation(g, act);
      err = std::max(err, std::fabs(got[i] - want));
      largest = std::max(largest, std::fabs(want));
    }
    worst = std::max(worst, err / largest);
  }
  return worst;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"glu lab: SwiGLU / GEGLU bandwidth"};
  int64_t tokens = 4096, features = 6144;  // B x T = 8 x 512, Qwen3-1.7B intermediate size
  int repeats = 10;
  app.add_option("--tokens", tokens, "rows N");
  app.add_option("--features", features, "columns F (intermediate size)");
  app.add_option("--repeats", repeats, "calls per timed run");
  CLI11_PARSE(app, argc, argv);
  try {
    vk::Context ctx;
    const uint64_t n = uint64_t(tokens * features);
    double peak = cli::measure_copy_gbps(ctx, std::min<uint64_t>(n * 4, 1ull << 30), 5,
                                         ops::CopyPath::kernel);
    fmt::print("device: {}, N {} x F {}, copy kernel {:.1f} GB/s\n", ctx.caps().name, tokens,
               features, peak);
    fmt::print("{:<5} {:<9} {:<8} {:>9} {:>9} {:>7}  check\n", "dtype", "act", "pass", "ms",
               "GB/s", "% copy");
    bool all_ok = true;
    for (DType dt : {DType::f32, DType::f16, DType::bf16}) {
      std::vector<int64_t> shape = {tokens, features};
      Tensor gate = make_tensor(ctx, dt, shape, "gate"), up = make_tensor(ctx, dt, shape, "up"),
             h = make_tensor(ctx, dt, shape, "h"), dgate = make_tensor(ctx, dt, shape, "dgate"),
             dup = make_tensor(ctx, dt, shape, "dup");
      {
        vk::Recorder init(ctx);
        ops::fill(init, gate, 0.75f);
        ops::fill(init, up, -1.25f);
        init.run();
      }
      for (GluActivation act : {GluActivation::silu, GluActivation::gelu_tanh}) {
        // One rounding to the dtype per output (2^-8 relative for bf16) and f32 math.
        bool ok = check(ctx, dt, act) < (dt == DType::f32 ? 1e-5 : 1e-2);
        all_ok = all_ok && ok;
        for (bool backward : {false, true}) {
          vk::Recorder rec(ctx);
          for (int i = 0; i < repeats; ++i) {
            if (backward) ops::glu_backward(rec, dgate, dup, h, gate, up, act);
            else ops::glu_forward(rec, h, gate, up, act);
          }
          double seconds = cli::median_seconds(rec) / repeats;
          double gbps = (backward ? 7.0 : 3.0) * double(n * dtype_size(dt)) / seconds * 1e-9;
          fmt::print("{:<5} {:<9} {:<8} {:>9.3f} {:>9.1f} {:>6.1f}%  {}\n", dtype_name(dt),
                     act == GluActivation::silu ? "silu" : "gelu_tanh",
                     backward ? "backward" : "forward", seconds * 1e3, gbps, 100 * gbps / peak,
                     ok ? "ok" : "WRONG");
        }
      }
    }
    return all_ok ? 0 : 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench/glu: {}\n", e.what());
    return 1;
  }
}
