#include "train/progress.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <unistd.h>

#include "train/human_format.hpp"

namespace vktrain::train {

std::string format_progress(const StepReport& report, double tokens_per_s, double eta_seconds,
                            uint64_t device_bytes) {
  std::string line = fmt::format("step {}/{}  loss {:.3f}", report.step, report.steps, report.loss);
  if (report.eval_loss) line += fmt::format("  eval {:.3f}", *report.eval_loss);
  line += fmt::format("  lr {:.1e}", report.lr);
  line += "  " + (std::isfinite(tokens_per_s) ? format_count(std::llround(tokens_per_s)) : "--");
  line += " tok/s  eta " + format_duration(eta_seconds);
  if (device_bytes > 0) line += "  mem " + format_bytes(device_bytes);
  return line;
}

ProgressLine::ProgressLine(std::ostream& out, bool terminal, int64_t every, size_t window,
                           double interval)
    : out_(out),
      terminal_(terminal),
      every_(std::max<int64_t>(1, every)),
      window_(std::max<size_t>(1, window)),
      interval_(interval) {}

bool ProgressLine::is_terminal(std::FILE* stream) { return isatty(fileno(stream)) == 1; }

void ProgressLine::update(const StepReport& report, uint64_t device_bytes) {
  recent_.emplace_back(report.seconds, report.tokens);
  if (recent_.size() > window_) recent_.pop_front();
  double seconds = 0;
  int64_t tokens = 0;
  for (const auto& [s, t] : recent_) seconds += s, tokens += t;

  bool last = report.step >= report.steps;
  double tokens_per_s = seconds > 0 ? double(tokens) / seconds : NAN;
  double eta = seconds > 0 ? double(report.steps - report.step) * seconds / double(recent_.size())
                           : (last ? 0.0 : -1.0);
  std::string line = format_progress(report, tokens_per_s, eta, device_bytes);
  if (terminal_) {
    show(line);
    if (last) finish();
    return;
  }
  unprinted_seconds_ += report.seconds;
  if (report.step % every_ == 0 || report.step == 1 || last || report.eval_loss ||
      unprinted_seconds_ >= interval_) {
    out_ << line << '\n' << std::flush;
    unprinted_seconds_ = 0;
  }
}

void ProgressLine::note(const std::string& text) {
  if (terminal_ && shown_width_ > 0) {
    show(text);
    finish();
    return;
  }
  out_ << text << '\n' << std::flush;
}

void ProgressLine::finish() {
  if (shown_width_ == 0) return;
  out_ << '\n' << std::flush;
  shown_width_ = 0;
}

// Rewrites the open line; spaces cover what a longer earlier line left behind.
void ProgressLine::show(const std::string& line) {
  out_ << '\r' << line;
  if (line.size() < shown_width_) out_ << std::string(shown_width_ - line.size(), ' ');
  out_ << std::flush;
  shown_width_ = std::max<size_t>(1, line.size());
}

}  // namespace vktrain::train
