#pragma once
// Training examples from JSONL, the format detected per line (DESIGN.md "Data"):
// {"text": ...} for plain text, {"prompt": ..., "completion": ...}, and chat as
// {"messages": [{"role": ..., "content": ...}, ...]} (OpenAI's format: roles system, user,
// assistant and tool, assistant "tool_calls", other keys passed to the template as they are) or
// ShareGPT's {"conversations": [{"from": "human"|"gpt"|"system"|"tool", "value": ...}, ...]};
// chat lines may carry "tools": [...], the template's `tools`. Every error names the file and
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
  nlohmann::ordered_json tools;       // Kind::chat: the line's "tools", or null
  size_t line = 0;                    // 1-based line in the file
};

const char* kind_name(Example::Kind kind);  // "text", "prompt/completion", "chat"

// Reads up to `limit` examples (0: all). Blank lines are skipped.
std::vector<Example> read_examples(const std::string& path, size_t limit = 0);
Example parse_example(const std::string& json_line, const std::string& path, size_t line);

}  // namespace vktrain::data
