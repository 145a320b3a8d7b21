#pragma once
// Learning-rate schedules, computed as transformers computes them (src/transformers/
// optimization.py), so a run here and one with the Hugging Face Trainer see the same rate at every
// optimizer step; the Trainer's optimizer step s runs with the scheduler's lambda(s). For step s
// (0, 1, ...), warmup W, total N, peak lr and min_lr, with m = min_lr / lr:
//   warmup, every kind:  s < W:  lr * s / max(1, W)          (step 0 of a warmup trains at 0)
//   constant:            lr                                  (get_constant_schedule_with_warmup)
//   linear:              f = max(0, (N - s) / max(1, N - W))   (get_linear_schedule_with_warmup)
//   cosine:              f = 0.5 * (1 + cos(pi * p)),  p = (s - W) / max(1, N - W)
//                        (get_cosine_with_min_lr_schedule_with_warmup with num_cycles 0.5)
//   linear and cosine:   lr * max(0, f * (1 - m) + m): from lr at s = W to min_lr at s = N
// With min_lr 0, linear is exactly get_linear_schedule_with_warmup; transformers' linear has no
// floor, ours takes min_lr the way its cosine does. The expressions keep transformers' order of
// operations, so the doubles are the same ones. As in transformers, the cosine rises again past
// s = N; the trainer never steps that far.
#include <cstdint>
#include <string_view>

namespace vktrain::train {

enum class LrSchedule { constant, linear, cosine };

// "constant", "linear", "cosine"; anything else fails naming the option --lr-schedule.
LrSchedule parse_lr_schedule(std::string_view name);
std::string_view lr_schedule_name(LrSchedule kind);

struct ScheduleOptions {
  LrSchedule kind = LrSchedule::linear;
  double lr = 0;             // the peak rate, reached at the end of the warmup
  int64_t warmup_steps = 0;  // W
  int64_t total_steps = 0;   // N: optimizer steps of the whole run
  double min_lr = 0;         // where linear and cosine end; constant ignores it
};

double learning_rate(const ScheduleOptions& options, int64_t step);

}  // namespace vktrain::train
