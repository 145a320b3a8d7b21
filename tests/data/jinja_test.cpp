#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "data/jinja/interpreter.hpp"
#include "data/jinja/parser.hpp"
#include "data/jinja/text.hpp"

using namespace vktrain::data::jinja;

namespace jinja_test {
namespace {

Value from_json(const nlohmann::ordered_json& j) {
  if (j.is_null()) return None{};
  if (j.is_boolean()) return j.get<bool>();
  if (j.is_number_integer()) return j.get<int64_t>();
  if (j.is_number_float()) return j.get<double>();
  if (j.is_string()) return j.get<std::string>();
  if (j.is_array()) {
    List items;
    for (const auto& item : j) items.push_back(from_json(item));
    return items;
  }
  std::vector<std::pair<std::string, Value>> items;
  for (const auto& [key, value] : j.items()) items.emplace_back(key, from_json(value));
  return make_dict(std::move(items));
}

std::string run(std::string_view source, const std::string& variables = "{}", const Limits& limits = {}) {
  std::vector<std::pair<std::string, Value>> vars;
  auto json = nlohmann::ordered_json::parse(variables);
  for (const auto& [key, value] : json.items()) vars.emplace_back(key, from_json(value));
  return render(parse_template(source, "t"), vars, {}, limits).text;
}

// The TemplateError a template raises, as "line: message"; "" when it renders.
std::string error_of(std::string_view source, const std::string& variables = "{}", const Limits& limits = {}) {
  try {
    run(source, variables, limits);
  } catch (const TemplateError& e) {
    return std::to_string(e.line) + ": " + e.what();
  }
  return "";
}

struct Case {
  const char* name;
  const char* source;
  const char* variables;  // JSON
  const char* expected;
};

// Expected outputs are jinja2 3.1's, configured as transformers configures it
// (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, its tojson).
const Case kCases[] = {
    {"trim_blocks", R"J({% if true %}
yes
{% endif %}
end)J",
     R"J({})J",
     R"J(yes
end)J"},
    {"lstrip_blocks", R"J(a
    {% if true %}
    b
    {% endif %}
c)J",
     R"J({})J",
     R"J(a
    b
c)J"},
    {"dash_strip", R"J(a  
  {{- 'b' -}}  
  c)J",
     R"J({})J",
     R"J(abc)J"},
    {"plus_keeps", R"J(a
    {%+ if true %}x{% endif %}
)J",
     R"J({})J",
     R"J(a
    x)J"},
    {"comment", R"J(a
  {# note #}
b {#- x -#} c)J",
     R"J({})J",
     R"J(a
bc)J"},
    {"var_no_trim", R"J({{ 'a' }}
{{ 'b' }}
)J",
     R"J({})J",
     R"J(a
b)J"},
    {"trailing_newline", R"J(x
)J",
     R"J({})J",
     R"J(x)J"},
    {"lstrip_after_var", R"J({{ 'a' }}  {% if true %}b{% endif %})J",
     R"J({})J",
     R"J(a  b)J"},
    {"block_plus_end", R"J({% if true +%}
x{% endif %})J",
     R"J({})J",
     R"J(
