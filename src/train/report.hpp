#pragma once
// report.html: what a run did, as one self-contained page (no script, no external file) that a
// browser opens from disk: summary numbers (steps, tokens, throughput, wall time, peak device
// memory, final losses, device, where the run resumed), SVG charts of the training loss per step
// with a smoothed line and the evaluation losses, the learning rate, the gradient norm, the
// throughput and the device memory, each with a dashed line at every step a resumed run continued
// from, and every setting of the run as a table; read from the run's metrics.jsonl
// (train/metrics.hpp).
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace vktrain::train {

// What metrics.jsonl does not hold, from the caller that ran the training.
struct ReportSummary {
  std::string device;              // the device's name; "" unknown
  uint64_t peak_device_bytes = 0;  // the most device memory in use at once; 0 unknown
  double wall_seconds = -1;        // the whole run, loading included; < 0: the steps' sum
  int64_t total_steps = 0;         // the steps planned; 0: as many as recorded
};

// One line of metrics.jsonl, as the Trainer writes it. A value that is missing or null (JSON's NaN)
// is NaN here; a count missing is 0, "resumed_from" missing is -1.
struct MetricsRecord {
  static constexpr double kMissing = std::numeric_limits<double>::quiet_NaN();
  int64_t step = 0;
  double loss = kMissing, lr = kMissing, grad_norm = kMissing, seconds = kMissing;
  int64_t tokens = 0;          // processed (padding aside), as benchmarks count B x T
  int64_t trained_tokens = 0;  // targets of the loss
  double device_bytes = kMissing;  // in use after the step
  double eval_loss = kMissing;     // only on the steps that evaluated
  int64_t resumed_from = -1;       // on the first step after a resume: the checkpoint's step
};

// Every record of the file. Errors name the file, and the line for one that is not a JSON object
// with an integer "step" and numbers (or null) for the known fields; a file with no record is an
// error too. Blank lines are skipped.
std::vector<MetricsRecord> read_metrics(const std::string& path);

// The smoothed loss curve: each value is a weighted mean of its neighbours on both sides with
// weights falling exponentially with the distance (a forward and a backward exponential moving
// average, each bias-corrected at its end as TensorBoard's is), so the curve follows a change where
// it happens instead of trailing it like a one-sided average. The weight halves every ~n/30 steps
// of distance (n the length), at most every 34. NaN values stay NaN and do not enter the means.
std::vector<double> smoothed_curve(const std::vector<double>& values);

// The page. `title` is shown as given (escaped); `settings` is every setting of the run, nested
// objects shown with dotted keys.
std::string report_html(const std::string& title, const nlohmann::json& settings,
                        const ReportSummary& summary, const std::vector<MetricsRecord>& records);

// Reads <run_dir>/metrics.jsonl and writes <run_dir>/report.html through a temporary file, so a
// report is either whole or absent.
void write_report(const std::string& run_dir, const nlohmann::json& settings,
                  const ReportSummary& summary);

}  // namespace vktrain::train
