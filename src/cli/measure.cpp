#include "cli/measure.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>

#include "io/ggml_dtype.hpp"
#include "io/quant.hpp"
#include "ops/elementwise.hpp"
#include "vk/recorder.hpp"

namespace vktrain::cli {

std::vector<float> random_floats(size_t n, DType dtype, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = round_to(dtype, dist(rng));
  return v;
}

namespace {

double seconds_to_run(vk::Recorder& rec) {
  auto start = std::chrono::steady_clock::now();
  rec.run();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

double median_seconds(vk::Recorder& rec, int runs, double min_seconds) {
  // A bound on the runs of a tiny recording (tens of microseconds each) within min_seconds.
  constexpr size_t kMaxRuns = 100000;
  double warm = seconds_to_run(rec);
  while (warm < min_seconds / 2) warm += seconds_to_run(rec);
  std::vector<double> times;
  double total = 0;
  while (times.size() < size_t(std::max(runs, 1)) ||
         (total < min_seconds && times.size() < kMaxRuns)) {
    times.push_back(seconds_to_run(rec));
    total += times.back();
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

MatmulResult measure_matmul(vk::Context& ctx, const MatmulRun& run, int repeats,
                            double min_seconds) {
  MatmulResult result;
  result.unavailable = ops::matmul_unavailable(ctx, run.variant, run.in, run.out, run.weight);
  if (!result.unavailable.empty()) return result;

  std::vector<int64_t> shape_a = run.trans_a ? std::vector<int64_t>{run.k, run.m}
                                             : std::vector<int64_t>{run.m, run.k};
  std::vector<int64_t> shape_b = run.trans_b ? std::vector<int64_t>{run.n, run.k}
                                             : std::vector<int64_t>{run.k, run.n};
  Tensor a = make_tensor(ctx, run.in, shape_a, "A");
  const bool quantized = dtype_is_block(run.weight);
  Tensor b = make_tensor(ctx, quantized ? run.weight : run.in, shape_b, "B");
  Tensor c = make_tensor(ctx, run.out, {run.m, run.n}, "C");
  auto host_a = random_floats(a.numel(), run.in, 1234), host_b = random_floats(b.numel(), run.in, 1235);
  write_floats(ctx, a, host_a);
  if (quantized) {  // the reference multiplies what the blocks decode to
    auto blocks = io::quantize(host_b, io::ggml_type_of(run.weight));
    write_bytes(ctx, b, blocks);
    host_b = io::dequantize(blocks, io::ggml_type_of(run.weight), host_b.size());
  } else {
    write_floats(ctx, b, host_b);
  }

  ops::MatmulOptions options;
  options.trans_a = run.trans_a;
  options.trans_b = run.trans_b;
  options.variant = run.variant;
  {
    vk::Recorder once(ctx);
    ops::matmul(once, c, a, b, options);
    once.run();
  }
  // Check sampled entries against a double-precision host reference.
  auto host_c = read_floats(ctx, c);
  std::mt19937 rng(1234);
  std::uniform_int_distribution<uint32_t> pick_m(0, run.m - 1), pick_n(0, run.n - 1);
  double worst = 0, largest = 1e-30;
  for (int s = 0; s < 256; ++s) {
    uint32_t i = pick_m(rng), j = pick_n(rng);
    double ref = 0;
    for (uint32_t k = 0; k < run.k; ++k) {
      double x = run.trans_a ? host_a[size_t(k) * run.m + i] : host_a[size_t(i) * run.k + k];
      double y = run.trans_b ? host_b[size_t(j) * run.k + k] : host_b[size_t(k) * run.n + j];
      ref += x * y;
    }
    worst = std::max(worst, std::fabs(host_c[size_t(i) * run.n + j] - ref));
    largest = std::max(largest, std::fabs(ref));
  }
  result.max_error = worst / largest;
  // Inputs are exact in their dtype; what remains is f32 summation (and rounding of C).
  result.tolerance = run.out == DType::f32 ? 1e-4 : (run.out == DType::f16 ? 2e-3 : 1e-2);
  // A quantized weight staged in A's 16-bit type: each term's weight rounded once more.
  if (quantized && run.in != DType::f32)
    result.tolerance = std::max(result.tolerance, run.in == DType::f16 ? 4e-3 : 3e-2);

  vk::Recorder timed(ctx);
  for (int r = 0; r < repeats; ++r) ops::matmul(timed, c, a, b, options);
  double seconds = median_seconds(timed, 3, min_seconds);
  result.milliseconds = seconds * 1e3 / repeats;
  result.tflops = 2.0 * run.m * run.n * run.k * repeats / seconds * 1e-12;
  return result;
}

MatmulPeak measure_matmul_peak(vk::Context& ctx, DType in, uint32_t size) {
  auto variant = ops::matmul_choose(ctx, in, DType::f32);
  return {variant, measure_matmul(ctx, {variant, in, DType::f32, size, size, size}, 2).tflops};
}

double measure_copy_gbps(vk::Context& ctx, uint64_t bytes, int repeats, ops::CopyPath path,
                         double min_seconds) {
  Tensor src = make_tensor(ctx, DType::f32, {int64_t(bytes / 4)}, "copy source");
  Tensor dst = make_tensor(ctx, DType::f32, {int64_t(bytes / 4)}, "copy destination");
  {
    vk::Recorder init(ctx);
    ops::fill(init, src, 1.5f);
    init.run();
  }
  vk::Recorder timed(ctx);
  for (int r = 0; r < repeats; ++r) ops::copy(timed, dst, src, path);
  double seconds = median_seconds(timed, 3, min_seconds);
  return 2.0 * double(bytes) * repeats / seconds * 1e-9;
}

}  // namespace vktrain::cli
