#include "data/jinja/filters.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <unordered_set>

#include <fmt/format.h>

#include "data/jinja/text.hpp"

namespace vktrain::data::jinja {
namespace {

using FilterFunction = Value (*)(const Value&, const Args&);
using TestFunction = bool (*)(const Value&, const Args&);

std::string string_arg(const Args& args, size_t index, const char* name, const char* filter,
                       std::string fallback = {}) {
  const Value* v = args.get(index, name);
  if (!v || v->is_none()) return fallback;
  if (!v->is_string()) throw TemplateError(fmt::format("{}: argument '{}' must be a string", filter, name));
  return v->as_string();
}

bool bool_arg(const Args& args, size_t index, const char* name, bool fallback = false) {
  const Value* v = args.get(index, name);
  return v ? v->truthy() : fallback;
}

// make_attrgetter: "a.b.0" looks up a, then b, then item 0.
Value lookup_path(const Value& item, const std::string& path) {
  Value v = item;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    int64_t index = 0;
    auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), index);
    v = ec == std::errc() && end == part.data() + part.size() ? get_item(v, Value(index)) : get_attribute(v, part);
    if (dot == std::string::npos) return v;
    start = dot + 1;
  }
}

Value filter_length(const Value& v, const Args&) {
  switch (v.kind()) {
    case Value::Kind::undefined: return 0;
    case Value::Kind::string: return utf8_length(v.as_string());
    case Value::Kind::list: return v.as_list().size();
    case Value::Kind::dict: return v.as_dict().items.size();
    default: throw TemplateError(fmt::format("object of type '{}' has no len()", v.type_name()));
  }
}

Value filter_first(const Value& v, const Args&) {
  List items = iterate(v);
  return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
}

Value filter_last(const Value& v, const Args&) {
  List items = iterate(v);
  return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
}

// transformers' tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False).
Value filter_tojson(const Value& v, const Args& args) {
  JsonStyle style;
  style.ensure_ascii = bool_arg(args, 0, "ensure_ascii");
  if (const Value* indent = args.get(1, "indent"); indent && !indent->is_none()) {
    if (!indent->is_int()) throw TemplateError("tojson: indent must be an integer");
    style.indent = int(std::clamp<int64_t>(indent->as_int(), 0, 64));
  }
  if (const Value* separators = args.get(2, "separators"); separators && !separators->is_none()) {
    if (!separators->is_list() || separators->as_list().size() != 2 || !separators->as_list()[0].is_string() ||
        !separators->as_list()[1].is_string())
      throw TemplateError("tojson: separators must be two strings");
    style.separators = {separators->as_list()[0].as_string(), separators->as_list()[1].as_string()};
  }
  style.sort_keys = bool_arg(args, 3, "sort_keys");
  return to_json(v, style);
}

// int(f) for a finite float; Python's would be a big integer past 64 bits, ours says so.
int64_t truncate(double f) {
  double t = std::trunc(f);
  if (!(t >= -0x1p63 && t < 0x1p63)) throw TemplateError("integer overflow");
  return int64_t(t);
}

Value filter_int(const Value& v, const Args& args) {
  Value fallback = args.get(0, "default") ? *args.get(0, "default") : Value(0);
  if (v.is_int() || v.is_bool()) return v.as_int();
  if (v.is_float()) return std::isfinite(v.as_float()) ? Value(truncate(v.as_float())) : fallback;
  if (!v.is_string()) return fallback;
  std::string text = python_strip(v.as_string(), true, true);
  text.erase(std::remove(text.begin(), text.end(), '_'), text.end());
  int64_t i = 0;
  const char* begin = text.data() + (!text.empty() && text[0] == '+');
  auto [end, ec] = std::from_chars(begin, text.data() + text.size(), i);
  if (ec == std::errc() && end == text.data() + text.size() && !text.empty()) return i;
  double f = 0;
  auto [fend, fec] = std::from_chars(begin, text.data() + text.size(), f);
  if (fec == std::errc() && fend == text.data() + text.size() && std::isfinite(f)) return truncate(f);
  return fallback;
}

Value filter_float(const Value& v, const Args& args) {
  Value fallback = args.get(0, "default") ? *args.get(0, "default") : Value(0.0);
  if (v.is_number()) return v.as_float();
  if (!v.is_string()) return fallback;
  std::string text = python_strip(v.as_string(), true, true);
  double f = 0;
  const char* begin = text.data() + (!text.empty() && text[0] == '+');
  auto [end, ec] = std::from_chars(begin, text.data() + text.size(), f);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty() ? Value(f) : fallback;
}

