// bench/attention: the tiled attention kernels. First a check of what is timed (variant, dtype,
// heads, head_dim, sinks, tiles, kv parts) at B 2, T 100 (no multiple of any tile): o, lse and
// the gradients against tests/reference's attention in double, within the tolerances the tests
// hold that variant and dtype to. Then forward and backward timed over replays at
// Qwen3-1.7B's attention (16 query heads, 8 kv heads, head_dim 128, causal; --heads and
// --head-dim for others, Gemma-3-1B: --heads 4 1 --head-dim 256) for B x T = 8 x 512 and
// 2 x 4096, in TFLOP/s against a peak: the matmul ops choose for the dtype, measured here, or
// --peak, and the backward's kernels one by one (a profiled, serialized run). --variant picks
// the kernels (auto: what ops::attention_automatic_variant says for the dtype and head_dim),
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

#include "base/error.hpp"
#include "cli/measure.hpp"
#include "ops/attention.hpp"
#include "reference/attention.hpp"
#include "support/support.hpp"

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

// The errors of o, lse, dq, dk, dv (and dsinks) against the reference, each relative to its
// largest reference value: the layer's forward, then its backward into zeroed gradients.
std::vector<double> reference_errors(vk::Context& ctx, Layer& x) {
  std::vector<Tensor*> grads = {&x.dq, &x.dk, &x.dv};
  if (x.options.sinks) grads.push_back(&x.dsinks);
  {
    vk::Recorder rec(ctx);
    for (Tensor* g : grads) ops::fill(rec, *g, 0.0f);
    x.forward(rec);
    x.backward(rec);
    rec.run();
  }
  const Shape& s = x.s;
  reference::AttentionShape shape{uint32_t(s.B), uint32_t(s.T), uint32_t(s.Hq), uint32_t(s.Hkv),
                                  uint32_t(s.D)};
  shape.scale = x.options.scale;
  if (x.options.sinks) shape.sinks = read_floats(ctx, x.sinks);
  auto q = read_floats(ctx, x.q), k = read_floats(ctx, x.k), v = read_floats(ctx, x.v);
  std::vector<double> o, lse, dq, dk, dv, dsinks;
  reference::attention_forward(o, lse, q, k, v, shape);
  reference::attention_backward(dq, dk, dv, dsinks, read_floats(ctx, x.dout), q, k, v, shape);
  std::vector<double> errors = {test::relative_error(read_floats(ctx, x.o), o),
                                test::relative_error(read_floats(ctx, x.lse), lse)};
  const std::vector<double>* want[] = {&dq, &dk, &dv, &dsinks};
  for (size_t i = 0; i < grads.size(); ++i)
    errors.push_back(test::relative_error(read_floats(ctx, *grads[i]), *want[i]));
  return errors;
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

    const ops::AttentionVariant runs = variant == ops::AttentionVariant::automatic
                                           ? ops::attention_automatic_variant(ctx, dt, head_dim)
                                           : variant;
    const auto tolerances = runs == ops::AttentionVariant::portable
                                ? reference::portable_tolerances(dt)
                                : reference::coopmat_tolerances(dt);
    Layer small(ctx, {2, 100, heads[0], heads[1], head_dim}, dt, with_sinks, variant, kv_parts,
                tile);
    auto errors = reference_errors(ctx, small);
    bool correct = errors[0] < tolerances.o && errors[1] < tolerances.lse;
    for (size_t i = 2; i < errors.size(); ++i) correct = correct && errors[i] < tolerances.gradients;
    fmt::print("check ({} {}, B 2, T 100, causal{}): o {:.1e} lse {:.1e} dq {:.1e} dk {:.1e} "
               "dv {:.1e}{}: {}\n", ops::attention_variant_name(runs), dtype_text,
               with_sinks ? ", sinks" : "", errors[0], errors[1], errors[2], errors[3], errors[4],
               with_sinks ? fmt::format(" dsinks {:.1e}", errors[5]) : "", correct ? "ok" : "WRONG");

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
