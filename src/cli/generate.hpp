#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/sampling.hpp"

namespace vktrain::cli {

struct GenerateOptions {
  std::string model;                         // model directory or .gguf file
  std::optional<std::string> adapter;        // a PEFT adapter directory, applied unmerged
  std::string prompt;                        // generate: the prompt (a user turn with --chat)
  int64_t max_tokens = 256;                  // new tokens per answer
  model::SamplingOptions sampling{.temperature = 0.8, .top_k = 40, .top_p = 0.95, .min_p = 0.05};
  std::vector<std::string> stop;             // stop strings, not shown
  bool chat = false;                         // generate: format the prompt with the chat template
  std::optional<std::string> chat_template;  // a Jinja file instead of the model's
  std::string dtype = "auto";                // weights and activations (cli/run_setup.hpp)
  std::optional<std::string> device;         // index or name substring (VKTRAIN_DEVICE)
};

// `vktrain generate`: the prompt's continuation streamed to stdout; a summary line on stderr.
int run_generate(const GenerateOptions& options);
// `vktrain chat`: one user turn per line of stdin (until its end), each answered with the whole
// conversation so far formatted by the chat template.
int run_chat(const GenerateOptions& options);

}  // namespace vktrain::cli
