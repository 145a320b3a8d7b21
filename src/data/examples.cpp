#include "data/examples.hpp"

#include <fstream>

#include "base/error.hpp"
#include "io/json_file.hpp"

namespace vktrain::data {
namespace {

using Json = nlohmann::ordered_json;  // keeps the file's key order: templates print tools with tojson

constexpr int kMaxDepth = 32;  // nesting of a message or tool; real ones use a handful

// Where in the data a check failed: "file:line: ".
struct Place {
  const std::string& path;
  size_t line;
  template <typename... Args>
  [[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) const {
    vktrain::fail("[data] {}:{}: {}", path, line, fmt::format(format, std::forward<Args>(args)...));
  }
};

void check_depth(const Json& j, const Place& at, const std::string& where, int depth = 0) {
  if (depth > kMaxDepth) at.fail("{} is nested more than {} levels deep", where, kMaxDepth);
  if (j.is_structured())
    for (const auto& item : j) check_depth(item, at, where, depth + 1);
}

std::string string_field(const Json& object, const char* key, const std::string& where, const Place& at) {
  if (!object.contains(key)) at.fail("{} lacks \"{}\"", where, key);
  if (!object[key].is_string()) at.fail("{} \"{}\" is not a string", where, key);
  return object[key].get<std::string>();
}

// OpenAI's tool calls: [{"type": "function", "function": {"name": "...", "arguments": {...} or
// "json text"}}, ...]; "type" and "id" optional.
void check_tool_calls(const Json& calls, const std::string& where, const Place& at) {
  if (!calls.is_array() || calls.empty()) at.fail("{} \"tool_calls\" must be a non-empty list", where);
  for (size_t i = 0; i < calls.size(); ++i) {
    std::string call = where + " tool call " + std::to_string(i + 1);
    if (!calls[i].is_object() || !calls[i].contains("function") || !calls[i]["function"].is_object())
      at.fail("{} must be {{\"type\": \"function\", \"function\": {{\"name\", \"arguments\"}}}}", call);
    const Json& function = calls[i]["function"];
    string_field(function, "name", call + " function", at);
    if (!function.contains("arguments") ||
        !(function["arguments"].is_object() || function["arguments"].is_string()))
      at.fail("{} function \"arguments\" must be an object or a JSON string", call);
  }
}

// One message: role, content and whatever else it carries for the template (ChatMessage::extra).
ChatMessage parse_message(const Json& m, const std::string& where, const Place& at) {
  if (!m.is_object()) at.fail("{} is not an object", where);
  check_depth(m, at, where);
  ChatMessage message;
  message.role = string_field(m, "role", where, at);
  if (message.role != "system" && message.role != "user" && message.role != "assistant" &&
      message.role != "tool")
    at.fail("{} has role \"{}\"; use system, user, assistant or tool", where, message.role);
  const bool calls = m.contains("tool_calls") && !m["tool_calls"].is_null();
  if (calls) {
    if (message.role != "assistant") at.fail("{} has \"tool_calls\" but is no assistant message", where);
    check_tool_calls(m["tool_calls"], where, at);
  }
  // An assistant message that only calls tools may have no content (OpenAI writes null); the
  // template sees "", which every template handles.
  if (!(calls && (!m.contains("content") || m["content"].is_null())))
    message.content = string_field(m, "content", where, at);
  for (const char* key : {"name", "tool_call_id"})
    if (m.contains(key) && !m[key].is_string()) at.fail("{} \"{}\" is not a string", where, key);
  for (const auto& [key, value] : m.items())
    if (key != "role" && key != "content") message.extra[key] = value;
  return message;
}

// ShareGPT: {"conversations": [{"from": "human", "value": "..."}, ...]}.
ChatMessage parse_sharegpt_turn(const Json& turn, const std::string& where, const Place& at) {
  if (!turn.is_object()) at.fail("{} is not an object", where);
  std::string from = string_field(turn, "from", where, at);
  static const std::pair<const char*, const char*> roles[] = {
      {"human", "user"}, {"user", "user"}, {"gpt", "assistant"}, {"assistant", "assistant"},
      {"system", "system"}, {"tool", "tool"}};
  for (auto [name, role] : roles)
    if (from == name) return {role, string_field(turn, "value", where, at), {}};
  at.fail("{} has \"from\": \"{}\"; use human, gpt, system or tool", where, from);
}

std::vector<ChatMessage> parse_conversation(const Json& j, const char* key, const Place& at) {
  const Json& turns = j[key];
  if (!turns.is_array() || turns.empty()) at.fail("\"{}\" must be a non-empty list", key);
  const bool sharegpt = std::string_view(key) == "conversations";
  std::vector<ChatMessage> messages;
  for (size_t i = 0; i < turns.size(); ++i) {
    std::string where = (sharegpt ? "turn " : "message ") + std::to_string(i + 1);
    messages.push_back(sharegpt ? parse_sharegpt_turn(turns[i], where, at)
                                : parse_message(turns[i], where, at));
  }
  return messages;
}

}  // namespace

const char* kind_name(Example::Kind kind) {
  static const char* names[] = {"text", "prompt/completion", "chat"};
  return names[int(kind)];
}

Example parse_example(const std::string& json_line, const std::string& path, size_t line) {
  const Place at{path, line};
  const Json j = io::parse_ordered_json(json_line, fmt::format("{}:{}", path, line), "data");
  if (!j.is_object()) at.fail("each line must be a JSON object");
  Example e;
  e.line = line;
  if (j.contains("messages") || j.contains("conversations")) {
    e.kind = Example::Kind::chat;
    e.messages = parse_conversation(j, j.contains("messages") ? "messages" : "conversations", at);
    if (j.contains("tools") && !j["tools"].is_null()) {
      if (!j["tools"].is_array()) at.fail("\"tools\" must be a list of tool definitions");
      check_depth(j["tools"], at, "\"tools\"");
      e.tools = j["tools"];
    }
  } else if (j.contains("prompt") || j.contains("completion")) {
    e.kind = Example::Kind::prompt_completion;
    e.prompt = string_field(j, "prompt", "the example", at);
    e.completion = string_field(j, "completion", "the example", at);
  } else if (j.contains("text")) {
    e.text = string_field(j, "text", "the example", at);
  } else {
    at.fail("expected \"text\", \"prompt\"/\"completion\", \"messages\" or \"conversations\"");
  }
  return e;
}

std::vector<Example> read_examples(const std::string& path, size_t limit) {
  std::ifstream in(path);
  if (!in) fail("[data] cannot open {}", path);
  std::vector<Example> examples;
  std::string text;
  for (size_t line = 1; std::getline(in, text); ++line) {
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    examples.push_back(parse_example(text, path, line));
    if (limit && examples.size() >= limit) break;
  }
  if (examples.empty()) fail("[data] {} holds no examples", path);
  return examples;
}

}  // namespace vktrain::data