x)J"},
    {"strings", R"J({{ 'a\nb' }}|{{ "it's" }}|{{ 'x' 'y' }}|{{ '\u00e9\x41\t' }}|{{ '\d' }})J",
     R"J({})J",
     R"J(a
b|it's|xy|éA	|\d)J"},
    {"numbers", R"J({{ 1 }} {{ 1.5 }} {{ 1_000 }} {{ 2e3 }} {{ 10 / 4 }} {{ 10 // 4 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 7 % -3 }} {{ 1e20 }} {{ 0.1 + 0.2 }})J",
     R"J({})J",
     R"J(1 1.5 1000 2000.0 2.5 2 -4 2 1024 -2 1e+20 0.30000000000000004)J"},
    {"constants", R"J({{ true }} {{ True }} {{ false }} {{ none }} {{ None }})J",
     R"J({})J",
     R"J(True True False None None)J"},
    {"list_dict_print", R"J({{ [1, 'a', none, true, 1.0] }} {{ {'k': 'v', 'n': [1]} }} {{ (1, 2) | list }})J",
     R"J({})J",
     R"J([1, 'a', None, True, 1.0] {'k': 'v', 'n': [1]} [1, 2])J"},
    {"concat", R"J({{ 1 ~ 'a' ~ none ~ undefined_thing }} {{ 'a' + 'b' }} {{ [1] + [2] }} {{ 'ab' * 3 }})J",
     R"J({})J",
     R"J(1aNone ab [1, 2] ababab)J"},
    {"compare", R"J({{ 1 == 1.0 }} {{ 1 != 2 }} {{ 'a' < 'b' }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ true == 1 }} {{ [1,2] == [1,2] }})J",
     R"J({})J",
     R"J(True True True True False True True)J"},
    {"logic", R"J({{ 0 or 'x' }} {{ 1 and 'y' }} {{ not 0 }} {{ none or [] }} {{ 'a' and '' }})J",
     R"J({})J",
     R"J(x y True [] )J"},
    {"in", R"J({{ 'b' in 'abc' }} {{ 2 in [1,2] }} {{ 'k' in {'k': 1} }} {{ 3 not in [1] }} {{ 'z' not in 'abc' }})J",
     R"J({})J",
     R"J(True True True True True)J"},
    {"ternary", R"J({{ 'yes' if x > 2 else 'no' }} {{ 'y' if false }}|)J",
     R"J({"x": 3})J",
     R"J(yes |)J"},
    {"tests", R"J({{ x is defined }} {{ y is defined }} {{ y is undefined }} {{ none is none }} {{ 'a' is string }} {{ 1 is number }} {{ 1.5 is number }} {{ [] is iterable }} {{ {} is mapping }} {{ true is true }} {{ 1 is true }} {{ false is false }} {{ 4 is even }} {{ 3 is odd }} {{ x is not none }} {{ 'a' is iterable }} {{ 3 is divisibleby 3 }} {{ 'a' is equalto 'a' }})J",
     R"J({"x": 1})J",
     R"J(True False True True True True True True True True False True True True True True True True)J"},
    {"access", R"J({{ d.a }} {{ d['b'] }} {{ l[0] }} {{ l[-1] }} {{ l[5] }}|{{ d.missing }}|{{ s[1] }} {{ d.a.0 }})J",
     R"J({"d": {"a": "xy", "b": 2}, "l": [1, 2, 3], "s": "héllo"})J",
     R"J(xy 2 1 3 ||é x)J"},
    {"slices", R"J({{ l[1:] }} {{ l[:-1] }} {{ l[::-1] }} {{ l[::2] }} {{ s[1:3] }} {{ s[::-1] }} {{ l[-2:] }} {{ l[5:] }} {{ l[3:0:-1] }})J",
     R"J({"l": [1, 2, 3, 4], "s": "héllo"})J",
     R"J([2, 3, 4] [1, 2, 3] [4, 3, 2, 1] [1, 3] él olléh [3, 4] [] [4, 3, 2])J"},
    {"loop_vars", R"J({% for x in l %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }}{{ loop.revindex0 }}:{{ x }};{% endfor %})J",
     R"J({"l": ["a", "b"]})J",
     R"J(10TrueFalse221:a;21FalseTrue210:b;)J"},
    {"loop_else", R"J({% for x in [] %}{{ x }}{% else %}empty{% endfor %})J",
     R"J({})J",
     R"J(empty)J"},
    {"loop_dict", R"J({% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for k in d %}{{ k }}{% endfor %})J",
     R"J({"d": {"b": 1, "a": 2}})J",
     R"J(b=1;a=2;ba)J"},
    {"loop_string", R"J({% for c in 'hé' %}[{{ c }}]{% endfor %})J",
     R"J({})J",
     R"J([h][é])J"},
    {"loop_filter", R"J({% for x in range(10) if x is odd %}{{ x }}{{ loop.length }} {% endfor %})J",
     R"J({})J",
     R"J(15 35 55 75 95 )J"},
    {"loop_break", R"J({% for x in range(10) %}{% if x == 5 %}{% break %}{% endif %}{% if x is even %}{% continue %}{% endif %}{{ x }}{% endfor %})J",
     R"J({})J",
     R"J(13)J"},
    {"loop_nested", R"J({% for a in [1,2] %}{% for b in 'xy' %}{{ loop.index }}{{ a }}{{ b }} {% endfor %}{{ loop.index }}|{% endfor %})J",
     R"J({})J",
     R"J(11x 21y 1|12x 22y 2|)J"},
    {"loop_scope", R"J({% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{{ x }}{% endfor %}{{ x }})J",
     R"J({})J",
     R"J(21)J"},
    {"loop_unpack", R"J({% for a, b in [[1, 2], [3, 4]] %}{{ a + b }}{% endfor %})J",
     R"J({})J",
     R"J(37)J"},
    {"range", R"J({{ range(3) | list }} {{ range(1, 7, 2) | list }} {{ range(5, 0, -2) | list }})J",
     R"J({})J",
     R"J([0, 1, 2] [1, 3, 5] [5, 3, 1])J"},
    {"set", R"J({% set a = 'x' %}{% set b, c = 1, 2 %}{{ a }}{{ b }}{{ c }}{% set t %}in{{ a }}{% endset %}[{{ t }}])J",
     R"J({})J",
     R"J(x12[inx])J"},
    {"namespace", R"J({% set ns = namespace(n=0, s='') %}{% for i in range(4) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }})J",
     R"J({})J",
     R"J(6)J"},
    {"macro", R"J({% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }} {{ greet('B', '?') }} {{ greet(name='C', punct='.') }})J",
     R"J({})J",
     R"J(Hi A! Hi B? Hi C.)J"},
    {"macro_recursive", R"J({% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(3) }})J",
     R"J({})J",
     R"J(321)J"},
    {"filters_text", R"J({{ '  a b  ' | trim }}|{{ 'xxaxx' | trim('x') }}|{{ 'aBc' | lower }}|{{ 'aBc' | upper }}|{{ 'hello wORLD' | capitalize }}|{{ 'hello wORLD-x (y' | title }}|{{ 'a-b' | replace('-', '+') }}|{{ 'aaa' | replace('a', 'b', 2) }})J",
     R"J({})J",
     R"J(a b|a|abc|ABC|Hello world|Hello World-X (Y|a+b|bba)J"},
    {"filters_seq", R"J({{ l | length }} {{ 'héllo' | length }} {{ d | length }} {{ l | count }} {{ l | first }} {{ l | last }} {{ l | join(', ') }} {{ l | reverse | list }} {{ 'abc' | reverse }} {{ l | sort | list }})J",
     R"J({"l": [3, 1, 2], "d": {"a": 1}})J",
     R"J(3 5 1 3 3 2 3, 1, 2 [2, 1, 3] cba [1, 2, 3])J"},
    {"filters_conv", R"J({{ '42' | int }} {{ 'x' | int }} {{ 'x' | int(7) }} {{ 3.9 | int }} {{ '2.5' | float }} {{ 5 | string }} {{ none | string }} {{ [1] | string }} {{ 'ab' | list }} {{ -3 | abs }})J",
     R"J({})J",
     R"J(42 0 7 3 2.5 5 None [1] ['a', 'b'] 3)J"},
    {"filters_default", R"J({{ x | default('d') }} {{ y | default('d') }} {{ '' | default('d') }} {{ '' | default('d', true) }} {{ z | d('dd') }})J",
     R"J({"y": "set"})J",
     R"J(d set  d dd)J"},
    {"filters_items", R"J({% for k, v in d | items %}{{ k }}{{ v }}{% endfor %} {{ d | items | list }})J",
     R"J({"d": {"a": 1, "b": [2]}})J",
     R"J(a1b[2] [('a', 1), ('b', [2])])J"},
    {"filters_select", R"J({{ ms | selectattr('role', 'equalto', 'user') | map(attribute='content') | join(',') }} {{ ms | rejectattr('role', 'equalto', 'user') | list | length }} {{ [1,2,3,4] | select('odd') | list }} {{ [1,2,3,4] | reject('even') | list }} {{ ms | map(attribute='role') | list }} {{ ['a','B'] | map('upper') | list }} {{ ms | selectattr('x') | list }})J",
     R"J({"ms": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b", "x": 1}, {"role": "user", "content": "c"}]})J",
     R"J(a,c 1 [1, 3] [1, 3] ['user', 'assistant', 'user'] ['A', 'B'] [{'role': 'assistant', 'content': 'b', 'x': 1}])J"},
    {"tojson", R"J({{ d | tojson }}|{{ 'é"\n' | tojson }}|{{ d | tojson(indent=2) }}|{{ [] | tojson }}|{{ d | tojson(sort_keys=true) }}|{{ 1.0 | tojson }}|{{ none | tojson }}|{{ [1, {'a': [] }] | tojson(indent=4) }})J",
     R"J({"d": {"z": [1, 2.5, true, null], "a": "é"}})J",
     R"J({"z": [1, 2.5, true, null], "a": "é"}|"é\"\n"|{
  "z": [
    1,
    2.5,
    true,
    null
  ],
  "a": "é"
}|[]|{"a": "é", "z": [1, 2.5, true, null]}|1.0|null|[
    1,
    {
        "a": []
    }
])J"},
    {"safe", R"J({{ '<b>' | safe }}{{ '<i>' }})J",
     R"J({})J",
     R"J(<b><i>)J"},
    {"str_methods", R"J({{ s.startswith('he') }} {{ s.endswith('lo') }} {{ s.startswith(('x', 'h')) }} {{ s.split('l') }} {{ ' a  b '.split() }} {{ 'a,b,c'.split(',', 1) }} {{ 'a,b,c'.rsplit(',', 1) }} {{ '\n x \n'.strip() }} {{ 'xxhixx'.strip('x') }} {{ '\n\nhi'.lstrip('\n') }} {{ 'hi  '.rstrip() }} {{ s.replace('l', 'L') }} {{ s.upper() }} {{ 'HeLLo'.lower() }} {{ "they're bill's".title() }} {{ 'hello'.capitalize() }} {{ '{} and {}'.format(1, 'b') }} {{ '{x}!'.format(x=3) }} {{ '-'.join(['a', 'b']) }} {{ s.find('l') }} {{ s.count('l') }})J",
     R"J({"s": "hello"})J",
     R"J(True True True ['he', '', 'o'] ['a', 'b'] ['a', 'b,c'] ['a,b', 'c'] x hi hi hi heLLo HELLO hello They'Re Bill'S Hello 1 and b 3! a-b 2 2)J"},
    {"dict_methods", R"J({{ d.get('a') }} {{ d.get('z') }} {{ d.get('z', 5) }} {{ d.keys() | list }} {{ d.values() | list }} {{ d.items() | list }})J",
     R"J({"d": {"a": 1, "b": 2}})J",
     R"J(1 None 5 ['a', 'b'] [1, 2] [('a', 1), ('b', 2)])J"},
    {"undefined", R"J([{{ nope }}]{% if nope %}t{% else %}f{% endif %}{% for x in nope %}x{% endfor %}{{ nope | length }}{{ nope is defined }}{{ d.nope is defined }})J",
     R"J({"d": {}})J",
     R"J([]f0FalseFalse)J"},
    {"if_elif", R"J({% for x in [1, 2, 3] %}{% if x == 1 %}one{% elif x == 2 %}two{% else %}many{% endif %} {% endfor %})J",
     R"J({})J",
     R"J(one two many )J"},
    {"dict_literal", R"J({{ {'a': {'b': 1}} }}{% set d = {'x': 1, 'y': [1, 2],} %}{{ d.y[1] }})J",
     R"J({})J",
     R"J({'a': {'b': 1}}2)J"},
    {"multiline_expr", R"J({{ 'a'
 + 'b' }}
