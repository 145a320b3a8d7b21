#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace vktrain::cli {

struct TokenizeOptions {
  std::string model;                         // model directory or .gguf file
  std::optional<std::string> text;           // --text
  std::optional<std::string> data;           // --data FILE.jsonl|FILE.txt|DIR
  std::optional<std::string> chat_template;  // --chat-template FILE
  size_t limit = 3;                          // examples (or .txt windows) shown from --data
  int64_t seq_len = 2048;                    // .txt windows, as train cuts them
};

// `vktrain tokenize`: ids and pieces of a text, or the first examples of a dataset rendered
// the way training sees them, with the trained (unmasked) tokens marked.
int run_tokenize(const TokenizeOptions& options);

}  // namespace vktrain::cli
