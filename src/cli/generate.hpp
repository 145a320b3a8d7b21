#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "data/chat_template.hpp"
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
  std::optional<std::string> system;         // a system message before the conversation
  std::optional<std::string> thinking;       // on, off: the template's enable_thinking (Qwen3)
  std::optional<std::string> chat_template;  // a Jinja file instead of the model's
  std::string dtype = "auto";                // weights and activations (cli/run_setup.hpp)
  std::optional<std::string> quantize;       // --quantize (cli/run_setup.hpp)
  std::optional<std::string> device;         // index or name substring (VKTRAIN_DEVICE)
};

// --thinking: on -> true, off -> false, absent -> nullopt (the template's own default); else
// fails naming the flag.
std::optional<bool> parse_thinking(const std::optional<std::string>& value, const char* command);

// The text of a chat prompt: the system message (when given) first, then the turns, then the
// assistant's header; `thinking`, when set, reaches the template as enable_thinking (Qwen3's
// template answers false with an empty <think></think> block after the header).
std::string chat_prompt_text(const data::ChatTemplate& chat_template,
                             const std::vector<data::ChatMessage>& turns,
                             const std::optional<std::string>& system,
                             std::optional<bool> thinking);

// `vktrain generate`: the prompt's continuation streamed to stdout; a summary line on stderr.
int run_generate(const GenerateOptions& options);
// `vktrain chat`: one user turn per line of stdin (until its end), each answered with the whole
// conversation so far formatted by the chat template.
int run_chat(const GenerateOptions& options);

}  // namespace vktrain::cli
