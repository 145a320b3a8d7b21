// bench/lora: the LoRA linear layer (ops/lora.hpp) forward + backward. First a check of y, dx,
// dA and dB against a double-precision host computation on sampled entries of a small odd shape
// (bias and dropout on), then timing over replays of one recording at Qwen3-1.7B's MLP up/gate
// shape (N = 8 x 512 tokens, in 2048, out 6144, rank 16): the LoRA step and, for comparison,
// full fine-tuning's step (dx and dW, no adapter). TFLOP/s count the base and the adapter
// products, against cli::measure_matmul's rate for the base product's shape; the dropout and
// bias_add kernels in GB/s (bytes read plus written) against the copy2d kernel's. On lavapipe:
// --tokens 256 --in 256 --out 768 --repeats 2 (about 20 s for bf16 and f16).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cmath>
#include <random>

#include "cli/measure.hpp"
#include "ops/lora.hpp"

using namespace vktrain;

namespace {

struct Shape {
  int64_t rows, in, out, rank;
};

// The tensors of one layer and its gradients, filled with random values in `dtype`.
struct Bench {
  Shape d;
  DType dtype;
  std::vector<float> x, w, bias, a, b, dy;
  Tensor tx, tw, tbias, ta, tb, tdy, ty, tu, tdx, tdw, tdbias, tda, tdb, seed;

  Bench(vk::Context& ctx, Shape shape, DType dt, int32_t seed_value) : d(shape), dtype(dt) {
    uint32_t stream = 7;
    auto make = [&](std::vector<float>& host, DType type, std::vector<int64_t> dims,
                    const char* name) {
      Tensor t = make_tensor(ctx, type, std::move(dims), name);
      host = cli::random_floats(t.numel(), type, stream++);
      write_floats(ctx, t, host);
      return t;
    };
    tx = make(x, dt, {d.rows, d.in}, "x");
    tw = make(w, dt, {d.out, d.in}, "W");
    tbias = make(bias, DType::f32, {d.out}, "bias");
    ta = make(a, dt, {d.rank, d.in}, "A");
    tb = make(b, dt, {d.out, d.rank}, "B");
    tdy = make(dy, dt, {d.rows, d.out}, "dy");
    ty = make_tensor(ctx, dt, {d.rows, d.out}, "y");
    tu = make_tensor(ctx, dt, {d.rows, d.rank}, "u");
    tdx = make_tensor(ctx, dt, {d.rows, d.in}, "dx");
    tdw = make_tensor(ctx, DType::f32, {d.out, d.in}, "dW");
    tdbias = make_tensor(ctx, DType::f32, {d.out}, "dbias");
    tda = make_tensor(ctx, DType::f32, {d.rank, d.in}, "dA");
    tdb = make_tensor(ctx, DType::f32, {d.out, d.rank}, "dB");
    seed = make_tensor(ctx, DType::i32, {1}, "seed");
    write_ints(ctx, seed, std::vector<int32_t>{seed_value});
  }

