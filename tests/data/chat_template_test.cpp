#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "data/chat_template.hpp"
#include "support/support.hpp"

using namespace vktrain;
using data::ChatMessage;
using data::ChatOptions;
using data::ChatTemplate;
namespace fs = std::filesystem;

namespace {

std::string config_path(const std::string& model) {
  return std::string(VKTRAIN_TOKENIZERS) + "/" + model + "/tokenizer_config.json";
}

nlohmann::json fixture(const std::string& model) {
  std::ifstream in(std::string(VKTRAIN_FIXTURES) + "/chat_templates/" + model + ".json");
  return nlohmann::json::parse(in);
}

std::vector<ChatMessage> messages_of(const nlohmann::json& render) {
  std::vector<ChatMessage> messages;
  for (const auto& m : render["messages"]) messages.push_back({m["role"], m["content"]});
  return messages;
}

ChatOptions options_of(const nlohmann::json& render) {
  ChatOptions options;
  const auto& o = render["options"];
  options.add_generation_prompt = o.value("add_generation_prompt", false);
  if (o.contains("enable_thinking")) options.enable_thinking = o["enable_thinking"].get<bool>();
  return options;
}

// The spans a trainer should see, read off the text: from the end of each assistant header to
// the end of the end-of-turn marker that closes it (a trailing generation prompt has none).
std::vector<std::pair<size_t, size_t>> expected_spans(const std::string& text, const std::string& header,
                                                      const std::string& marker) {
  std::vector<std::pair<size_t, size_t>> spans;
  for (size_t at = text.find(header); at != std::string::npos; at = text.find(header, at + 1)) {
    size_t begin = at + header.size();
    size_t end = text.find(marker, begin);
    if (end != std::string::npos) spans.emplace_back(begin, end + marker.size());
  }
  return spans;
}

void check_fixtures(const std::string& model, const std::string& header, const std::string& marker) {
  ChatTemplate chat = ChatTemplate::from_tokenizer_config(config_path(model));
  auto renders = fixture(model)["renders"];
  ASSERT_FALSE(renders.empty());
  for (const auto& render : renders) {
    SCOPED_TRACE(model + " " + render["name"].get<std::string>());
    auto messages = messages_of(render);
    auto options = options_of(render);
    std::string want = render["rendered"];
    EXPECT_EQ(chat.render(messages, options), want);
    auto with_spans = chat.render_with_spans(messages, options);
    EXPECT_EQ(with_spans.text, want);
    EXPECT_EQ(with_spans.assistant_spans, expected_spans(want, header, marker));
    size_t assistants = 0;
    for (const auto& m : messages) assistants += m.role == "assistant";
    EXPECT_EQ(with_spans.assistant_spans.size(), assistants);
  }
}

std::string span_text(const data::RenderedChat& chat, size_t i) {
  auto [begin, end] = chat.assistant_spans.at(i);
  return chat.text.substr(begin, end - begin);
}

std::vector<std::string> span_texts(const data::RenderedChat& chat) {
  std::vector<std::string> texts;
  for (size_t i = 0; i < chat.assistant_spans.size(); ++i) texts.push_back(span_text(chat, i));
  return texts;
}

using Texts = std::vector<std::string>;

// Llama-3.1-Instruct's and Mistral-7B-Instruct-v0.3's templates, as their tokenizer configs
// hold them (tools, tool calls and the date string included).
const char* kLlama31 = R"T({{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- set date_string = "26 Jul 2024" %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{#- System message + builtin tools #}
{{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
{%- if builtin_tools is defined or tools is not none %}
    {{- "Environment: ipython\n" }}
{%- endif %}
{%- if builtin_tools is defined %}
    {{- "Tools: " + builtin_tools | reject('equalto', 'code_interpreter') | join(", ") + "\n\n"}}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\n" }}
{{- "Today Date: " + date_string + "\n\n" }}
{%- if tools is not none and not tools_in_user_message %}
    {{- "You have access to the following functions. To call a function, please respond with JSON for a function call." }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}

{#- Custom tools are passed in a user message with some extra guidance #}
{%- if tools_in_user_message and not tools is none %}
    {#- Extract the first user message so we can plug it in here #}
    {%- if messages | length != 0 %}
        {%- set first_user_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}
        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
{%- endif %}
    {{- '<|start_header_id|>user<|end_header_id|>\n\n' -}}
    {{- "Given the following functions, please respond with a JSON for a function call " }}
    {{- "with its proper arguments that best answers the given prompt.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
    {{- first_user_message + "<|eot_id|>"}}
{%- endif %}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
        {{- '{"name": "' + tool_call.name + '", ' }}
        {{- '"parameters": ' }}
        {{- tool_call.arguments | tojson }}
        {{- "}" }}
        {{- "<|eot_id|>" }}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\n\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}
)T";

const char* kMistral = R"T({%- if messages[0]["role"] == "system" %}
    {%- set system_message = messages[0]["content"] %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set loop_messages = messages %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}
{%- set user_messages = loop_messages | selectattr("role", "equalto", "user") | list %}

{#- This block checks for alternating user/assistant messages, skipping tool calling messages #}
{%- set ns = namespace() %}
{%- set ns.index = 0 %}
{%- for message in loop_messages %}
    {%- if not (message.role == "tool" or message.role == "tool_results" or (message.tool_calls is defined and message.tool_calls is not none)) %}
        {%- if (message["role"] == "user") != (ns.index % 2 == 0) %}
            {{- raise_exception("After the optional system message, conversation roles must alternate user/assistant/user/assistant/...") }}
        {%- endif %}
        {%- set ns.index = ns.index + 1 %}
    {%- endif %}
{%- endfor %}

{{- bos_token }}
{%- for message in loop_messages %}
    {%- if message["role"] == "user" %}
        {%- if tools is not none and (message == user_messages[-1]) %}
            {{- "[AVAILABLE_TOOLS] [" }}
            {%- for tool in tools %}
                {%- set tool = tool.function %}
                {{- '{"type": "function", "function": {' }}
                {%- for key, val in tool.items() if key != "return" %}
                    {%- if val is string %}
                        {{- '"' + key + '": "' + val + '"' }}
                    {%- else %}
                        {{- '"' + key + '": ' + val|tojson }}
                    {%- endif %}
                    {%- if not loop.last %}
                        {{- ", " }}
                    {%- endif %}
                {%- endfor %}
                {{- "}}" }}
                {%- if not loop.last %}
                    {{- ", " }}
                {%- else %}
                    {{- "]" }}
                {%- endif %}
            {%- endfor %}
            {{- "[/AVAILABLE_TOOLS]" }}
            {%- endif %}
        {%- if loop.last and system_message is defined %}
            {{- "[INST] " + system_message + "\n\n" + message["content"] + "[/INST]" }}
        {%- else %}
            {{- "[INST] " + message["content"] + "[/INST]" }}
        {%- endif %}
    {%- elif message.tool_calls is defined and message.tool_calls is not none %}
        {{- "[TOOL_CALLS] [" }}
        {%- for tool_call in message.tool_calls %}
            {%- set out = tool_call.function|tojson %}
            {{- out[:-1] }}
            {%- if not tool_call.id is defined or tool_call.id|length != 9 %}
                {{- raise_exception("Tool call IDs should be alphanumeric strings with length 9!") }}
            {%- endif %}
            {{- ', "id": "' + tool_call.id + '"}' }}
            {%- if not loop.last %}
                {{- ", " }}
            {%- else %}
                {{- "]" + eos_token }}
            {%- endif %}
        {%- endfor %}
    {%- elif message["role"] == "assistant" %}
        {{- " " + message["content"]|trim + eos_token}}
    {%- elif message["role"] == "tool_results" or message["role"] == "tool" %}
        {%- if message.content is defined and message.content.content is defined %}
            {%- set content = message.content.content %}
        {%- else %}
            {%- set content = message.content %}
        {%- endif %}
        {{- '[TOOL_RESULTS] {"content": ' + content|string + ", " }}
        {%- if not message.tool_call_id is defined or message.tool_call_id|length != 9 %}
            {{- raise_exception("Tool call IDs should be alphanumeric strings with length 9!") }}
        {%- endif %}
        {{- '"call_id": "' + message.tool_call_id + '"}[/TOOL_RESULTS]' }}
    {%- else %}
        {{- raise_exception("Only user and assistant roles are supported, with the exception of an initial optional system message!") }}
    {%- endif %}
{%- endfor %}
)T";

const std::vector<ChatMessage> kConversation = {{"system", "Be brief."},
                                                {"user", "Hi"},
                                                {"assistant", "Hello!"},
                                                {"user", "2+2?"},
                                                {"assistant", " 4 "}};

}  // namespace

TEST(ChatTemplate, Qwen3FixturesRenderExactly) { check_fixtures("qwen3", "<|im_start|>assistant\n", "<|im_end|>"); }

TEST(ChatTemplate, Gemma3FixturesRenderExactly) {
  check_fixtures("gemma3", "<start_of_turn>model\n", "<end_of_turn>");
}

TEST(ChatTemplate, Qwen3SpansDropTheHistoryThinkingAndKeepTheLastTurns) {
  ChatTemplate chat = ChatTemplate::from_tokenizer_config(config_path("qwen3"));
  std::vector<ChatMessage> messages = {{"user", "Is 7 prime?"},
                                       {"assistant", "<think>\nno divisors\n</think>\n\nYes."},
                                       {"user", "Is 9 prime?"},
                                       {"assistant", "<think>\n3*3\n</think>\n\nNo."}};
  auto spans = chat.render_with_spans(messages);
  // The earlier turn loses its <think> block, the last keeps it.
  EXPECT_EQ(span_texts(spans), (Texts{"Yes.<|im_end|>", "<think>\n3*3\n</think>\n\nNo.<|im_end|>"}));
  // With thinking off the empty think block is part of the generation prompt, not of the turn.
  ChatOptions off;
  off.enable_thinking = false;
  auto quiet = chat.render_with_spans({{"user", "Hi"}, {"assistant", "Hello"}, {"user", "Bye"}, {"assistant", "Ciao"}}, off);
  EXPECT_EQ(span_texts(quiet), (Texts{"Hello<|im_end|>", "Ciao<|im_end|>"}));
  EXPECT_NE(quiet.text.find("<think>\n\n</think>\n\nCiao"), std::string::npos);
}

TEST(ChatTemplate, Gemma3RejectsNonAlternatingRolesNamingTheTemplate) {
  ChatTemplate chat = ChatTemplate::from_tokenizer_config(config_path("gemma3"));
  auto message = test::error_message([&] { chat.render({{"user", "a"}, {"user", "b"}}); });
  EXPECT_EQ(message.rfind("[chat template] " + config_path("gemma3") + ":", 0), 0u) << message;
  EXPECT_NE(message.find("Conversation roles must alternate user/assistant/user/assistant/..."), std::string::npos)
      << message;
}

TEST(ChatTemplate, BuiltinChatml) {
  auto chat = ChatTemplate::builtin("chatml").render_with_spans(kConversation, {.add_generation_prompt = true});
  EXPECT_EQ(chat.text,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n"
            "<|im_start|>assistant\n 4 <|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(span_texts(chat), (Texts{"Hello!<|im_end|>", " 4 <|im_end|>"}));
}

TEST(ChatTemplate, BuiltinGemma) {
  auto chat = ChatTemplate::builtin("gemma").render_with_spans(kConversation);
  EXPECT_EQ(chat.text,
            "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n"
            "<start_of_turn>user\n2+2?<end_of_turn>\n<start_of_turn>model\n4<end_of_turn>\n");
  EXPECT_EQ(span_texts(chat), (Texts{"Hello!<end_of_turn>", "4<end_of_turn>"}));
  // It renders the Gemma-3 fixtures as the model's own template does.
  auto gemma3 = ChatTemplate::from_tokenizer_config(config_path("gemma3"));
  for (const auto& render : fixture("gemma3")["renders"])
    EXPECT_EQ(ChatTemplate::builtin("gemma").render(messages_of(render), options_of(render)),
              gemma3.render(messages_of(render), options_of(render)));
  EXPECT_EQ(ChatTemplate::builtin("gemma").render({{"user", "x"}}, {.bos_token = "<B>"}),
            "<B><start_of_turn>user\nx<end_of_turn>\n");
}

TEST(ChatTemplate, BuiltinLlama3) {
  auto chat = ChatTemplate::builtin("llama3").render_with_spans(kConversation, {.add_generation_prompt = true});
  EXPECT_EQ(chat.text,
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\n2+2?<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n4<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(span_texts(chat), (Texts{"Hello!<|eot_id|>", "4<|eot_id|>"}));
  EXPECT_NE(test::error_message([] { ChatTemplate::builtin("vicuna"); }).find("unknown built-in format 'vicuna'"),
            std::string::npos);
}

// Expected texts are transformers' renders (jinja2 3.1) of the same conversation.
TEST(ChatTemplate, Llama31AndMistralTemplates) {
  std::vector<ChatMessage> conversation = {
      {"system", " Sys "}, {"user", "Hi"}, {"assistant", " Hello "}, {"user", "Weather?"}, {"assistant", "Sunny."}};
  auto llama = ChatTemplate::from_source(kLlama31, "llama31", "<|begin_of_text|>", "<|eot_id|>")
                   .render_with_spans(conversation);
  EXPECT_EQ(llama.text,
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December "
            "2023\nToday Date: 26 Jul 2024\n\nSys<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>user<|end_header_id|>"
            "\n\nWeather?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nSunny.<|eot_id|>");
  EXPECT_EQ(span_texts(llama), (Texts{"Hello<|eot_id|>", "Sunny.<|eot_id|>"}));

  // Mistral writes "[INST] ...[/INST]" with the user turn and " answer</s>" with the assistant's.
  auto mistral = ChatTemplate::from_source(kMistral, "mistral", "<s>", "</s>").render_with_spans(conversation);
  EXPECT_EQ(mistral.text, "<s>[INST] Hi[/INST] Hello</s>[INST] Weather?[/INST] Sunny.</s>");
  EXPECT_EQ(span_texts(mistral), (Texts{" Hello</s>", " Sunny.</s>"}));
  auto message = test::error_message([&] {
    ChatTemplate::from_source(kMistral, "mistral", "<s>", "</s>").render({{"user", "a"}, {"user", "b"}});
  });
  EXPECT_NE(message.find("[chat template] mistral:18: After the optional system message, conversation roles must alternate"),
            std::string::npos)
      << message;
}

TEST(ChatTemplate, GenerationBlocksDecideTheSpansWhenPresent) {
  auto chat = ChatTemplate::from_source(
      "{% for m in messages %}<{{ m.role }}>{% if m.role == 'assistant' %}{% generation %}{{ m.content }}</s>"
      "{% endgeneration %}{% else %}{{ m.content }}{% endif %}{{ '\\n' }}{% endfor %}");
  auto rendered = chat.render_with_spans({{"user", "a"}, {"assistant", "b"}, {"user", "c"}, {"assistant", "d"}});
  EXPECT_EQ(rendered.text, "<user>a\n<assistant>b</s>\n<user>c\n<assistant>d</s>\n");
  EXPECT_EQ(span_texts(rendered), (Texts{"b</s>", "d</s>"}));
}

TEST(ChatTemplate, ConfigFormsAndFiles) {
  test::TempDir dir;
  nlohmann::json config = {
      {"bos_token", {{"content", "<s>"}, {"lstrip", false}}},
      {"eos_token", "</s>"},
      {"chat_template",
       {{{"name", "tool_use"}, {"template", "tools"}},
        {{"name", "default"}, {"template", "{{ bos_token }}{% for m in messages %}{{ m.content }}{{ eos_token }}{% endfor %}"}}}}};
  auto chat = ChatTemplate::from_tokenizer_config(dir.write("tokenizer_config.json", config.dump()));
  EXPECT_EQ(chat.render({{"user", "a"}, {"assistant", "b"}}), "<s>a</s>b</s>");
  EXPECT_EQ(chat.render({{"user", "a"}}, {.bos_token = "[BOS]"}), "[BOS]a</s>");

  // No chat_template field: a chat_template.jinja beside the config, else a clear error.
  std::string bare = dir.write("bare.json", R"({"eos_token": "</s>"})");
  auto message = test::error_message([&] { ChatTemplate::from_tokenizer_config(bare); });
  EXPECT_NE(message.find("has no chat_template"), std::string::npos) << message;
  dir.write("chat_template.jinja", "[{{ messages[0].content }}]\n");
  EXPECT_EQ(ChatTemplate::from_tokenizer_config(bare).render({{"user", "x"}}), "[x]");

  std::string file = dir.write("template.jinja", "{% for m in messages %}\n  {{ m.role }}\n{% endfor %}\n");
  EXPECT_EQ(ChatTemplate::from_file(file).render({{"user", "x"}, {"assistant", "y"}}), "  user\n  assistant\n");
  message = test::error_message([&] { ChatTemplate::from_file(dir.write("bad.jinja", "a\n{% if x %}\nb")); });
  EXPECT_NE(message.find("bad.jinja:3: unexpected end of template, expected 'endif'"), std::string::npos) << message;
  message = test::error_message([&] { ChatTemplate::from_file((dir.path / "missing.jinja").string()); });
  EXPECT_NE(message.find("cannot open"), std::string::npos) << message;
  message = test::error_message([&] { ChatTemplate::from_tokenizer_config(dir.write("broken.json", "{")); });
  EXPECT_NE(message.find(": not valid JSON"), std::string::npos) << message;
}
