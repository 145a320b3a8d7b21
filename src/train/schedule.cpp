#include "train/schedule.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "base/error.hpp"

namespace vktrain::train {

LrSchedule parse_lr_schedule(std::string_view name) {
  if (name == "constant") return LrSchedule::constant;
  if (name == "linear") return LrSchedule::linear;
  if (name == "cosine") return LrSchedule::cosine;
  fail("[train] --lr-schedule '{}' is not a schedule; use constant, linear or cosine", name);
}

std::string_view lr_schedule_name(LrSchedule kind) {
  switch (kind) {
    case LrSchedule::constant: return "constant";
    case LrSchedule::linear: return "linear";
    case LrSchedule::cosine: return "cosine";
  }
  return "unknown";
}

double learning_rate(const ScheduleOptions& o, int64_t step) {
  if (step < o.warmup_steps)
    return o.lr * (double(step) / double(std::max<int64_t>(1, o.warmup_steps)));
  if (o.kind == LrSchedule::constant) return o.lr;
  const double decay_steps = double(std::max<int64_t>(1, o.total_steps - o.warmup_steps));
  double factor;
  if (o.kind == LrSchedule::linear) {
    factor = std::max(0.0, double(o.total_steps - step) / decay_steps);
  } else {
    double progress = double(step - o.warmup_steps) / decay_steps;
    factor = 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
  }
  const double min_rate = o.lr > 0 ? o.min_lr / o.lr : 0.0;  // a zero lr stays zero
  factor = factor * (1 - min_rate) + min_rate;
  return o.lr * std::max(0.0, factor);
}

}  // namespace vktrain::train