  // One LoRA step (forward, then backward into zeroed gradients) or full fine-tuning's.
  void record(vk::Recorder& rec, bool lora, bool with_bias, const ops::LoraSettings& settings) {
    ops::Linear layer{tw, with_bias ? &tbias : nullptr, lora ? &ta : nullptr, lora ? &tb : nullptr};
    ops::linear_forward(rec, ty, lora ? &tu : nullptr, tx, layer, settings);
    ops::LinearGradients grads{&tdx, lora ? nullptr : &tdw, with_bias ? &tdbias : nullptr,
                               lora ? &tda : nullptr, lora ? &tdb : nullptr};
    for (Tensor* g : {grads.x, grads.weight, grads.bias, grads.lora_a, grads.lora_b})
      if (g) ops::fill(rec, *g, 0.0f);
    ops::linear_backward(rec, grads, tdy, tx, lora ? &tu : nullptr, layer, settings);
  }
};

// Largest |got - want| over sampled entries, relative to the largest |want|.
struct Check {
  double worst = 0, largest = 1e-30;
  void add(double got, double want) {
    worst = std::max(worst, std::fabs(got - want));
    largest = std::max(largest, std::fabs(want));
  }
  double error() const { return worst / largest; }
};

// Checks y, dx, dA and dB of one LoRA step on a small shape against the host, in double.
double check(vk::Context& ctx, DType dt, const ops::LoraSettings& settings) {
  Bench t(ctx, {67, 45, 71, 5}, dt, 99);
  ops::LoraSettings s = settings;
  s.dropout.seed = &t.seed;
  {
    vk::Recorder rec(ctx);
    t.record(rec, true, true, s);
    rec.run();
  }
  auto y = read_floats(ctx, t.ty), dx = read_floats(ctx, t.tdx), da = read_floats(ctx, t.tda),
       db = read_floats(ctx, t.tdb);
  const auto [N, I, O, R] = t.d;
  double p = s.dropout.probability;
  auto dropped = [&](int64_t n, int64_t i) {  // dropout(x)[n, i]
    bool keep = p == 0 || ops::dropout_keeps(99, s.dropout.salt, uint64_t(n * I + i), float(p));
    return keep ? t.x[n * I + i] / (1 - p) : 0.0;
  };
  std::vector<double> u(N * R), du(N * R);  // u = dropout(x) A^T, du = s dy B
  for (int64_t n = 0; n < N; ++n)
    for (int64_t r = 0; r < R; ++r) {
      for (int64_t i = 0; i < I; ++i) u[n * R + r] += dropped(n, i) * t.a[r * I + i];
      for (int64_t o = 0; o < O; ++o) du[n * R + r] += s.scale * t.dy[n * O + o] * t.b[o * R + r];
    }
  Check cy, cdx, cda, cdb;
  std::mt19937 rng(5);
  for (int k = 0; k < 64; ++k) {
    int64_t n = rng() % N, o = rng() % O, i = rng() % I, r = rng() % R;
    double want = t.bias[o];
    for (int64_t j = 0; j < I; ++j) want += double(t.x[n * I + j]) * t.w[o * I + j];
    for (int64_t q = 0; q < R; ++q) want += s.scale * u[n * R + q] * t.b[o * R + q];
    cy.add(y[n * O + o], want);
    want = 0;
    for (int64_t j = 0; j < O; ++j) want += double(t.dy[n * O + j]) * t.w[j * I + i];
    double adapter = 0;
    for (int64_t q = 0; q < R; ++q) adapter += du[n * R + q] * t.a[q * I + i];
    cdx.add(dx[n * I + i], want + (dropped(n, i) == 0 ? 0.0 : adapter / (1 - p)));
    double want_a = 0, want_b = 0;
    for (int64_t m = 0; m < N; ++m) {
      want_a += du[m * R + r] * dropped(m, i);
      want_b += s.scale * t.dy[m * O + o] * u[m * R + r];
    }
    cda.add(da[r * I + i], want_a);
    cdb.add(db[o * R + r], want_b);
  }
  return std::max({cy.error(), cdx.error(), cda.error(), cdb.error()});
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"LoRA linear lab: check, then time forward + backward"};
  Shape d{4096, 2048, 6144, 16};
  std::vector<std::string> dtypes = {"bf16", "f16"};
  int repeats = 10;
  float dropout = 0.1f;
  bool bias = false;
  app.add_option("--tokens", d.rows, "rows N (batch x sequence)")->capture_default_str();
  app.add_option("--in", d.in, "in features")->capture_default_str();
  app.add_option("--out", d.out, "out features")->capture_default_str();
  app.add_option("--rank", d.rank, "LoRA rank")->capture_default_str();
  app.add_option("--dropout", dropout, "LoRA dropout probability")->capture_default_str();
  app.add_flag("--bias", bias, "with a bias (Qwen2's q/k/v)");
  app.add_option("--dtypes", dtypes, "activation dtypes: f32, f16, bf16")->capture_default_str();
  app.add_option("--repeats", repeats, "steps per timed run")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    vk::Context ctx;
    fmt::print("device: {}; N {}, in {}, out {}, rank {}, dropout {}, {}\n", ctx.caps().name,
               d.rows, d.in, d.out, d.rank, dropout, bias ? "bias" : "no bias");
    ops::LoraSettings settings{2.0f, {dropout, 5, nullptr}};
    bool all_correct = true;
    for (const auto& name : dtypes) {
      DType dt = dtype_from_name(name);
      // Sampled entries against double; what remains is f32 accumulation and the roundings of
      // y, u, du and dropout(x) to the activation dtype (a few units of roundoff).
      double error = check(ctx, dt, settings);
      double tolerance = dt == DType::f32 ? 1e-4 : dt == DType::f16 ? 4e-3 : 3e-2;
      bool ok = error <= tolerance;
      all_correct = all_correct && ok;
      fmt::print("\n{} check (67 x 45 -> 71, rank 5, bias, dropout {}): error {:.1e} {}\n", name,
                 dropout, error, ok ? "ok" : "WRONG");

      Bench t(ctx, d, dt, 1);
      settings.dropout.seed = &t.seed;
      auto peak = cli::measure_matmul(
          ctx, {ops::MatmulVariant::automatic, dt, dt, uint32_t(d.rows), uint32_t(d.out),
                uint32_t(d.in), false, true},
          repeats);
      fmt::print("{} matmul {} x {} x {} (NT): {:.3g} TFLOP/s\n", name, d.rows, d.out, d.in,
                 peak.tflops);
      double base = 2.0 * d.rows * d.in * d.out, adapter = 2.0 * d.rows * d.rank * (d.in + d.out);
      struct Step {
        const char* name;
        bool lora;
        double flops;  // forward + backward
      };
      for (const Step& step : {Step{"lora step", true, 2 * base + 3 * adapter},
                               Step{"full step", false, 3 * base}}) {
        vk::Recorder rec(ctx);
        for (int r = 0; r < repeats; ++r) t.record(rec, step.lora, bias, settings);
        double seconds = cli::median_seconds(rec) / repeats;
        double tflops = step.flops / seconds * 1e-12;
        fmt::print("{} {}: {:.3f} ms, {:.3g} TFLOP/s, {:.1f}% of the matmul\n", name, step.name,
                   seconds * 1e3, tflops, peak.tflops > 0 ? 100 * tflops / peak.tflops : 0.0);
        vk::Recorder profiled(ctx);  // one step with a timestamp around every command
        profiled.profile(true);
        t.record(profiled, step.lora, bias, settings);
        profiled.run();
        for (const auto& timing : profiled.timings())
          fmt::print("  {:<26} {:>3}x {:9.3f} ms\n", timing.label, timing.count,
                     timing.milliseconds);
      }

      double copy = cli::measure_copy_gbps(ctx, t.tx.bytes(), repeats, ops::CopyPath::kernel);
      vk::Recorder drop(ctx), add(ctx);
      for (int r = 0; r < repeats; ++r) {
        ops::dropout(drop, t.tdx, t.tx, settings.dropout, false);
        ops::add_bias(add, t.ty, t.tbias);
      }
      double drop_gbps = 2.0 * t.tx.bytes() * repeats / cli::median_seconds(drop) * 1e-9;
      double add_gbps = 2.0 * t.ty.bytes() * repeats / cli::median_seconds(add) * 1e-9;
      fmt::print("{} dropout [{}, {}]: {:.1f} GB/s; bias_add [{}, {}]: {:.1f} GB/s; "
                 "copy2d kernel: {:.1f} GB/s\n",
                 name, d.rows, d.in, drop_gbps, d.rows, d.out, add_gbps, copy);
    }
    return all_correct ? 0 : 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench/lora: {}\n", e.what());
    return 1;
  }
}