Value filter_join(const Value& v, const Args& args) {
  std::string separator = string_arg(args, 0, "d", "join");
  const Value* attribute = args.get(1, "attribute");
  std::string out;
  bool first = true;
  for (const Value& item : iterate(v)) {
    if (!first) out += separator;
    out += (attribute && !attribute->is_none() ? lookup_path(item, attribute->str()) : item).str();
    check_size(out, "join");
    first = false;
  }
  return out;
}

Value filter_replace(const Value& v, const Args& args) {
  return call_method(Value(v.str()), "replace", args);
}

Value filter_default(const Value& v, const Args& args) {
  bool boolean = bool_arg(args, 1, "boolean");
  if (v.is_undefined() || (boolean && !v.truthy())) {
    const Value* fallback = args.get(0, "default_value");
    return fallback ? *fallback : Value("");
  }
  return v;
}

Value filter_items(const Value& v, const Args&) {
  if (v.is_undefined()) return List{};
  if (!v.is_dict()) throw TemplateError(fmt::format("items: expected a mapping, got {}", v.type_name()));
  List out;
  for (const auto& [k, item] : v.as_dict().items) out.push_back(Value::tuple({Value(k), item}));
  return out;
}

Value filter_reverse(const Value& v, const Args&) {
  if (v.is_string()) {
    std::u32string points = utf8_decode(v.as_string());
    std::reverse(points.begin(), points.end());
    return utf8_encode(points);
  }
  List items = iterate(v);
  std::reverse(items.begin(), items.end());
  return items;
}

Value filter_sort(const Value& v, const Args& args) {
  bool reverse = bool_arg(args, 0, "reverse");
  bool case_sensitive = bool_arg(args, 1, "case_sensitive");
  const Value* attribute = args.get(2, "attribute");
  auto key = [&](const Value& item) {
    Value k = attribute && !attribute->is_none() ? lookup_path(item, attribute->str()) : item;
    return !case_sensitive && k.is_string() ? Value(python_lower(k.as_string())) : k;
  };
  List items = iterate(v);
  std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) {
    return reverse ? compare(key(b), key(a)) < 0 : compare(key(a), key(b)) < 0;
  });
  return items;
}

// The key Python's set would hash `v` by: equal values (1, 1.0, True) share one; lists and
// dicts are unhashable, as in Python. A set, not pairwise ==, keeps `unique` linear.
std::string hash_key(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::none: return "N";
    case Value::Kind::boolean:
    case Value::Kind::integer: return "i" + std::to_string(v.as_int());
    case Value::Kind::floating: {
      double f = v.as_float();
      if (f == std::trunc(f) && f >= -0x1p63 && f < 0x1p63) return "i" + std::to_string(int64_t(f));
      return "f" + python_float_repr(f);
    }
    case Value::Kind::string: return "s" + v.as_string();
    case Value::Kind::list:
      if (v.is_tuple()) {
        std::string key = "(";
        for (const Value& item : v.as_list()) key += hash_key(item) + '\0';
        return key;
      }
      break;
    default: break;
  }
  throw TemplateError(fmt::format("unique: unhashable type: '{}'", v.type_name()));
}

// jinja2's unique(case_sensitive=False, attribute=None).
Value filter_unique(const Value& v, const Args& args) {
  bool case_sensitive = bool_arg(args, 0, "case_sensitive");
  const Value* attribute = args.get(1, "attribute");
  List out;
  std::unordered_set<std::string> seen;
  for (const Value& item : iterate(v)) {
    Value key = attribute && !attribute->is_none() ? lookup_path(item, attribute->str()) : item;
    if (!case_sensitive && key.is_string()) key = python_lower(key.as_string());
    if (seen.insert(hash_key(key)).second) out.push_back(item);
  }
  return out;
}

// select / reject / selectattr / rejectattr: the test and its arguments follow the attribute.
Value select_items(const Value& v, const Args& args, bool by_attribute, bool keep) {
  size_t first_test_arg = by_attribute ? 1 : 0;
  std::string attribute = by_attribute ? string_arg(args, 0, "attribute", "selectattr") : "";
  Args test_args;
  std::string test;
  if (args.positional.size() > first_test_arg) {
    if (!args.positional[first_test_arg].is_string()) throw TemplateError("select: the test name must be a string");
    test = args.positional[first_test_arg].as_string();
    if (!is_known_test(test)) throw TemplateError(fmt::format("no test named '{}'", test));
    test_args.positional.assign(args.positional.begin() + long(first_test_arg) + 1, args.positional.end());
  }
  List out;
  for (const Value& item : iterate(v)) {
    Value subject = by_attribute ? lookup_path(item, attribute) : item;
    bool passed = test.empty() ? subject.truthy() : apply_test(test, subject, test_args);
    if (passed == keep) out.push_back(item);
  }
  return out;
}

