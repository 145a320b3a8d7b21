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

struct MatmulRun {
  ops::MatmulVariant variant;
  DType in, out;
  uint32_t m, n, k;
  bool trans_a = false, trans_b = false;
};

struct MatmulResult {
  std::string unavailable;  // non-empty: why the variant could not run here
  double max_error = 0;     // sampled, relative to the largest |reference| entry
  double tolerance = 0;
  double milliseconds = 0;  // per product
  double tflops = 0;
  bool correct() const { return unavailable.empty() && max_error <= tolerance; }
};

MatmulResult measure_matmul(vk::Context& context, const MatmulRun& run, int repeats);

// The matmul rate ops get for `in` inputs here (the variant ops::matmul would choose, f32
// output, size^3): the peak the compute-bound benches compare against.
struct MatmulPeak {
  ops::MatmulVariant variant;
  double tflops;
};
MatmulPeak measure_matmul_peak(vk::Context& context, DType in, uint32_t size);

// n values uniform in [-1, 1], rounded to `dtype`: the random operands of checks and timings.
std::vector<float> random_floats(size_t n, DType dtype, uint32_t seed);

// Wall-clock seconds per run of the recording (submission to completion): one warm-up run
// (first submission, clocks), then the median of `runs` timed runs. Every benchmark number
// comes from this.
double median_seconds(vk::Recorder& recorder, int runs = 5);

// Device-to-device copy bandwidth in GB/s, counting bytes read plus bytes written.
double measure_copy_gbps(vk::Context& context, uint64_t bytes, int repeats, ops::CopyPath path);

}  // namespace vktrain::cli