c)J",
     R"J({})J",
     R"J(ab
c)J"},
    {"loop_prev_next", R"J({% for x in [1,2,3] %}{{ loop.previtem }}-{{ loop.nextitem }};{% endfor %})J",
     R"J({})J",
     R"J(-2;1-3;2-;)J"},
    {"string_compare_unicode", R"J({{ 'é' > 'z' }} {{ 'abc' < 'abd' }} {{ [1, 2] < [1, 3] }})J",
     R"J({})J",
     R"J(True True True)J"},
    {"int_float_ops", R"J({{ 3 / 2 }} {{ 4 / 2 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ 1 + 1.5 }} {{ 2 * 0.5 }} {{ 1e-5 }} {{ 123456789012345678.0 }} {{ 0.0001 }})J",
     R"J({})J",
     R"J(1.5 2.0 3.0 0.5 2.5 1.0 1e-05 1.2345678901234568e+17 0.0001)J"},
    {"unique", R"J({{ ['a', 'A', 'b', 'a'] | unique | list }} {{ ['a', 'A'] | unique(true) | list }} {{ [1, 1.0, true, 2, (1, 2), (1.0, 2)] | unique | list }})J",
     R"J({})J",
     R"J(['a', 'b'] ['a', 'A'] [1, 2, (1, 2)])J"},
    {"long_needles", R"J({% set sep = '<|separator-token|>' %}{{ ('a' ~ sep ~ 'b' ~ sep ~ sep ~ 'c').split(sep) }} {{ ('a' ~ sep ~ 'b' ~ sep ~ 'c').rsplit(sep, 1) }} {{ ('x' ~ sep ~ 'y').find(sep) }} {{ (sep ~ sep ~ sep).count(sep) }} {{ ('a' ~ sep ~ 'b').replace(sep, '-') }} {{ sep in ('..' ~ sep) }} {{ 'abababababababababX' in 'abababababababababababababababababX' }} {{ 'abababababababababX' in 'ababababababababababababababababab' }})J",
     R"J({})J",
     R"J(['a', 'b', '', 'c'] ['a<|separator-token|>b', 'c'] 1 3 a-b True True False)J"},
    {"precedence", R"J({{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ l | length - 1 }} {{ -2 ** 2 }} {{ 2 ** 3 ** 2 }} {{ not 1 == 2 }} {{ ('a' ~ 1) ~ 2 * 3 }} {{ 10 - 2 - 3 }})J",
     R"J({"l": [1, 2]})J",
     R"J(7 9 1 4 64 True a16 5)J"},
};

}  // namespace