Value filter_map(const Value& v, const Args& args) {
  List out;
  if (const Value* attribute = args.get(size_t(-1), "attribute")) {
    const Value* fallback = args.get(size_t(-1), "default");
    for (const Value& item : iterate(v)) {
      Value mapped = lookup_path(item, attribute->str());
      out.push_back(mapped.is_undefined() && fallback ? *fallback : mapped);
    }
    return out;
  }
  if (args.positional.empty() || !args.positional[0].is_string())
    throw TemplateError("map: give a filter name or attribute=");
  std::string filter = args.positional[0].as_string();
  if (!is_known_filter(filter)) throw TemplateError(fmt::format("no filter named '{}'", filter));
  // map('map', 'map', ...) over a string recurses once per argument, unbounded by the parser.
  if (filter == "map") throw TemplateError("map: mapping the map filter is not supported");
  Args rest{{args.positional.begin() + 1, args.positional.end()}, args.named};
  for (const Value& item : iterate(v)) out.push_back(apply_filter(filter, item, rest));
  return out;
}

const std::map<std::string, FilterFunction>& filters() {
  static const std::map<std::string, FilterFunction> table = {
      {"abs", [](const Value& v, const Args&) -> Value {
         if (v.is_float()) return std::fabs(v.as_float());
         if (!v.is_number()) throw TemplateError(fmt::format("bad operand type for abs(): '{}'", v.type_name()));
         if (v.as_int() == INT64_MIN) throw TemplateError("integer overflow");
         return v.as_int() < 0 ? -v.as_int() : v.as_int();
       }},
      {"capitalize", [](const Value& v, const Args&) -> Value { return python_capitalize(v.str()); }},
      {"count", filter_length},
      {"d", filter_default},
      {"default", filter_default},
      {"first", filter_first},
      {"float", filter_float},
      {"int", filter_int},
      {"items", filter_items},
      {"join", filter_join},
      {"last", filter_last},
      {"length", filter_length},
      {"list", [](const Value& v, const Args&) -> Value { return iterate(v); }},
      {"lower", [](const Value& v, const Args&) -> Value { return python_lower(v.str()); }},
      {"map", filter_map},
      {"reject", [](const Value& v, const Args& a) { return select_items(v, a, false, false); }},
      {"rejectattr", [](const Value& v, const Args& a) { return select_items(v, a, true, false); }},
      {"replace", filter_replace},
      {"reverse", filter_reverse},
      {"safe", [](const Value& v, const Args&) { return v; }},
      {"select", [](const Value& v, const Args& a) { return select_items(v, a, false, true); }},
      {"selectattr", [](const Value& v, const Args& a) { return select_items(v, a, true, true); }},
      {"sort", filter_sort},
      {"string", [](const Value& v, const Args&) -> Value { return v.str(); }},
      {"title", [](const Value& v, const Args&) -> Value { return jinja_title(v.str()); }},
      {"tojson", filter_tojson},
      {"trim", [](const Value& v, const Args& a) -> Value {
         std::string chars = string_arg(a, 0, "chars", "trim");
         return python_strip(v.str(), true, true, a.get(0, "chars") && !a.get(0, "chars")->is_none() ? &chars : nullptr);
       }},
      {"unique", filter_unique},
      {"upper", [](const Value& v, const Args&) -> Value { return python_upper(v.str()); }},
  };
  return table;
}

bool test_compare(const Value& v, const Args& args, bool (*accept)(int)) {
  const Value* other = args.get(0, "other");
  if (!other) throw TemplateError("the comparison test needs a value to compare with");
  return accept(compare(v, *other));
}

bool test_divisible(const Value& v, const Args& args) {
  const Value* n = args.get(0, "num");
  if (!n || !n->is_int() || n->as_int() == 0 || !v.is_number())
    throw TemplateError("divisibleby needs a non-zero integer");
  if (n->as_int() == -1) return true;  // INT64_MIN % -1 traps
  return v.is_float() ? std::fmod(v.as_float(), double(n->as_int())) == 0 : v.as_int() % n->as_int() == 0;
}

int64_t integer_for_parity(const Value& v) {
  if (!v.is_int() && !v.is_bool()) throw TemplateError(fmt::format("even/odd needs an integer, got {}", v.type_name()));
  return v.as_int();
}

