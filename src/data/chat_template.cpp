#include "data/chat_template.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "base/error.hpp"
#include "io/json_file.hpp"
#include "data/jinja/interpreter.hpp"
#include "data/jinja/parser.hpp"

namespace vktrain::data {
namespace {

// The fallbacks, written in the same Jinja the models' own templates use. Each takes the
// tokenizer's bos_token when there is one.
const std::map<std::string, std::string, std::less<>>& builtin_sources() {
  static const std::map<std::string, std::string, std::less<>> sources = {
      {"chatml", R"({%- for message in messages %}
{{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>\n' }}
{%- endfor %}
{%- if add_generation_prompt %}
{{- '<|im_start|>assistant\n' }}
{%- endif %}
)"},
      {"gemma", R"({{- bos_token if bos_token is defined else '<bos>' }}
{%- if messages and messages[0].role == 'system' %}
{%- set first_user_prefix = messages[0].content | trim + '\n\n' %}
{%- set loop_messages = messages[1:] %}
{%- else %}
{%- set first_user_prefix = '' %}
{%- set loop_messages = messages %}
{%- endif %}
{%- for message in loop_messages %}
{%- if (message.role == 'user') != (loop.index0 % 2 == 0) %}
{{- raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}
{%- endif %}
{{- '<start_of_turn>' + ('model' if message.role == 'assistant' else message.role) + '\n' }}
{{- (first_user_prefix if loop.first else '') + message.content | trim + '<end_of_turn>\n' }}
{%- endfor %}
{%- if add_generation_prompt %}
{{- '<start_of_turn>model\n' }}
{%- endif %}
)"},
      {"llama3", R"({{- bos_token if bos_token is defined else '<|begin_of_text|>' }}
{%- for message in messages %}
{{- '<|start_header_id|>' + message.role + '<|end_header_id|>\n\n' + message.content | trim + '<|eot_id|>' }}
{%- endfor %}
{%- if add_generation_prompt %}
{{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}
)"},
  };
  return sources;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("[chat template] cannot open {}: {}", path, std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// bos_token / eos_token: a string, an AddedToken {"content": ...}, or null/absent.
std::optional<std::string> special_token(const nlohmann::json& config, const char* key, const std::string& path) {
  if (!config.contains(key) || config[key].is_null()) return std::nullopt;
  const auto& token = config[key];
  if (token.is_string()) return token.get<std::string>();
  if (token.is_object() && token.contains("content") && token["content"].is_string())
    return token["content"].get<std::string>();
  fail("[chat template] {}: {} is neither a string nor {{\"content\": ...}}", path, key);
}

size_t common_prefix(std::string_view a, std::string_view b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}

}  // namespace

ChatTemplate ChatTemplate::from_source(std::string_view source, std::string name,
                                       std::optional<std::string> bos_token,
                                       std::optional<std::string> eos_token) {
  ChatTemplate chat;
  try {
    chat.template_ = std::make_shared<const jinja::Template>(jinja::parse_template(source, name));
  } catch (const jinja::TemplateError& e) {
    fail("[chat template] {}:{}: {}", name, e.line, e.what());
  }
  chat.bos_token_ = std::move(bos_token);
  chat.eos_token_ = std::move(eos_token);
  return chat;
}

ChatTemplate ChatTemplate::from_tokenizer_config(const std::string& path) {
  const nlohmann::json config = io::parse_json(read_text(path), path, "chat template");
  if (!config.is_object()) fail("[chat template] {} is not a JSON object", path);
  std::string source;
  const auto& field = config.contains("chat_template") ? config["chat_template"] : nlohmann::json();
  if (field.is_string()) {
    source = field.get<std::string>();
  } else if (field.is_array()) {
    std::string names;
    for (const auto& entry : field) {
      if (!entry.is_object() || !entry.contains("name") || !entry.contains("template") ||
          !entry["name"].is_string() || !entry["template"].is_string())
        fail("[chat template] {}: chat_template list entries must be {{\"name\", \"template\"}} strings", path);
      if (entry["name"] == "default") source = entry["template"].get<std::string>();
      names += (names.empty() ? "" : ", ") + entry["name"].get<std::string>();
    }
    if (source.empty()) fail("[chat template] {}: chat_template has no \"default\" entry (has {})", path, names);
  } else if (field.is_null()) {
    auto sibling = std::filesystem::path(path).parent_path() / "chat_template.jinja";
    if (!std::filesystem::exists(sibling))
      fail("[chat template] {} has no chat_template; pass --chat-template FILE or pick a built-in format "
           "(chatml, gemma, llama3)",
           path);
    source = read_text(sibling.string());
  } else {
    fail("[chat template] {}: chat_template is neither a string nor a list", path);
  }
  return from_source(source, path, special_token(config, "bos_token", path), special_token(config, "eos_token", path));
}

ChatTemplate ChatTemplate::from_file(const std::string& path) { return from_source(read_text(path), path); }

ChatTemplate ChatTemplate::builtin(std::string_view name) {
  auto it = builtin_sources().find(name);
  if (it == builtin_sources().end())
    fail("[chat template] unknown built-in format '{}' (known: chatml, gemma, llama3)", name);
  return from_source(it->second, "builtin " + it->first);
}

const std::string& ChatTemplate::name() const { return template_->name; }

namespace {

// JSON as the Python objects json.loads makes; depth is bounded so hostile data cannot recurse
// without end.
jinja::Value to_value(const nlohmann::ordered_json& j, int depth = 0) {
  if (depth > 64) fail("[chat template] a message or tool is nested more than 64 levels deep");
  switch (j.type()) {
    case nlohmann::json::value_t::null: return jinja::None{};
    case nlohmann::json::value_t::boolean: return j.get<bool>();
    case nlohmann::json::value_t::number_integer: return j.get<int64_t>();
    case nlohmann::json::value_t::number_unsigned:
      if (j.get<uint64_t>() > uint64_t(INT64_MAX)) fail("[chat template] the integer {} is too large", j.dump());
      return int64_t(j.get<uint64_t>());
    case nlohmann::json::value_t::number_float: return j.get<double>();
    case nlohmann::json::value_t::string: return j.get<std::string>();
    case nlohmann::json::value_t::array: {
      jinja::List items;
      for (const auto& item : j) items.push_back(to_value(item, depth + 1));
      return jinja::Value(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      std::vector<std::pair<std::string, jinja::Value>> items;
      for (const auto& [key, value] : j.items()) items.emplace_back(key, to_value(value, depth + 1));
      return jinja::make_dict(std::move(items));
    }
    default: fail("[chat template] {} cannot be passed to a template", j.dump());
  }
}

// One render: the messages become dicts whose identities the interpreter tracks.
jinja::RenderResult render_messages(const jinja::Template& tmpl, const std::vector<ChatMessage>& messages,
                                    const ChatOptions& options, const std::optional<std::string>& bos,
                                    const std::optional<std::string>& eos) {
  jinja::List list;
  std::vector<const void*> tracked;
  for (const auto& m : messages) {
    std::vector<std::pair<std::string, jinja::Value>> items = {{"role", m.role}, {"content", m.content}};
    if (m.extra.is_object())
      for (const auto& [key, value] : m.extra.items())
        if (key != "role" && key != "content") items.emplace_back(key, to_value(value));
    list.push_back(jinja::make_dict(std::move(items)));
    tracked.push_back(list.back().identity());
  }
  // As transformers: tools when given (else None), documents as None, special tokens when the
  // tokenizer has them, extra options (enable_thinking) only when given.
  std::vector<std::pair<std::string, jinja::Value>> variables = {
      {"messages", jinja::Value(std::move(list))},
      {"add_generation_prompt", options.add_generation_prompt},
      {"tools", to_value(options.tools)},
      {"documents", jinja::None{}}};
  if (!options.bos_token.empty() || bos) variables.emplace_back("bos_token", options.bos_token.empty() ? *bos : options.bos_token);
  if (!options.eos_token.empty() || eos) variables.emplace_back("eos_token", options.eos_token.empty() ? *eos : options.eos_token);
  if (options.enable_thinking) variables.emplace_back("enable_thinking", *options.enable_thinking);
  try {
    return jinja::render(tmpl, variables, tracked);
  } catch (const jinja::TemplateError& e) {
    fail("[chat template] {}:{}: {}", tmpl.name, e.line, e.what());
  }
}

}  // namespace

std::string ChatTemplate::render(const std::vector<ChatMessage>& messages, const ChatOptions& options) const {
  return render_messages(*template_, messages, options, bos_token_, eos_token_).text;
}

// How assistant spans are found. The interpreter attributes every byte it writes to the message
// whose dict is the current item of the innermost enclosing for loop (by object identity, so
// `messages[1:]`, `messages[::-1]` and selectattr keep it). Templates write a whole turn inside
// one iteration of their loop over the messages, so each assistant message yields one segment:
// role header + (possibly rewritten) content + end-of-turn marker + separator. Rewriting, such
// as Qwen3 dropping the <think> block of earlier turns, happens inside that segment and needs no
// special case. Then:
//  - the role header is what the template's generation prompt adds after the preceding messages
//    (render(messages[:i], add_generation_prompt) minus render(messages[:i])); it is cut when the
//    segment starts with it. Otherwise the generation prompt without enable_thinking is tried
//    (Qwen3's enable_thinking=false prompt ends in an empty <think></think> that earlier turns
//    lack), and last the longest common prefix of prompt and segment is cut.
//  - trailing whitespace after the end-of-turn marker (the "\n" between turns) is cut.
// Content inside the generation prompt itself (Qwen3's empty think block when enable_thinking is
// false) is therefore not trained on, as at inference the prompt supplies it. Templates that mark
// turns with transformers' {% generation %} blocks get exactly those blocks instead.
RenderedChat ChatTemplate::render_with_spans(const std::vector<ChatMessage>& messages,
                                             const ChatOptions& options) const {
  jinja::RenderResult full = render_messages(*template_, messages, options, bos_token_, eos_token_);
  RenderedChat chat{std::move(full.text), {}};
  if (!full.generation_spans.empty()) {
    for (const auto& span : full.generation_spans)
      if (span.second > span.first) chat.assistant_spans.push_back(span);
    return chat;
  }
  auto generation_prompt = [&](size_t i, const ChatOptions& prompt_options) -> std::string {
    std::vector<ChatMessage> prefix(messages.begin(), messages.begin() + long(i));
    ChatOptions with = prompt_options, without = prompt_options;
    with.add_generation_prompt = true;
    without.add_generation_prompt = false;
    try {
      std::string a = render(prefix, with), b = render(prefix, without);
      return a.compare(0, b.size(), b) == 0 ? a.substr(b.size()) : std::string();
    } catch (const Error&) {  // the template may reject a prefix (say, one without a user turn)
      return {};
    }
  };
  for (size_t i = 0; i < messages.size(); ++i) {
    if (messages[i].role != "assistant") continue;
    const jinja::RenderResult::Segment* segment = nullptr;
    for (const auto& s : full.segments)
      if (s.item == i && (!segment || s.end - s.begin > segment->end - segment->begin)) segment = &s;
    if (!segment) continue;
    std::string_view text = std::string_view(chat.text).substr(segment->begin, segment->end - segment->begin);
    std::string prompt = generation_prompt(i, options);
    size_t header = 0;
    if (!prompt.empty() && text.substr(0, prompt.size()) == prompt) {
      header = prompt.size();
    } else {
      std::string plain = prompt;
      if (options.enable_thinking) {
        ChatOptions unset = options;
        unset.enable_thinking.reset();
        plain = generation_prompt(i, unset);
      }
      header = !plain.empty() && text.substr(0, plain.size()) == plain ? plain.size() : common_prefix(text, prompt);
    }
    size_t end = text.size();
    while (end > header && std::strchr(" \t\r\n", text[end - 1])) --end;
    chat.assistant_spans.emplace_back(segment->begin + header, segment->begin + end);
  }
  return chat;
}

}  // namespace vktrain::data
