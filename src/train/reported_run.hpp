#pragma once
// What a training command shows around Trainer::run: a live progress line on stdout, and
// report.html in the run directory at the end (also after an early stop).
#include <functional>

#include "train/trainer.hpp"

namespace vktrain::vk {
class Context;
}

namespace vktrain::train {

// Runs `trainer` to its last step, printing progress (on a terminal one line rewritten in
// place, else a line every `print_every` steps), then writes the report. `stop` is asked after
// every step (Ctrl-C); returns whether it stopped the run. `settings`: what the report lists
// (every flag of the run); null: the trainer's settings.
bool run_with_progress_and_report(Trainer& trainer, vk::Context& context, int64_t print_every,
                                  const std::function<bool()>& stop = {},
                                  const nlohmann::json& settings = {});

}  // namespace vktrain::train
