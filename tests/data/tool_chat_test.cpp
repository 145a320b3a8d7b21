// Chat data beyond plain messages: ShareGPT conversations, tool calls and tool results, and
// tool definitions, rendered through the model's own template as transformers renders them.
#include <gtest/gtest.h>

#include <fstream>

#include "data/dataset.hpp"
#include "data/examples.hpp"
#include "data/segments.hpp"
#include "support/support.hpp"

using namespace vktrain;
using Json = nlohmann::ordered_json;

namespace tool_chat_test {
namespace {

const data::ModelText& qwen3() {
  static const data::ModelText text =
      data::load_model_text(io::ModelSource(std::string(VKTRAIN_TOKENIZERS) + "/qwen3"));
  return text;
}

// Rendered by jinja2 as transformers sets it up (tests/fixtures/make_tool_chat_fixture.py).
Json tool_fixture() {
  std::ifstream in(std::string(VKTRAIN_FIXTURES) + "/chat_templates/qwen3_tools.json");
  return Json::parse(in);
}

data::Example example(const std::string& line) { return data::parse_example(line, "t.jsonl", 1); }

data::RenderedChat render(const data::Example& e) {
  data::ChatOptions options;
  options.tools = e.tools;
  return qwen3().chat_template.render_with_spans(e.messages, options);
}

std::string error_of(const std::string& line) {
  return test::error_message([&] { example(line); });
}

}  // namespace

TEST(ToolChat, Qwen3RendersToolsAndToolCallsAsTransformers) {
  Json fixture = tool_fixture();
  Json line = {{"messages", fixture["messages"]}, {"tools", fixture["tools"]}};
  data::RenderedChat chat = render(example(line.dump()));
  EXPECT_EQ(chat.text, fixture["rendered"].get<std::string>());
}

TEST(ToolChat, AssistantToolCallsAreTrainedAndToolResultsAreNot) {
  Json fixture = tool_fixture();
  Json line = {{"messages", fixture["messages"]}, {"tools", fixture["tools"]}};
  data::RenderedChat chat = render(example(line.dump()));
  std::vector<std::string> spans;
  for (auto [begin, end] : chat.assistant_spans) spans.push_back(chat.text.substr(begin, end - begin));
  ASSERT_EQ(spans.size(), 3u);
  EXPECT_EQ(spans[0],
            "Checking both.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": "
            "\"Paris\", \"unit\": \"celsius\"}}\n</tool_call>\n<tool_call>\n{\"name\": "
            "\"get_weather\", \"arguments\": {\"city\": \"Berlin\"}}\n</tool_call><|im_end|>");
  EXPECT_EQ(spans[1],
            "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}\n"
            "</tool_call><|im_end|>");
  EXPECT_EQ(spans[2], "<think>\n\n</think>\n\nParis 18 °C, Berlin 15 °C, Rome 24 °C.<|im_end|>");
}

TEST(ToolChat, NullContentBesideToolCallsIsEmpty) {
  const std::string call =
      R"("tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {"x": 1}}}])";
  auto with_null = example(R"({"messages": [{"role": "user", "content": "go"}, {"role": "assistant", "content": null, )" + call + "}]}");
  auto without = example(R"({"messages": [{"role": "user", "content": "go"}, {"role": "assistant", )" + call + "}]}");
  auto empty = example(R"({"messages": [{"role": "user", "content": "go"}, {"role": "assistant", "content": "", )" + call + "}]}");
  EXPECT_EQ(render(with_null).text, render(empty).text);
  EXPECT_EQ(render(without).text, render(empty).text);
  EXPECT_NE(render(empty).text.find("<tool_call>\n{\"name\": \"f\", \"arguments\": {\"x\": 1}}"),
            std::string::npos);
}

TEST(ToolChat, ShareGptGivesTheTokensOfTheSameMessages) {
  test::TempDir dir;
  std::string sharegpt = dir.write(
      "sharegpt.jsonl",
      R"({"conversations": [{"from": "system", "value": "Be brief."}, {"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"}, {"from": "human", "value": "Colour?"}, {"from": "gpt", "value": "Blue."}]})"
      "\n");
  std::string messages = dir.write(
      "messages.jsonl",
      R"({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Colour?"}, {"role": "assistant", "content": "Blue."}]})"
      "\n");
  auto a = data::tokenize_dataset(sharegpt, qwen3(), {.seq_len = 128});
  auto b = data::tokenize_dataset(messages, qwen3(), {.seq_len = 128});
  ASSERT_EQ(a.sequences.size(), 1u);
  ASSERT_EQ(b.sequences.size(), 1u);
  EXPECT_EQ(a.sequences[0].tokens, b.sequences[0].tokens);
  EXPECT_EQ(a.sequences[0].trained, b.sequences[0].trained);
  EXPECT_EQ(a.chat, 1);
}

TEST(ToolChat, BadTurnsNameTheFileLineAndValue) {
  EXPECT_EQ(error_of(R"({"conversations": [{"from": "human", "value": "a"}, {"from": "bing", "value": "b"}]})"),
            "[data] t.jsonl:1: turn 2 has \"from\": \"bing\"; use human, gpt, system or tool");
  EXPECT_EQ(error_of(R"({"conversations": [{"from": "human"}]})"), "[data] t.jsonl:1: turn 1 lacks \"value\"");
  EXPECT_EQ(error_of(R"({"conversations": []})"), "[data] t.jsonl:1: \"conversations\" must be a non-empty list");
  EXPECT_EQ(error_of(R"({"messages": [{"role": "user", "content": "a", "tool_calls": [{"function": {"name": "f", "arguments": {}}}]}]})"),
            "[data] t.jsonl:1: message 1 has \"tool_calls\" but is no assistant message");
  EXPECT_EQ(error_of(R"({"messages": [{"role": "assistant", "content": "a", "tool_calls": [{"function": {"name": "f", "arguments": 3}}]}]})"),
            "[data] t.jsonl:1: message 1 tool call 1 function \"arguments\" must be an object or a JSON string");
  EXPECT_EQ(error_of(R"({"messages": [{"role": "assistant", "tool_calls": [{"name": "f"}]}]})"),
            "[data] t.jsonl:1: message 1 tool call 1 must be {\"type\": \"function\", \"function\": {\"name\", \"arguments\"}}");
  EXPECT_EQ(error_of(R"({"messages": [{"role": "tool"}]})"), "[data] t.jsonl:1: message 1 lacks \"content\"");
  EXPECT_EQ(error_of(R"({"messages": [{"role": "tool", "content": "x", "tool_call_id": 7}]})"),
            "[data] t.jsonl:1: message 1 \"tool_call_id\" is not a string");
  EXPECT_EQ(error_of(R"({"messages": [{"role": "user", "content": "x"}], "tools": {"a": 1}})"),
            "[data] t.jsonl:1: \"tools\" must be a list of tool definitions");
  // Hostile nesting is refused before any template sees it: past 256 levels by the JSON reader
  // (io::parse_ordered_json), past 32 inside a message or the tools by the dataset's own check.
  std::string deep = std::string(40, '[') + std::string(40, ']');
  EXPECT_EQ(error_of(R"({"messages": [{"role": "user", "content": "x"}], "tools": )" + deep + "}"),
            "[data] t.jsonl:1: \"tools\" is nested more than 32 levels deep");
  EXPECT_EQ(error_of(R"({"messages": [{"role": "user", "content": "x", "meta": )" + deep + "}]}"),
            "[data] t.jsonl:1: message 1 is nested more than 32 levels deep");
}

}  // namespace tool_chat_test
