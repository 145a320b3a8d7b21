#pragma once
// An example as the text pieces training sees, in order, each trained on or not (DESIGN.md
// "Data"): assistant-only loss for chat, completion-only for prompt/completion, everything for
// plain text, unless the user trains on inputs too. `vktrain tokenize` shows these pieces and
// data::tokenize_dataset turns them into a TokenSequence, so both agree by construction.
//
// Special tokens, as mlx-lm and TRL place them:
//  - text: the tokenizer's own BOS (what its post-processor adds: Gemma's and Llama's, none for
//    Qwen) and the EOS after the text, so packed documents end where they end;
//  - prompt/completion: the BOS before the prompt and the EOS after the completion (trained,
//    so the model learns to stop);
//  - chat: exactly what the model's chat template writes (it writes Gemma's <bos> itself), the
//    end-of-turn markers belonging to the assistant spans.
#include <string>
#include <vector>

#include "data/chat_template.hpp"
#include "data/examples.hpp"
#include "data/tokenizer.hpp"

namespace vktrain::data {

struct Segment {
  std::string text;
  bool trained;
  bool add_special_tokens;  // encode with the tokenizer's post-processor (BOS): first piece only
};

// Errors name path:line: a conversation with no assistant turn while training on assistant
// turns only.
std::vector<Segment> segments_of(const Example& example, const std::string& path,
                                 const ChatTemplate& chat, const Tokenizer& tokenizer,
                                 bool train_on_inputs = false);

}  // namespace vktrain::data
