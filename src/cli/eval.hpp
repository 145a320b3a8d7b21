#pragma once
// `vktrain eval`: the mean token loss and perplexity of a model (+ a PEFT adapter) on a dataset,
// with the same data rules as training (masks, packing, --seq-len).
#include <CLI/CLI.hpp>

#include <optional>
#include <string>

namespace vktrain::cli {

struct EvalOptions {
  std::string model, data;
  std::optional<std::string> adapter, chat_template, device;
  int64_t batch = 4, seq_len = 2048, max_batches = 0;
  bool train_on_inputs = false, no_packing = false, truncate = false;
  std::string dtype = "auto";
  std::optional<std::string> quantize;  // --quantize (cli/run_setup.hpp)
};

void add_eval_options(CLI::App& command, EvalOptions& options);
int run_eval(const EvalOptions& options);

}  // namespace vktrain::cli