TEST(Jinja, RendersAsJinja2) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(run(c.source, c.variables), c.expected);
  }
}

TEST(Jinja, RaiseExceptionStopsWithTheMessageAndLine) {
  EXPECT_EQ(error_of("a\n{% if x %}\n{{ raise_exception('roles must alternate') }}\n{% endif %}", R"({"x": 1})"),
            "3: roles must alternate");
}

TEST(Jinja, SyntaxErrorsNameTheLine) {
  EXPECT_EQ(error_of("a\nb\n{% if x %}\nc"), "4: unexpected end of template, expected 'endif'");
  EXPECT_EQ(error_of("{{ 1 +\n\n }}"), "3: unexpected '}}'");
  EXPECT_EQ(error_of("x\n{% endfor %}"), "2: unexpected 'endfor' without a matching block");
  EXPECT_EQ(error_of("{% frobnicate %}"), "1: unknown tag 'frobnicate'");
  EXPECT_EQ(error_of("{{ 'abc }}"), "1: unterminated string literal");
  EXPECT_EQ(error_of("\n{# open"), "2: missing end of comment tag '#}'");
  EXPECT_EQ(error_of("{% break %}"), "1: 'break' outside of a for loop");
  EXPECT_EQ(error_of("{{ x $ y }}"), "1: unexpected character '$'");
}

