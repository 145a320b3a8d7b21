// bench/attention: the tiled attention kernels. First a check on a small shape: the forward
// against a double-precision host computation of sampled rows, the backward against a
// directional central difference through the forward (L = sum(o * r), so <grad, u> must match
// (L(x + eps u) - L(x - eps u)) / 2 eps). Then forward and backward timed over replays at
// Qwen3-1.7B's attention (16 query heads, 8 kv heads, head_dim 128, causal; --heads and
// --head-dim for others, Gemma-3-1B: --heads 4 1 --head-dim 256) for B x T = 8 x 512 and
// 2 x 4096, in TFLOP/s against a peak: the matmul ops choose for the dtype, measured here, or
// --peak, and the backward's kernels one by one (a profiled, serialized run). --variant picks
// the kernels (auto: coopmat2, else coopmat, for f16 and bf16 where the device has them),
// --kv-parts the parts of the dk/dv kernel (0: the op's choice), --coopmat-tile RBxBC the
// coopmat kernels' row blocks per subgroup and visited rows (ops::CoopmatTile; 0x0: the op's
// choice), --coopmat2-tile OWNxBCxTHREADS the coopmat2 kernels' own rows, visited rows and
// threads (all three kernels alike; 0x0x0: the op's choice), for sweeps.
// Causal FLOPs: forward 4 B Hq T^2 D / 2 (q k^T and P v over half the scores), backward 2.5x,
// forward + backward 3.5x.
// For lavapipe: --seq 128 --tokens 256 --repeats 1 --peak-size 256.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <random>

#include "base/error.hpp"
#include "cli/measure.hpp"
#include "ops/attention.hpp"

using namespace vktrain;

namespace {

struct Shape {
  int64_t B, T, Hq, Hkv, D;
};

// Everything one attention layer's forward and backward touch, on the device.
struct Layer {
  Shape s;
  Tensor q, k, v, o, lse, dout, dq, dk, dv;
  Tensor sinks, dsinks;  // gpt-oss's per-head sink logits, where the layer has them
  ops::AttentionOptions options;

