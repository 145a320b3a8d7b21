#pragma once
// The live progress line of `vktrain train`:
//   step 120/1000  loss 1.234  eval 1.456  lr 2.0e-04  12,345 tok/s  eta 3m12s  mem 5.4 GiB
// On a terminal one line is rewritten in place ('\r') each step; into a file or pipe (a log, CI) a
// plain line is printed every N steps, on the first and last step, on each step that evaluated, and
// on any step that ends `interval` seconds or more after the last line printed, so a slow run
// (a CPU driver, a big model) still shows its progress in a log at least that often.
// Throughput and ETA come from the last `window` steps, so they follow the current speed rather
// than the warm-up (pipeline compilation, first allocations).
#include <cstdint>
#include <cstdio>
#include <deque>
#include <ostream>
#include <string>

#include "train/trainer.hpp"

namespace vktrain::train {

// One line, without '\r' or '\n'. tokens_per_s NaN, eta_seconds < 0 or NaN: not known yet ("--");
// device_bytes 0: not measured (the field is left out).
std::string format_progress(const StepReport& report, double tokens_per_s, double eta_seconds,
                            uint64_t device_bytes);

class ProgressLine {
 public:
  // terminal: rewrite one line in place; else print every `every` steps (>= 1) and at least
  // every `interval` seconds of steps.
  ProgressLine(std::ostream& out, bool terminal, int64_t every = 1, size_t window = 20,
               double interval = 10);

  // Whether `stream` (stdout, stderr) is an interactive terminal.
  static bool is_terminal(std::FILE* stream);

  // After each step; device_bytes is the device memory in use now, 0 if unknown.
  void update(const StepReport& report, uint64_t device_bytes = 0);
  // A message of its own line (a checkpoint saved, a warning) that the progress line does not
  // overwrite; the next update draws the progress line again below it.
  void note(const std::string& text);
  // Ends a line left open on the terminal; called by update() after the last step.
  void finish();

 private:
  void show(const std::string& line);

  std::ostream& out_;
  bool terminal_;
  int64_t every_;
  size_t window_;
  double interval_;
  double unprinted_seconds_ = 0;  // of the steps since the last plain line
  std::deque<std::pair<double, int64_t>> recent_;  // (seconds, tokens) of the last steps
  size_t shown_width_ = 0;                         // of the line open on the terminal; 0: none
};

}  // namespace vktrain::train