TEST(Jinja, UnknownFiltersAndTestsFailWhenParsed) {
  EXPECT_EQ(error_of("{% if false %}\n{{ x | shout }}{% endif %}"), "2: no filter named 'shout'");
  EXPECT_EQ(error_of("{{ x is purple }}"), "1: no test named 'purple'");
}

TEST(Jinja, RuntimeErrorsNameTheLine) {
  EXPECT_EQ(error_of("\n{{ missing.attribute }}"), "2: 'missing' is undefined");
  EXPECT_EQ(error_of("{{ d.a.b }}", R"({"d": {}})"), "1: 'dict object' has no attribute 'a'");
  EXPECT_EQ(error_of("{{ 'a' + 1 }}"), "1: unsupported operand type(s) for +: 'str' and 'int'");
  EXPECT_EQ(error_of("{{ 1 // 0 }}"), "1: division by zero");
  EXPECT_EQ(error_of("{{ 9223372036854775807 + 1 }}"), "1: integer overflow");
  EXPECT_EQ(error_of("{% set x = 1 %}{% set x.y = 2 %}"), "1: cannot assign an attribute on a int (only on a namespace)");
  EXPECT_EQ(error_of("{{ 'x'.explode() }}"), "1: 'str object' has no attribute 'explode'");
  EXPECT_EQ(error_of("{{ {'a': 1} < {'b': 2} }}"), "1: values of type 'dict' and 'dict' cannot be ordered");
}

