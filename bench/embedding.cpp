// bench/embedding: token embedding forward (a row gather, times Gemma's sqrt(C)) and its
// deterministic scatter-add backward, per dtype: checked on a small random problem against the
// host, then timed over replays of one recording with uniform random ids. GB/s count bytes
// read plus written: forward ids, N gathered rows and N written rows; backward dout, ids and
// order, and each distinct id's f32 gradient row read and written. Against the copy kernel.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cmath>
#include <random>
#include <set>

#include "cli/measure.hpp"
#include "ops/embedding.hpp"
#include "vk/context.hpp"

using namespace vktrain;

namespace {

std::vector<int32_t> random_ids(size_t n, int64_t vocab, std::mt19937& rng) {
  std::vector<int32_t> ids(n);
  for (auto& id : ids) id = int32_t(rng() % uint64_t(vocab));
  return ids;
}

// Worst error of forward (must be exact) and backward on a small problem with repeated ids,
// relative to the largest value of each output.
double check(vk::Context& ctx, DType dt) {
  const int64_t tokens = 97, vocab = 31, cols = 67;
  const float scale = round_to(dt, std::sqrt(float(cols)));
  auto table = cli::random_floats(size_t(vocab * cols), dt, 5);
  auto dout = cli::random_floats(size_t(tokens * cols), dt, 6);
  std::mt19937 rng(5);
  auto ids = random_ids(size_t(tokens), vocab, rng);
  Tensor ids_t = make_tensor(ctx, DType::i32, {tokens}, "ids"), order = make_tensor(ctx, DType::i32, {tokens}, "order");
  Tensor table_t = make_tensor(ctx, dt, {vocab, cols}, "table"), out = make_tensor(ctx, dt, {tokens, cols}, "out");
  Tensor dout_t = make_tensor(ctx, dt, {tokens, cols}, "dout"), dtable = make_tensor(ctx, DType::f32, {vocab, cols}, "dtable");
  write_ints(ctx, ids_t, ids);
  write_ints(ctx, order, ops::embedding_token_order(ids, uint64_t(vocab)));
  write_floats(ctx, table_t, table);
  write_floats(ctx, dout_t, dout);
  vk::Recorder rec(ctx);
  ops::fill(rec, dtable, 0.0f);
  ops::embedding_forward(rec, out, ids_t, table_t, scale);
  ops::embedding_backward(rec, dtable, dout_t, ids_t, order, scale);
  rec.run();
  auto got_out = read_floats(ctx, out), got_dtable = read_floats(ctx, dtable);
  std::vector<double> want(table.size(), 0.0);
  double worst = 0, largest = 1e-30;
  for (size_t t = 0; t < ids.size(); ++t)
    for (size_t c = 0; c < size_t(cols); ++c) {
      float value = round_to(dt, scale * table[size_t(ids[t]) * cols + c]);
      if (got_out[t * cols + c] != value) worst = INFINITY;
      want[size_t(ids[t]) * cols + c] += double(scale) * dout[t * cols + c];
    }
  for (size_t i = 0; i < want.size(); ++i) {
    worst = std::max(worst, std::fabs(got_dtable[i] - want[i]));
    largest = std::max(largest, std::fabs(want[i]));
  }
  return worst / largest;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"embedding lab: gather and scatter-add bandwidth"};
  int64_t tokens = 4096, channels = 2048, vocab = 151936;  // 8 x 512 tokens of Qwen3-1.7B
  int repeats = 10;
  app.add_option("--tokens", tokens, "tokens N");
  app.add_option("--channels", channels, "hidden size C");
  app.add_option("--vocab", vocab, "vocabulary V");
  app.add_option("--repeats", repeats, "calls per timed run");
  CLI11_PARSE(app, argc, argv);
  try {
    vk::Context ctx;
    double peak = cli::measure_copy_gbps(
        ctx, std::min<uint64_t>(uint64_t(tokens * channels) * 4, 1ull << 30), 5, ops::CopyPath::kernel);
    fmt::print("device: {}, N {} C {} V {}, copy kernel {:.1f} GB/s\n", ctx.caps().name, tokens,
               channels, vocab, peak);
    std::mt19937 rng(11);
    auto ids = random_ids(size_t(tokens), vocab, rng);
    uint64_t distinct = std::set<int32_t>(ids.begin(), ids.end()).size();
    Tensor ids_t = make_tensor(ctx, DType::i32, {tokens}, "ids");
    Tensor order = make_tensor(ctx, DType::i32, {tokens}, "order");
    write_ints(ctx, ids_t, ids);
    write_ints(ctx, order, ops::embedding_token_order(ids, uint64_t(vocab)));
    Tensor dtable = make_tensor(ctx, DType::f32, {vocab, channels}, "dtable");
    fmt::print("{:<5} {:<8} {:>9} {:>9} {:>7}  check\n", "dtype", "pass", "ms", "GB/s", "% copy");
    bool all_ok = true;
    for (DType dt : {DType::f32, DType::f16, DType::bf16}) {
      // Exact forward; backward f32 sums of a few terms.
      bool ok = check(ctx, dt) < 1e-5;
      all_ok = all_ok && ok;
      Tensor table = make_tensor(ctx, dt, {vocab, channels}, "table");
      Tensor out = make_tensor(ctx, dt, {tokens, channels}, "out");
      {
        vk::Recorder init(ctx);
        ops::fill(init, table, 0.5f);
        ops::fill(init, out, 0.25f);
        ops::fill(init, dtable, 0.0f);
        init.run();
      }
      uint64_t rows = uint64_t(tokens * channels) * dtype_size(dt);
      for (bool backward : {false, true}) {
        vk::Recorder rec(ctx);
        for (int i = 0; i < repeats; ++i) {
          if (backward) ops::embedding_backward(rec, dtable, out, ids_t, order, 45.25f);
          else ops::embedding_forward(rec, out, ids_t, table, 45.25f);
        }
        double seconds = cli::median_seconds(rec) / repeats;
        double bytes = backward ? double(rows + distinct * channels * 8 + tokens * 8)
                                : double(2 * rows + tokens * 4);
        double gbps = bytes / seconds * 1e-9;
        fmt::print("{:<5} {:<8} {:>9.3f} {:>9.1f} {:>6.1f}%  {}\n", dtype_name(dt),
                   backward ? "backward" : "forward", seconds * 1e3, gbps, 100 * gbps / peak,
                   ok ? "ok" : "WRONG");
      }
    }
    return all_ok ? 0 : 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench/embedding: {}\n", e.what());
    return 1;
  }
}
