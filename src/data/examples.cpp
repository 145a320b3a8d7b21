#include "data/examples.hpp"

#include <fstream>
#include <nlohmann/json.hpp>

#include "base/error.hpp"
#include "io/json_file.hpp"

namespace vktrain::data {

const char* kind_name(Example::Kind kind) {
  static const char* names[] = {"text", "prompt/completion", "chat"};
  return names[int(kind)];
}

Example parse_example(const std::string& json_line, const std::string& path, size_t line) {
  const nlohmann::json j = io::parse_json(json_line, fmt::format("{}:{}", path, line), "data");
  if (!j.is_object()) fail("[data] {}:{}: each line must be a JSON object", path, line);
  auto string_field = [&](const nlohmann::json& object, const char* key, const std::string& where) {
    if (!object.contains(key)) fail("[data] {}:{}: {} lacks \"{}\"", path, line, where, key);
    if (!object[key].is_string()) fail("[data] {}:{}: {} \"{}\" is not a string", path, line, where, key);
    return object[key].get<std::string>();
  };
  Example e;
  e.line = line;
  if (j.contains("messages")) {
    e.kind = Example::Kind::chat;
    if (!j["messages"].is_array() || j["messages"].empty())
      fail("[data] {}:{}: \"messages\" must be a non-empty list", path, line);
    for (size_t i = 0; i < j["messages"].size(); ++i) {
      const auto& m = j["messages"][i];
      std::string where = "message " + std::to_string(i + 1);
      if (!m.is_object()) fail("[data] {}:{}: {} is not an object", path, line, where);
      ChatMessage message{string_field(m, "role", where), string_field(m, "content", where)};
      if (message.role != "system" && message.role != "user" && message.role != "assistant")
        fail("[data] {}:{}: {} has role \"{}\"; use system, user or assistant", path, line, where,
             message.role);
      e.messages.push_back(std::move(message));
    }
  } else if (j.contains("prompt") || j.contains("completion")) {
    e.kind = Example::Kind::prompt_completion;
    e.prompt = string_field(j, "prompt", "the example");
    e.completion = string_field(j, "completion", "the example");
  } else if (j.contains("text")) {
    e.text = string_field(j, "text", "the example");
  } else {
    fail("[data] {}:{}: expected \"text\", \"prompt\"/\"completion\" or \"messages\"", path, line);
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