  Layer(vk::Context& ctx, const Shape& shape, DType dt, bool with_sinks,
        ops::AttentionVariant variant = ops::AttentionVariant::portable, uint32_t kv_parts = 0,
        ops::CoopmatTile tile = {})
      : s(shape) {
    std::vector<int64_t> qs = {s.B, s.T, s.Hq, s.D}, kvs = {s.B, s.T, s.Hkv, s.D};
    q = make_tensor(ctx, dt, qs, "q");
    k = make_tensor(ctx, dt, kvs, "k");
    v = make_tensor(ctx, dt, kvs, "v");
    o = make_tensor(ctx, dt, qs, "o");
    lse = make_tensor(ctx, DType::f32, {s.B, s.Hq, s.T}, "lse");
    dout = make_tensor(ctx, dt, qs, "dout");
    dq = make_tensor(ctx, dt, qs, "dq");
    dk = make_tensor(ctx, dt, kvs, "dk");
    dv = make_tensor(ctx, dt, kvs, "dv");
    uint32_t seed = 1;
    for (Tensor* t : {&q, &k, &v, &dout})
      write_floats(ctx, *t, cli::random_floats(t->numel(), dt, seed++));
    options.scale = float(1.0 / std::sqrt(double(s.D)));
    options.variant = variant;
    options.kv_parts = kv_parts;
    options.coopmat_tile = tile;
    if (with_sinks) {
      sinks = make_tensor(ctx, DType::f32, {s.Hq}, "sinks");
      dsinks = make_tensor(ctx, DType::f32, {s.Hq}, "dsinks");
      write_floats(ctx, sinks, cli::random_floats(size_t(s.Hq), DType::f32, seed));
      options.sinks = &sinks;
    }
  }
  void forward(vk::Recorder& rec) { ops::attention_forward(rec, o, lse, q, k, v, options); }
  void backward(vk::Recorder& rec) {
    ops::attention_backward(rec, dq, dk, dv, dout, q, k, v, o, lse, options,
                            ops::GradientStore::add, options.sinks ? &dsinks : nullptr);
  }
};

// Largest error of o and lse on sampled rows against double precision, relative to the
// largest value.
double check_forward(vk::Context& ctx, Layer& x) {
  {
    vk::Recorder rec(ctx);
    x.forward(rec);
    rec.run();
  }
  auto q = read_floats(ctx, x.q), k = read_floats(ctx, x.k), v = read_floats(ctx, x.v),
       o = read_floats(ctx, x.o), lse = read_floats(ctx, x.lse);
  const auto sinks = x.options.sinks ? read_floats(ctx, x.sinks) : std::vector<float>{};
  const Shape& s = x.s;
  std::mt19937 rng(7);
  double worst = 0, largest = 1e-30;
  for (int sample = 0; sample < 16; ++sample) {
    int64_t b = rng() % s.B, h = rng() % s.Hq, i = rng() % s.T, hk = h / (s.Hq / s.Hkv);
    std::vector<double> p(size_t(i + 1));
    double top = -INFINITY, sum = 0;
    for (int64_t j = 0; j <= i; ++j) {  // causal
      double dot = 0;
      const float* qi = &q[((b * s.T + i) * s.Hq + h) * s.D];
      const float* kj = &k[((b * s.T + j) * s.Hkv + hk) * s.D];
      for (int64_t d = 0; d < s.D; ++d) dot += double(qi[d]) * kj[d];
      top = std::max(top, p[j] = dot * x.options.scale);
    }
    // A sink joins the softmax as one more logit with a zero value.
    if (!sinks.empty()) top = std::max(top, double(sinks[size_t(h)]));
    for (double& e : p) sum += (e = std::exp(e - top));
    if (!sinks.empty()) sum += std::exp(sinks[size_t(h)] - top);
    auto compare = [&](double got, double want) {
      worst = std::max(worst, std::fabs(got - want));
      largest = std::max(largest, std::fabs(want));
    };
    compare(lse[(b * s.Hq + h) * s.T + i], top + std::log(sum));
    for (int64_t d = 0; d < s.D; ++d) {
      double want = 0;
      for (int64_t j = 0; j <= i; ++j) want += p[j] / sum * v[((b * s.T + j) * s.Hkv + hk) * s.D + d];
      compare(o[((b * s.T + i) * s.Hq + h) * s.D + d], want);
    }
  }
  return worst / largest;
}

// |<grad, u> - central difference| relative to |<grad, u>|, for one random direction u over
// q, k and v (and the sinks) together (f32).
double check_backward(vk::Context& ctx, Layer& x) {
  std::vector<Tensor*> inputs = {&x.q, &x.k, &x.v}, grads = {&x.dq, &x.dk, &x.dv};
  if (x.options.sinks) {
    inputs.push_back(&x.sinks);
    grads.push_back(&x.dsinks);
  }
  std::vector<std::vector<float>> values, directions;
  for (size_t i = 0; i < inputs.size(); ++i) {
    values.push_back(read_floats(ctx, *inputs[i]));
    directions.push_back(cli::random_floats(values.back().size(), DType::f32, 20 + uint32_t(i)));
  }
  auto r = read_floats(ctx, x.dout);
  auto loss = [&](float step) {
    for (size_t i = 0; i < inputs.size(); ++i) {
      std::vector<float> moved(values[i]);
      for (size_t e = 0; e < moved.size(); ++e) moved[e] += step * directions[i][e];
      write_floats(ctx, *inputs[i], moved);
    }
    vk::Recorder rec(ctx);
    x.forward(rec);
    rec.run();
    auto o = read_floats(ctx, x.o);
    double sum = 0;
    for (size_t e = 0; e < o.size(); ++e) sum += double(o[e]) * r[e];
    return sum;
  };
  const float eps = 1e-2f;
  double numeric = (loss(eps) - loss(-eps)) / (2.0 * eps);
  loss(0);
  {
    vk::Recorder rec(ctx);
    for (Tensor* g : grads) ops::fill(rec, *g, 0.0f);
    x.forward(rec);
    x.backward(rec);
    rec.run();
  }
  double analytic = 0;
  for (size_t i = 0; i < grads.size(); ++i) {
    auto g = read_floats(ctx, *grads[i]);
    for (size_t e = 0; e < g.size(); ++e) analytic += double(g[e]) * directions[i][e];
  }
  return std::fabs(analytic - numeric) / std::max(std::fabs(analytic), 1e-30);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"attention lab: check, then time forward and backward"};
  std::vector<int64_t> seqs = {512, 4096}, tokens = {4096, 8192};
  std::string dtype_text = "bf16", variant_text = "auto";
  std::vector<int64_t> heads = {16, 8};
  int64_t head_dim = 128;
  uint32_t kv_parts = 0;
  std::string tile_text = "0x0", tile2_text = "0x0x0";
  int repeats = 5;
  double peak = 0;
  uint32_t peak_size = 2048;
  bool with_sinks = false;
  app.add_option("--seq", seqs, "sequence lengths T");
  app.add_option("--tokens", tokens, "B x T per sequence length (one value: the same for all)");
  app.add_option("--dtype", dtype_text, "activation dtype: f32, f16 or bf16");
  app.add_option("--variant", variant_text, "kernels: auto, portable, coopmat or coopmat2");
  app.add_option("--heads", heads, "query heads and kv heads")->expected(2);
  app.add_option("--head-dim", head_dim, "head_dim D");
  app.add_option("--kv-parts", kv_parts, "parts of the dk/dv kernel (0: the op's choice)");
  app.add_option("--coopmat-tile", tile_text,
                 "coopmat row blocks per subgroup x visited rows, e.g. 2x32 (0x0: the op's choice)");
  app.add_option("--coopmat2-tile", tile2_text,
                 "coopmat2 own rows x visited rows x threads, e.g. 64x64x128 (0x0x0: the op's choice)");
  app.add_option("--repeats", repeats, "layers per timed run");
  app.add_flag("--sinks", with_sinks, "a learned sink logit per query head (gpt-oss), and its gradient");
  app.add_option("--peak", peak,
                 "reference TFLOP/s for the % column (0: the dtype's matmul, measured)");
  app.add_option("--peak-size", peak_size, "M = N = K of the matmul that measures the peak");
  CLI11_PARSE(app, argc, argv);

