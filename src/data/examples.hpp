#pragma once
// Training examples from JSONL, the format detected per line (DESIGN.md "Data"):
// {"text": ...} for plain text, {"prompt": ..., "completion": ...}, and
// {"messages": [{"role": ..., "content": ...}, ...]} for chat. Every error names the file and
// the line.
#include <string>
#include <vector>

#include "data/chat_template.hpp"

namespace vktrain::data {

struct Example {
  enum class Kind { text, prompt_completion, chat };
  Kind kind = Kind::text;
  std::string text;                   // Kind::text
  std::string prompt, completion;     // Kind::prompt_completion
  std::vector<ChatMessage> messages;  // Kind::chat
  size_t line = 0;                    // 1-based line in the file
};

const char* kind_name(Example::Kind kind);  // "text", "prompt/completion", "chat"

// Reads up to `limit` examples (0: all). Blank lines are skipped.
std::vector<Example> read_examples(const std::string& path, size_t limit = 0);
Example parse_example(const std::string& json_line, const std::string& path, size_t line);

}  // namespace vktrain::data
