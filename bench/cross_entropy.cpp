// bench/cross_entropy: the loss fused with the lm_head product, in chunks of tokens (logits
// matmul, softmax rows, dh and dW matmuls): checked on a small random problem against the
// host in double, then timed over replays of one recording at Qwen3-1.7B's shape. TFLOP/s
// count 2 N C V per product: 6 N C V with a trainable lm_head, 4 without, 2 for the loss
// alone; the % column is against the matmul ops choose for the dtype, measured here, or --peak.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "cli/measure.hpp"
#include "ops/cross_entropy.hpp"
#include "vk/context.hpp"

using namespace vktrain;

namespace {

// Error of the summed loss on a small problem with ignored tokens and several chunks, relative.
double check(vk::Context& ctx, DType dt) {
  const int64_t tokens = 23, channels = 32, vocab = 301;
  auto h = cli::random_floats(size_t(tokens * channels), dt, 3);
  auto w = cli::random_floats(size_t(vocab * channels), dt, 4);
  std::mt19937 rng(3);
  std::vector<int32_t> labels(static_cast<size_t>(tokens));
  for (size_t t = 0; t < labels.size(); ++t) labels[t] = t % 5 == 2 ? -100 : int32_t(rng() % vocab);
  Tensor h_t = make_tensor(ctx, dt, {tokens, channels}, "h"), w_t = make_tensor(ctx, dt, {vocab, channels}, "w");
  Tensor labels_t = make_tensor(ctx, DType::i32, {tokens}, "labels");
  Tensor loss = make_tensor(ctx, DType::f32, {1}, "loss");
  write_floats(ctx, h_t, h);
  write_floats(ctx, w_t, w);
  write_ints(ctx, labels_t, labels);
  vk::Recorder rec(ctx);
  ops::fill(rec, loss, 0.0f);
  ops::cross_entropy_loss(rec, loss, h_t, w_t, labels_t, {7});
  rec.run();
  double want = 0;
  for (size_t t = 0; t < labels.size(); ++t) {
    if (labels[t] < 0) continue;
    std::vector<double> logits(size_t(vocab), 0.0);
    for (size_t v = 0; v < logits.size(); ++v)
      for (size_t c = 0; c < size_t(channels); ++c) logits[v] += double(h[t * channels + c]) * w[v * channels + c];
    double top = *std::max_element(logits.begin(), logits.end()), sum = 0;
    for (double x : logits) sum += std::exp(x - top);
    want += top + std::log(sum) - logits[size_t(labels[t])];
  }
  return std::fabs(read_floats(ctx, loss)[0] - want) / want;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cross_entropy lab: fused lm_head + loss TFLOP/s"};
  int64_t tokens = 4096, channels = 2048, vocab = 151936;  // 8 x 512 tokens of Qwen3-1.7B
  std::string dtype = "bf16";
  int repeats = 2;
  double peak = 0;
  uint32_t peak_size = 2048;
  app.add_option("--tokens", tokens, "tokens N");
  app.add_option("--channels", channels, "hidden size C");
  app.add_option("--vocab", vocab, "vocabulary V");
  app.add_option("--dtype", dtype, "activation and lm_head dtype: f32, f16 or bf16");
  app.add_option("--repeats", repeats, "calls per timed run");
  app.add_option("--peak", peak, "reference TFLOP/s for the % column (0: the dtype's matmul, measured)");
  app.add_option("--peak-size", peak_size, "M = N = K of the measured peak matmul");
  CLI11_PARSE(app, argc, argv);
  try {
    vk::Context ctx;
    DType dt = dtype_from_name(dtype);
    // f32 logits from inputs exact in the dtype, f32 logsumexp and sum.
    bool ok = check(ctx, dt) < 1e-5;
    std::string peak_source = "--peak";
    if (peak <= 0) {
      auto measured = cli::measure_matmul_peak(ctx, dt, peak_size);
      peak = measured.tflops;
      peak_source = fmt::format("{} {} matmul {}^3", ops::matmul_variant_name(measured.variant),
                                dtype, peak_size);
    }
    fmt::print("device: {}, {} N {} C {} V {}, peak ({}) {:.4g} TFLOP/s\n", ctx.caps().name,
               dtype, tokens, channels, vocab, peak_source, peak);
    Tensor h = make_tensor(ctx, dt, {tokens, channels}, "h");
    Tensor w = make_tensor(ctx, dt, {vocab, channels}, "lm_head");
    Tensor dh = make_tensor(ctx, dt, {tokens, channels}, "dh");
    Tensor dw = make_tensor(ctx, DType::f32, {vocab, channels}, "lm_head grad");
    Tensor labels = make_tensor(ctx, DType::i32, {tokens}, "labels");
    Tensor loss = make_tensor(ctx, DType::f32, {1}, "loss");
    Tensor scale = make_tensor(ctx, DType::f32, {1}, "grad scale");
    std::mt19937 rng(1);
    std::vector<int32_t> host_labels(static_cast<size_t>(tokens));
    for (auto& l : host_labels) l = int32_t(rng() % uint64_t(vocab));
    write_ints(ctx, labels, host_labels);
    {
      vk::Recorder init(ctx);
      ops::fill(init, h, 0.01f);
      ops::fill(init, w, -0.02f);
      ops::fill(init, dh, 0.0f);
      ops::fill(init, dw, 0.0f);
      ops::fill(init, loss, 0.0f);
      ops::cross_entropy_grad_scale(init, scale, {&labels});
      init.run();
    }
    fmt::print("{:<22} {:>10} {:>10} {:>7}  check\n", "mode", "ms", "TFLOP/s",
               "% peak");
    const char* modes[] = {"loss + dh + dW", "loss + dh (frozen W)", "loss only"};
    for (int mode = 0; mode < 3; ++mode) {
      vk::Recorder rec(ctx);
      for (int i = 0; i < repeats; ++i) {
        if (mode == 2) ops::cross_entropy_loss(rec, loss, h, w, labels);
        else ops::cross_entropy_loss_and_grad(rec, loss, dh, mode == 0 ? &dw : nullptr, h, w, labels, scale);
      }
      double seconds = cli::median_seconds(rec) / repeats;
      double tflops = 2.0 * (3 - mode) * double(tokens) * channels * vocab / seconds * 1e-12;
      fmt::print("{:<22} {:>10.2f} {:>10.4f} {:>6.1f}%  {}\n", modes[mode], seconds * 1e3, tflops,
                 100 * tflops / peak, ok ? "ok" : "WRONG");
    }
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench/cross_entropy: {}\n", e.what());
    return 1;
  }
}