  try {
    vk::Context ctx;
    DType dt = dtype_from_name(dtype_text);
    auto variant = ops::AttentionVariant::automatic;
    for (auto v : {ops::AttentionVariant::portable, ops::AttentionVariant::coopmat,
                   ops::AttentionVariant::coopmat2})
      if (ops::attention_variant_name(v) == variant_text) variant = v;
    if (variant_text != ops::attention_variant_name(variant))
      fail("[bench/attention] unknown --variant '{}': use auto, portable, coopmat or coopmat2",
           variant_text);
    ops::CoopmatTile tile;
    if (std::sscanf(tile_text.c_str(), "%ux%u", &tile.row_blocks, &tile.visit) != 2)
      fail("[bench/attention] --coopmat-tile '{}' is not RBxBC, e.g. 2x32", tile_text);
    uint32_t visit2 = 0;
    if (std::sscanf(tile2_text.c_str(), "%ux%ux%u", &tile.own, &visit2, &tile.threads) != 3)
      fail("[bench/attention] --coopmat2-tile '{}' is not OWNxBCxTHREADS, e.g. 64x64x128",
           tile2_text);
    if (visit2) tile.visit = visit2;
    std::string notes;
    for (auto v : {ops::AttentionVariant::coopmat2, ops::AttentionVariant::coopmat})
      if (auto why = ops::attention_unavailable(ctx, v, dt, head_dim); !why.empty())
        notes += fmt::format(" ({} cannot run here: {})", ops::attention_variant_name(v), why);
    fmt::print("device: {}; variant {}{}\n", ctx.caps().name, variant_text, notes);

    Layer small(ctx, {2, 100, 4, 2, 64}, DType::f32, with_sinks);
    double forward_error = check_forward(ctx, small), backward_error = check_backward(ctx, small);
    // f32 sums over <= 100 terms; the central difference with eps 1e-2 is good to ~1e-4.
    bool correct = forward_error < 1e-5 && backward_error < 1e-3;
    fmt::print("check (f32, B 2, T 100, Hq 4, Hkv 2, D 64, causal{}): forward error {:.1e}, "
               "backward error {:.1e}: {}\n", with_sinks ? ", sinks" : "", forward_error,
               backward_error, correct ? "ok" : "WRONG");

    if (peak <= 0) {
      auto measured = cli::measure_matmul_peak(ctx, dt, peak_size);
      peak = measured.tflops;
      fmt::print("peak: {} {} matmul {}^3, {:.4g} TFLOP/s\n",
                 ops::matmul_variant_name(measured.variant), dtype_name(dt), peak_size, peak);
    }
    fmt::print("\n{:<34} {:>10} {:>10} {:>8}\n",
               fmt::format("pass dtype B x T ({}/{} heads, D {})", heads[0], heads[1], head_dim),
               "ms", "TFLOP/s", "% peak");
    for (size_t i = 0; i < seqs.size(); ++i) {
      int64_t T = seqs[i], total = tokens.size() == 1 ? tokens[0] : tokens.at(i);
      Shape s{std::max<int64_t>(total / T, 1), T, heads[0], heads[1], head_dim};
      Layer layer(ctx, s, dt, with_sinks, variant, kv_parts, tile);
      double forward_flops = 4.0 * s.B * s.Hq * double(s.T) * s.T * s.D / 2;
      {
        vk::Recorder rec(ctx);
        layer.forward(rec);  // o and lse for the backward, outside the timed recordings
        rec.run();
      }
      struct Pass {
        const char* name;
        bool forward, backward;
        double flops;  // in forwards
      };
      for (Pass pass : {Pass{"forward", true, false, 1.0}, Pass{"backward", false, true, 2.5},
                        Pass{"fwd+bwd", true, true, 3.5}}) {
        vk::Recorder timed(ctx);
        for (int r = 0; r < repeats; ++r) {
          if (pass.forward) layer.forward(timed);
          if (pass.backward) layer.backward(timed);
        }
        double seconds = cli::median_seconds(timed) / repeats;
        double tflops = pass.flops * forward_flops / seconds * 1e-12;
        fmt::print("{:<34} {:>10.3f} {:>10.4g} {:>7.1f}%\n",
                   fmt::format("{} {} {} x {}", pass.name, dtype_text, s.B, s.T), seconds * 1e3,
                   tflops, 100 * tflops / peak);
      }
      vk::Recorder profiled(ctx);
      profiled.profile(true);
      for (int r = 0; r < repeats; ++r) layer.backward(profiled);
      profiled.run();
      for (const vk::Timing& t : profiled.timings())
        fmt::print("  backward kernel {:>8.3f} ms  {}\n", t.milliseconds / repeats, t.label);
    }
    return correct ? 0 : 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench/attention: {}\n", e.what());
    return 1;
  }
}
