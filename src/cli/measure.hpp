#pragma once
// Measurements shared by `vktrain doctor` and bench/matmul: a matmul variant checked against a
// host reference on sampled entries, then timed over replays of one recording; and copy bandwidth.
#include <string>
#include <vector>

#include "ops/elementwise.hpp"
#include "ops/matmul.hpp"
#include "vk/context.hpp"
#include "vk/recorder.hpp"

namespace vktrain::cli {

// Seconds of timed runs in a steady-state measurement (median_seconds).
inline constexpr double kSteadySeconds = 0.5;

struct MatmulRun {
  ops::MatmulVariant variant;
  DType in, out;
  uint32_t m, n, k;
  bool trans_a = false, trans_b = false;
  DType weight = DType::f32;  // a block type: B is a frozen weight quantized to it, else B is `in`
};

struct MatmulResult {
  std::string unavailable;  // non-empty: why the variant could not run here
  double max_error = 0;     // sampled, relative to the largest |reference| entry
  double tolerance = 0;
  double milliseconds = 0;  // per product
  double tflops = 0;
  bool correct() const { return unavailable.empty() && max_error <= tolerance; }
};

// `repeats` products per timed run, timed by median_seconds(…, min_seconds).
MatmulResult measure_matmul(vk::Context& context, const MatmulRun& run, int repeats,
                            double min_seconds = kSteadySeconds);

// The matmul rate ops get for `in` inputs here (the variant ops::matmul would choose, f32
// output, size^3): the peak the compute-bound benches compare against.
struct MatmulPeak {
  ops::MatmulVariant variant;
  double tflops;
};
MatmulPeak measure_matmul_peak(vk::Context& context, DType in, uint32_t size);

// n values uniform in [-1, 1], rounded to `dtype`: the random operands of checks and timings.
std::vector<float> random_floats(size_t n, DType dtype, uint32_t seed);

// Wall-clock seconds per run of the recording (submission to completion) in steady state: it
// first runs untimed for at least half of `min_seconds` (first submission, and a GPU's clocks
// rising from idle: after a single warm-up run, ten coopmat2 4096^3 products measured 58 TFLOP/s
// on an H100 where forty measured 261), then returns the median of at least `runs` timed runs
// that together last at least `min_seconds`. Every benchmark number comes from this; 0 keeps
// one warm-up run and `runs` runs (CPU drivers, whose clocks do not ramp, in quick checks).
double median_seconds(vk::Recorder& recorder, int runs = 5, double min_seconds = kSteadySeconds);

// Device-to-device copy bandwidth in GB/s, counting bytes read plus bytes written.
double measure_copy_gbps(vk::Context& context, uint64_t bytes, int repeats, ops::CopyPath path,
                         double min_seconds = kSteadySeconds);

}  // namespace vktrain::cli