const std::map<std::string, TestFunction>& tests() {
  static const std::map<std::string, TestFunction> table = {
      {"boolean", [](const Value& v, const Args&) { return v.is_bool(); }},
      {"callable", [](const Value& v, const Args&) { return v.is_callable(); }},
      {"defined", [](const Value& v, const Args&) { return !v.is_undefined(); }},
      {"divisibleby", test_divisible},
      {"eq", [](const Value& v, const Args& a) { return test_compare(v, a, [](int c) { return c == 0; }); }},
      {"equalto", [](const Value& v, const Args& a) { return a.get(0, "other") && equals(v, *a.get(0, "other")); }},
      {"==", [](const Value& v, const Args& a) { return a.get(0, "other") && equals(v, *a.get(0, "other")); }},
      {"!=", [](const Value& v, const Args& a) { return !a.get(0, "other") || !equals(v, *a.get(0, "other")); }},
      {"ne", [](const Value& v, const Args& a) { return !a.get(0, "other") || !equals(v, *a.get(0, "other")); }},
      {"even", [](const Value& v, const Args&) { return integer_for_parity(v) % 2 == 0; }},
      {"odd", [](const Value& v, const Args&) { return integer_for_parity(v) % 2 != 0; }},
      {"false", [](const Value& v, const Args&) { return v.is_bool() && !v.as_bool(); }},
      {"true", [](const Value& v, const Args&) { return v.is_bool() && v.as_bool(); }},
      {"float", [](const Value& v, const Args&) { return v.is_float(); }},
      {"integer", [](const Value& v, const Args&) { return v.is_int(); }},
      {"ge", [](const Value& v, const Args& a) { return test_compare(v, a, [](int c) { return c >= 0; }); }},
      {">=", [](const Value& v, const Args& a) { return test_compare(v, a, [](int c) { return c >= 0; }); }},
      {"gt", [](const Value& v, const Args& a) { return test_compare(v, a, [](int c) { return c > 0; }); }},
      {">", [](const Value& v, const Args& a) { return test_compare(v, a, [](int c) { return c > 0; }); }},
      {"greaterthan", [](const Value& v, const Args& a) { return test_compare(v, a, [](int c) { return c > 0; }); }},
      {"le", [](const Value& v, const Args& a) { return test_compare(v, a, [](int c) { return c <= 0; }); }},
      {"<=", [](const Value& v, const Args& a) { return test_compare(v, a, [](int c) { return c <= 0; }); }},
      {"lt", [](const Value& v, const Args& a) { return test_compare(v, a, [](int c) { return c < 0; }); }},
      {"<", [](const Value& v, const Args& a) { return test_compare(v, a, [](int c) { return c < 0; }); }},
      {"lessthan", [](const Value& v, const Args& a) { return test_compare(v, a, [](int c) { return c < 0; }); }},
      {"in", [](const Value& v, const Args& a) {
         if (!a.get(0, "seq")) throw TemplateError("the 'in' test needs a container");
         return contains(*a.get(0, "seq"), v);
       }},
      {"iterable", [](const Value& v, const Args&) { return v.is_undefined() || v.is_string() || v.is_list() || (v.is_dict() && !v.is_namespace()); }},
      {"lower", [](const Value& v, const Args&) { return v.is_string() && python_lower(v.as_string()) == v.as_string(); }},
      {"mapping", [](const Value& v, const Args&) { return v.is_dict() && !v.is_namespace(); }},
      {"none", [](const Value& v, const Args&) { return v.is_none(); }},
      {"number", [](const Value& v, const Args&) { return v.is_number(); }},
      {"sameas", [](const Value& v, const Args& a) {
         const Value* other = a.get(0, "other");
         if (!other) return false;
         if (v.identity() || other->identity()) return v.identity() == other->identity();
         return v.kind() == other->kind() && (v.is_none() || (v.is_bool() && v.as_bool() == other->as_bool()));
       }},
      {"sequence", [](const Value& v, const Args&) { return v.is_undefined() || v.is_string() || v.is_list() || (v.is_dict() && !v.is_namespace()); }},
      {"string", [](const Value& v, const Args&) { return v.is_string(); }},
      {"undefined", [](const Value& v, const Args&) { return v.is_undefined(); }},
      {"upper", [](const Value& v, const Args&) { return v.is_string() && python_upper(v.as_string()) == v.as_string(); }},
  };
  return table;
}

}  // namespace

bool is_known_filter(const std::string& name) { return filters().count(name) > 0; }
bool is_known_test(const std::string& name) { return tests().count(name) > 0; }

Value apply_filter(const std::string& name, const Value& input, const Args& args) {
  auto it = filters().find(name);
  if (it == filters().end()) throw TemplateError(fmt::format("no filter named '{}'", name));
  return it->second(input, args);
}

bool apply_test(const std::string& name, const Value& input, const Args& args) {
  auto it = tests().find(name);
  if (it == tests().end()) throw TemplateError(fmt::format("no test named '{}'", name));
  return it->second(input, args);
}

}  // namespace vktrain::data::jinja
