#pragma once
// `vktrain demo`: the whole product in one command, with nothing downloaded. It builds a small
// Qwen3-style model with the demo task's own vocabulary (cli/demo_task.hpp), pre-trains it to
// copy digits, shows that it cannot add one to them, LoRA-fine-tunes it to do so, and shows the
// accuracy again and a few generated answers. Everything a real run writes is written to --out:
// the pre-trained model as a Hugging Face directory, the PEFT adapter, metrics and report.html.
#include <CLI/CLI.hpp>

#include <optional>
#include <string>

namespace vktrain::cli {

struct DemoOptions {
  std::string out = "vktrain-demo";
  int64_t pretrain_steps = 100, lora_steps = 60;
  uint64_t seed = 0;
  std::optional<std::string> device;
};

void add_demo_options(CLI::App& command, DemoOptions& options);
int run_demo(const DemoOptions& options);

}  // namespace vktrain::cli
