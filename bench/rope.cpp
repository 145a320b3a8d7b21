// bench/rope: rotary embedding forward (in place) and backward at Qwen3-1.7B's shapes: q
// [tokens, 16, 128] and k [tokens, 8, 128], theta 1e6, positions of packed sequences of 512.
// Each dtype is first checked against a double-precision host rotation on a small shape, then
// timed over replays of one recording. GB/s count the bytes a kernel must move (forward: x read
// and written; backward: dy read, dx read and written) against the copy kernel's measured peak.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cmath>

#include "cli/measure.hpp"
#include "ops/rope.hpp"

using namespace vktrain;

namespace {

constexpr double kTheta = 1e6;

struct Operands {
  Tensor x, dx, positions, inv_freq;
  std::vector<float> host_x, host_freq;
  std::vector<int32_t> host_positions;
};

// x[i] = a dtype-exact value of sin(i), positions restart every `length` tokens.
Operands make_operands(vk::Context& ctx, DType dt, int64_t tokens, int64_t heads, int64_t dim,
                       int32_t length) {
  Operands o{make_tensor(ctx, dt, {tokens, heads, dim}, "x"),
             make_tensor(ctx, dt, {tokens, heads, dim}, "dx"),
             make_tensor(ctx, DType::i32, {tokens}, "positions"),
             make_tensor(ctx, DType::f32, {dim / 2}, "inv_freq"),
             std::vector<float>(size_t(tokens * heads * dim)),
             ops::rope_inverse_frequencies(uint32_t(dim), kTheta),
             std::vector<int32_t>(size_t(tokens))};
  for (size_t i = 0; i < o.host_x.size(); ++i)
    o.host_x[i] = round_to(dt, float(std::sin(double(i))));
  for (size_t t = 0; t < o.host_positions.size(); ++t) o.host_positions[t] = int32_t(t % length);
  write_floats(ctx, o.x, o.host_x);
  write_ints(ctx, o.positions, o.host_positions);
  write_floats(ctx, o.inv_freq, o.host_freq);
  vk::Recorder zero(ctx);
  ops::fill(zero, o.dx, 0.0f);
  zero.run();
  return o;
}

// Forward out of place; the largest error against the host rotation, relative to max |x|.
double check(vk::Context& ctx, DType dt, int64_t tokens, int64_t heads, int64_t dim) {
  Operands o = make_operands(ctx, dt, tokens, heads, dim, int32_t(tokens / 2));
  Tensor y = make_tensor(ctx, dt, {tokens, heads, dim}, "y");
  vk::Recorder rec(ctx);
  ops::rope_forward(rec, y, o.x, o.positions, o.inv_freq);
  rec.run();
  auto got = read_floats(ctx, y);
  double worst = 0;
  int64_t pairs = dim / 2;
  for (int64_t row = 0; row < tokens * heads; ++row)
    for (int64_t i = 0; i < pairs; ++i) {
      double angle = float(o.host_positions[size_t(row / heads)]) * o.host_freq[size_t(i)];
      size_t at = size_t(row * dim + i);
      double a = o.host_x[at], b = o.host_x[at + size_t(pairs)];
      double c = std::cos(angle), s = std::sin(angle);
      worst = std::max({worst, std::fabs(got[at] - (a * c - b * s)),
                        std::fabs(got[at + size_t(pairs)] - (b * c + a * s))});
    }
  return worst;  // |x| <= 1
}

bool check_dtypes(vk::Context& ctx) {
  bool all_correct = true;
  for (DType dt : {DType::f32, DType::f16, DType::bf16}) {
    // One rounding of y to its dtype; in f32, sin and cos within a few ulps.
    double tolerance = dt == DType::f32 ? 1e-6 : dt == DType::f16 ? 1e-3 : 8e-3;
    double e = check(ctx, dt, 37, 3, 128);
    all_correct = all_correct && e <= tolerance;
    fmt::print("check {:<4} 37 x 3 x 128: error {:.1e} {}\n", dtype_name(dt), e,
               e <= tolerance ? "ok" : "WRONG");
  }
  return all_correct;
}

struct Flags {
  int64_t tokens = 8 * 512, heads = 16, kv_heads = 8, head_dim = 128;
  int repeats = 20;
};

// Times forward (in place) and backward on q and k, each dtype, against the copy peak.
void time_passes(vk::Context& ctx, const Flags& flags) {
  uint64_t copy_bytes = uint64_t(flags.tokens * flags.heads * flags.head_dim) * 4;
  double peak = cli::measure_copy_gbps(ctx, copy_bytes, flags.repeats, ops::CopyPath::kernel);
  fmt::print("\ncopy kernel, {} MiB: {:.1f} GB/s\n\n", copy_bytes >> 20, peak);
  fmt::print("{:<22} {:<5} {:<9} {:>9} {:>9} {:>7}\n", "x", "dtype", "pass", "ms", "GB/s",
             "% copy");
  for (auto [name, heads] : {std::pair{"q", flags.heads}, std::pair{"k", flags.kv_heads}}) {
    for (DType dt : {DType::f32, DType::f16, DType::bf16}) {
      Operands o = make_operands(ctx, dt, flags.tokens, heads, flags.head_dim, 512);
      for (bool backward : {false, true}) {
        vk::Recorder timed(ctx);
        for (int i = 0; i < flags.repeats; ++i) {
          if (backward) ops::rope_backward(timed, o.dx, o.x, o.positions, o.inv_freq);
          else ops::rope_forward(timed, o.x, o.x, o.positions, o.inv_freq);
        }
        double seconds = cli::median_seconds(timed) / flags.repeats;
        double gbps = double((backward ? 3 : 2) * o.x.bytes()) / seconds * 1e-9;
        fmt::print("{:<22} {:<5} {:<9} {:>9.3f} {:>9.1f} {:>6.1f}%\n",
                   fmt::format("{} {}x{}x{}", name, flags.tokens, heads, flags.head_dim),
                   dtype_name(dt), backward ? "backward" : "forward", seconds * 1e3, gbps,
                   100 * gbps / peak);
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  CLI::App app{"rope lab: check, then time forward and backward"};
  app.add_option("--tokens", flags.tokens, "B x T (sequences of 512 packed)");
  app.add_option("--heads", flags.heads, "query heads");
  app.add_option("--kv-heads", flags.kv_heads, "key heads");
  app.add_option("--head-dim", flags.head_dim, "D");
  app.add_option("--repeats", flags.repeats, "calls per timed run");
  CLI11_PARSE(app, argc, argv);
  try {
    vk::Context ctx;
    fmt::print("device: {}\n", ctx.caps().name);
    bool all_correct = check_dtypes(ctx);
    time_passes(ctx, flags);
    return all_correct ? 0 : 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench/rope: {}\n", e.what());
    return 1;
  }
}
