#pragma once
// Chat templates: a model's tokenizer_config.json `chat_template` (or a --chat-template file, or
// a built-in ChatML / Gemma / Llama-3 format) rendered exactly as transformers'
// apply_chat_template renders it, by the sandboxed jinja2 interpreter in data/jinja/.
// render_with_spans also says which bytes belong to assistant turns, for assistant-only loss.
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace vktrain::data {

namespace jinja {
struct Template;
}

struct ChatMessage {
  std::string role;
  std::string content;
  // The message's other keys, passed to the template as they are, as transformers passes a
  // message dict: tool_calls (OpenAI's [{"type": "function", "function": {"name", "arguments"}}]),
  // name, tool_call_id, reasoning_content... An object (key order kept: tojson prints it), or
  // null for none.
  nlohmann::ordered_json extra;
};

struct ChatOptions {
  bool add_generation_prompt = false;
  std::optional<bool> enable_thinking;  // passed to the template only when set (Qwen3 reads it)
  std::string bos_token, eos_token;     // when set, override the tokenizer config's
  // The tool definitions (a list, OpenAI's function schema) passed as `tools`; null: None, as
  // transformers passes no tools.
  nlohmann::ordered_json tools;
};

struct RenderedChat {
  std::string text;
  // Byte ranges of `text` that belong to assistant turns: the assistant content and the
  // end-of-turn marker that follows it ("<|im_end|>", "<end_of_turn>", "<|eot_id|>"), not the
  // role header and not the newline after the marker. What a trainer with assistant-only loss
  // trains on. In output order.
  std::vector<std::pair<size_t, size_t>> assistant_spans;
};

class ChatTemplate {
 public:
  // Reads "chat_template" (a string, or a list of {name, template} whose "default" is taken;
  // a chat_template.jinja beside the config when the field is absent) and bos_token/eos_token
  // (a string or {"content": ...}).
  static ChatTemplate from_tokenizer_config(const std::string& path);
  static ChatTemplate from_file(const std::string& path);  // raw Jinja text
  static ChatTemplate builtin(std::string_view name);      // "chatml", "gemma", "llama3"
  // Jinja text held in memory; `name` is what error messages call it.
  static ChatTemplate from_source(std::string_view source, std::string name = "template",
                                  std::optional<std::string> bos_token = std::nullopt,
                                  std::optional<std::string> eos_token = std::nullopt);

  const std::string& name() const;
  std::string render(const std::vector<ChatMessage>& messages, const ChatOptions& options = {}) const;
  RenderedChat render_with_spans(const std::vector<ChatMessage>& messages,
                                 const ChatOptions& options = {}) const;

 private:
  ChatTemplate() = default;
  std::shared_ptr<const jinja::Template> template_;
  std::optional<std::string> bos_token_, eos_token_;
};

}  // namespace vktrain::data
