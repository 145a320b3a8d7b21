// Hostile templates (issue 14): each must end in one TemplateError that says which limit it hit,
// quickly, instead of overflowing the stack, trapping on integer division, allocating gigabytes
// or running for minutes. Every case here crashed, hung or misbehaved before the limits existed.
#include <gtest/gtest.h>

#include <ctime>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "base/error.hpp"
#include "data/chat_template.hpp"
#include "data/jinja/interpreter.hpp"
#include "data/jinja/parser.hpp"

using namespace vktrain::data::jinja;

namespace jinja_limits_test {
namespace {

std::string repeated(std::string_view piece, size_t times) {
  std::string out;
  for (size_t i = 0; i < times; ++i) out += piece;
  return out;
}

// Runs `run`, a render of `source`; each case must take well under a second of CPU time (not wall
// time: the test machines are shared).
template <typename Run>
std::string timed(const std::string& source, Run run) {
  std::clock_t start = std::clock();
  std::string result = run();
  EXPECT_LT(double(std::clock() - start) / CLOCKS_PER_SEC, 1.0) << source.substr(0, 80);
  return result;
}

// The error a template raises when parsed and rendered with no variables, "line: message";
// "" when it renders.
std::string error_of(const std::string& source) {
  return timed(source, [&]() -> std::string {
    try {
      render(parse_template(source, "t"), {});
    } catch (const TemplateError& e) {
      return std::to_string(e.line) + ": " + e.what();
    }
    return "";
  });
}

std::string output_of(const std::string& source) {
  return timed(source, [&] { return render(parse_template(source, "t"), {}).text; });
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

// The variables ChatTemplate passes, for one fixture conversation.
std::vector<std::pair<std::string, Value>> chat_variables(const nlohmann::json& config, const nlohmann::json& render) {
  List messages;
  for (const auto& m : render["messages"])
    messages.push_back(make_dict({{"role", m["role"].get<std::string>()}, {"content", m["content"].get<std::string>()}}));
  std::vector<std::pair<std::string, Value>> variables = {
      {"messages", Value(std::move(messages))},
      {"add_generation_prompt", render["options"].value("add_generation_prompt", false)},
      {"tools", None{}},
      {"documents", None{}}};
  for (const char* token : {"bos_token", "eos_token"}) {
    const auto& t = config[token];
    if (t.is_string()) variables.emplace_back(token, t.get<std::string>());
    if (t.is_object()) variables.emplace_back(token, t["content"].get<std::string>());
  }
  if (render["options"].contains("enable_thinking"))
    variables.emplace_back("enable_thinking", render["options"]["enable_thinking"].get<bool>());
  return variables;
}

}  // namespace

TEST(JinjaLimits, LongOperatorChainsStopAtTheExpressionDepth) {
  // Before: each built a 20000+ deep left-leaning tree that overflowed the stack when evaluated.
  EXPECT_EQ(error_of("{{ 1" + repeated(" +1", 20000) + " }}"), "1: the expression nests deeper than 256 levels");
  EXPECT_EQ(error_of("{{ 'X'" + repeated("|lower", 30000) + " }}"), "1: the expression nests deeper than 256 levels");
  EXPECT_EQ(error_of("{% set a = {} %}\n{{ a" + repeated(".b", 300000) + " }}"),
            "2: the expression nests deeper than 256 levels");
  EXPECT_EQ(error_of("{{ x" + repeated(" if x", 20000) + " }}"), "1: the expression nests deeper than 256 levels");
  EXPECT_EQ(error_of("{{ 1" + repeated(" and 1", 20000) + " }}"), "1: the expression nests deeper than 256 levels");
  // 200 levels are more than any real template writes and still render.
  EXPECT_EQ(output_of("{{ 1" + repeated(" + 1", 200) + " }}"), "201");
}

TEST(JinjaLimits, MacroRecursionStopsAtTheEvaluationDepth) {
  // Before: 64 calls deep, each 250 concatenations deep, overflowed the stack.
  std::string nested = "f(n + 1)" + repeated(" ~ 'a'", 250);
  EXPECT_EQ(error_of("{% macro f(n) %}{{ " + nested + " }}{% endmacro %}{{ f(0) }}"),
            "1: the evaluation nests deeper than 1000 levels (runaway recursion?)");
}

TEST(JinjaLimits, IntegerOverflowIsAnError) {
  // Before: SIGFPE on INT64_MIN // -1 and % -1; (-1) ** 3 gave 1; abs(INT64_MIN) was undefined.
  EXPECT_EQ(error_of("{{ (-9223372036854775807 - 1) // -1 }}"), "1: integer overflow");
  EXPECT_EQ(output_of("{{ (-9223372036854775807 - 1) % -1 }}"), "0");
  EXPECT_EQ(output_of("{{ 9223372036854775807 % -2 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ -7 // 2 }}"), "-1 2 -2 -4");
  EXPECT_EQ(error_of("{{ -(-9223372036854775807 - 1) }}"), "1: integer overflow");
  EXPECT_EQ(error_of("{{ (-9223372036854775807 - 1) | abs }}"), "1: integer overflow");
  EXPECT_EQ(error_of("{{ 2 ** 63 }}"), "1: integer overflow");
  EXPECT_EQ(output_of("{{ (-1) ** 3 }} {{ (-2) ** 63 }} {{ 3 ** 0 }} {{ (-1) ** 1000000000000000000 }}"),
            "-1 -9223372036854775808 1 1");
  EXPECT_EQ(error_of("{{ 0 ** -1 }}"), "1: division by zero (0 to a negative power)");
  // Python's int() would make a big integer; ours are 64-bit and say so.
  EXPECT_EQ(error_of("{{ 1e300 | int }}"), "1: integer overflow");
  EXPECT_EQ(error_of("{{ '-1e300' | int }}"), "1: integer overflow");
}

TEST(JinjaLimits, ValuesCannotGrowWithoutBound) {
  // Before: 40 doublings of a list asked for 10 GB.
  EXPECT_EQ(error_of("{% set s = namespace(v=[1]) %}{% for i in range(40) %}{% set s.v = s.v + s.v %}{% endfor %}"),
            "1: a value grows past 67108864 bytes");
  EXPECT_EQ(error_of("{{ [1] * 10 ** 12 }}"), "1: a repetition grows past 67108864 bytes");
  EXPECT_EQ(error_of("{{ 'a' * 10 ** 12 }}"), "1: a repetition grows past 67108864 bytes");
  EXPECT_EQ(error_of("{% set s = 'x' * 40000000 %}{{ (s ~ s) | length }}"), "1: a value grows past 67108864 bytes");
  EXPECT_EQ(error_of("{% set s = 'x' * 1000000 %}{{ s.replace('x', s) | length }}"),
            "1: str.replace() grows past 67108864 bytes");
  EXPECT_EQ(error_of("{% set s = 'x' * 1000000 %}{{ ([s] * 50) | join(s) | length }}"),
            "1: join grows past 67108864 bytes");
}

TEST(JinjaLimits, ValuesCannotNestWithoutBound) {
  // Before: a list nested 100000 deep overflowed the stack when printed (and when freed).
  EXPECT_EQ(error_of("{% set s = namespace(v=[]) %}{% for i in range(100000) %}{% set s.v = [s.v] %}{% endfor %}{{ s.v }}"),
            "1: a value nests deeper than 256 levels");
  // A namespace inside itself would print forever.
  EXPECT_EQ(error_of("{% set ns = namespace() %}{% set ns.me = [ns] %}{{ ns }}"),
            "1: a namespace attribute cannot hold a namespace");
}

TEST(JinjaLimits, WorkPerRenderIsBounded) {
  // Before: 10^10 loop iterations ran into a 10^7 iteration budget only after ~25 s.
  EXPECT_EQ(error_of("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"),
            "1: the template ran more than 1000000 evaluation steps");
  // Linear work hidden in one step: 10^5 membership tests of a 10^5-item list.
  EXPECT_EQ(error_of("{% set r = range(100000) %}{% for i in r %}{% if -1 in r %}{% endif %}{% endfor %}"),
            "1: the template touched more than 1073741824 bytes of values");
  // Quadratic builtins made linear: unique by hashing, substring search by Boyer-Moore, strip
  // by a sorted set (each took minutes on these inputs).
  EXPECT_EQ(output_of("{% set r = range(100000) | list %}{{ r | unique | length }}"), "100000");
  EXPECT_EQ(output_of("{% set a = 'a' * 3000000 %}{% set b = 'a' * 1000000 ~ 'b' %}{{ b in a }} {{ a.count(b) }} "
                      "{{ a.find(b) }} {{ a.split(b) | length }} {{ a.rsplit(b, 1) | length }}"),
            "False 0 -1 1 1");
  EXPECT_EQ(output_of("{% set a = 'a' * 200000 %}{{ a.strip('x' * 200000 ~ 'a') | length }}"), "0");
  EXPECT_EQ(error_of("{{ range(1000000) }}"), "1: range() too big: more than 100000 items");
}

TEST(JinjaLimits, OutOfRangeLiteralsAreTemplateErrors) {
  EXPECT_EQ(error_of("{{ '\\U00110000' }}"), "1: \\U escape past U+10FFFF in a string");
  // Before: std::stod threw std::out_of_range, which surfaced as an internal error.
  EXPECT_EQ(error_of("\n{{ 1e999 }}"), "2: float literal 1e999 is out of range");
  EXPECT_EQ(output_of("{{ 1e-999 }}"), "0.0");
  EXPECT_EQ(error_of("{{ 99999999999999999999 }}"), "1: integer literal 99999999999999999999 is too large");
  EXPECT_EQ(error_of("{{ '{99999999999999999999}'.format(1) }}"),
            "1: str.format(): no argument for field '{99999999999999999999}'");
}

// The limits leave real templates ample room: every Qwen3 and Gemma-3 fixture conversation still
// renders exactly with each budget cut to a small fraction of its default.
TEST(JinjaLimits, RealTemplatesStayFarBelowTheLimits) {
  Limits tight;
  tight.max_steps = Limits{}.max_steps / 200;
  tight.max_touched_bytes = Limits{}.max_touched_bytes / 4096;
  tight.max_depth = Limits{}.max_depth / 20;
  tight.max_call_depth = 2;
  for (const char* model : {"qwen3", "gemma3"}) {
    auto config = read_json(std::string(VKTRAIN_TOKENIZERS) + "/" + model + "/tokenizer_config.json");
    Template tmpl = parse_template(config["chat_template"].get<std::string>(), model);
    for (const auto& r : read_json(std::string(VKTRAIN_FIXTURES) + "/chat_templates/" + model + ".json")["renders"]) {
      SCOPED_TRACE(std::string(model) + " " + r["name"].get<std::string>());
      EXPECT_EQ(render(tmpl, chat_variables(config, r), {}, tight).text, r["rendered"].get<std::string>());
    }
  }
}

TEST(JinjaLimits, ChatTemplateErrorsNameTheTemplate) {
  auto chat = vktrain::data::ChatTemplate::from_source("{{ (-9223372036854775807 - 1) // -1 }}", "model/tokenizer_config.json");
  try {
    chat.render({{"user", "hi"}});
    FAIL() << "rendered";
  } catch (const vktrain::Error& e) {
    EXPECT_STREQ(e.what(), "[chat template] model/tokenizer_config.json:1: integer overflow");
  }
  try {
    vktrain::data::ChatTemplate::from_source("{{ 1e999 }}", "chat_template.jinja");
    FAIL() << "parsed";
  } catch (const vktrain::Error& e) {
    EXPECT_STREQ(e.what(), "[chat template] chat_template.jinja:1: float literal 1e999 is out of range");
  }
}

}  // namespace jinja_limits_test
