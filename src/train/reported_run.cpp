#include "train/reported_run.hpp"

#include <chrono>
#include <iostream>

#include "train/progress.hpp"
#include "train/report.hpp"
#include "vk/context.hpp"

namespace vktrain::train {

bool run_with_progress_and_report(Trainer& trainer, vk::Context& context, int64_t print_every,
                                  const std::function<bool()>& stop,
                                  const nlohmann::json& settings) {
  if (!trainer.writes_outputs())  // rank 0 shows and reports the run
    return trainer.run([&](const StepReport&) { return stop && stop(); });
  ProgressLine progress(std::cout, ProgressLine::is_terminal(stdout), print_every);
  const auto start = std::chrono::steady_clock::now();
  const bool stopped = trainer.run([&](const StepReport& r) {
    progress.update(r, context.allocator.stats().in_use);
    return stop && stop();
  });
  progress.finish();
  ReportSummary summary;
  summary.device = context.caps().name;
  summary.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  summary.peak_device_bytes = context.allocator.stats().peak_in_use;
  summary.total_steps = trainer.options().steps;
  write_report(trainer.options().run_dir,
               settings.is_null() ? trainer.options().settings : settings, summary);
  return stopped;
}

}  // namespace vktrain::train