TEST(Jinja, RunawayTemplatesAreBounded) {
  Limits limits;
  limits.max_steps = 1000;
  limits.max_output_bytes = 4096;
  limits.max_call_depth = 20;
  EXPECT_EQ(error_of("{% for i in range(100) %}{% for j in range(100) %}{% endfor %}{% endfor %}", "{}", limits),
            "1: the template ran more than 1000 evaluation steps");
  EXPECT_EQ(error_of("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}\n{{ f(0) }}", "{}", limits),
            "1: macro calls nest deeper than 20 (runaway recursion?)");
  EXPECT_EQ(error_of("{% macro f(n) %}{{ f(n) }}{{ f(n) }}{% endmacro %}{{ f(0) }}", "{}", limits).substr(0, 20),
            "1: macro calls nest ");
  EXPECT_EQ(error_of("{% for i in range(50) %}{{ 'x' * 100 }}{% endfor %}", "{}", limits),
            "1: the output grows past 4096 bytes");
  EXPECT_EQ(error_of("{{ 'x' * 5000 }}", "{}", limits), "1: a repetition grows past 4096 bytes");
  EXPECT_EQ(error_of("{{ range(1000000) | length }}"), "1: range() too big: more than 100000 items");
  std::string deep = std::string(500, '(') + "1" + std::string(500, ')');
  EXPECT_EQ(error_of("{{ " + deep + " }}").substr(0, 34), "1: the template nests deeper than ");
}

TEST(Jinja, PythonTextRules) {
  EXPECT_EQ(python_float_repr(1e16), "1e+16");
  EXPECT_EQ(python_float_repr(1e15), "1000000000000000.0");
  EXPECT_EQ(python_float_repr(0.0001), "0.0001");
  EXPECT_EQ(python_float_repr(1.5e-7), "1.5e-07");
  EXPECT_EQ(python_float_repr(-2.5), "-2.5");
  EXPECT_EQ(python_string_repr("it's"), "\"it's\"");
  EXPECT_EQ(python_string_repr("a\n\x01'\""), "'a\\n\\x01\\'\"'");
  EXPECT_EQ(json_string("é\u2028\x1f"), "\"é\u2028\\u001f\"");
  EXPECT_EQ(json_string("é😀", true), "\"\\u00e9\\ud83d\\ude00\"");
  EXPECT_EQ(python_strip("\u3000 x\u00a0\n", true, true), "x");
  EXPECT_EQ(python_upper("straße é"), "STRAßE É");  // per code point, unlike Python's "STRASSE"
}

}  // namespace jinja_test
