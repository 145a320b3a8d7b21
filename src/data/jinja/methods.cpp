// The Python str and dict methods templates call; declared in filters.hpp.
#include <charconv>

#include <fmt/format.h>

#include "data/jinja/filters.hpp"
#include "data/jinja/text.hpp"

namespace vktrain::data::jinja {
namespace {

const std::string& string_argument(const Args& args, size_t index, const char* method) {
  if (index >= args.positional.size() || !args.positional[index].is_string())
    throw TemplateError(fmt::format("str.{}() needs a string argument", method));
  return args.positional[index].as_string();
}

int64_t int_argument(const Args& args, size_t index, const char* name, int64_t fallback) {
  const Value* v = args.get(index, name);
  if (!v || v->is_none()) return fallback;
  if (!v->is_int()) throw TemplateError(fmt::format("argument '{}' must be an integer", name));
  return v->as_int();
}

// startswith/endswith accept one string or a list (tuple) of them.
bool affix_matches(const std::string& text, const Value& affix, bool prefix) {
  if (affix.is_list()) {
    for (const Value& a : affix.as_list())
      if (affix_matches(text, a, prefix)) return true;
    return false;
  }
  if (!affix.is_string()) throw TemplateError("startswith/endswith need a string or a tuple of strings");
  const std::string& a = affix.as_string();
  return a.size() <= text.size() && text.compare(prefix ? 0 : text.size() - a.size(), a.size(), a) == 0;
}

// A split into one-byte pieces makes a list 40 times the string's size.
void check_parts(const List& parts) {
  if (parts.size() > kMaxValueBytes / sizeof(Value))
    throw TemplateError(fmt::format("str.split() makes a list past {} bytes", kMaxValueBytes));
}

List split_whitespace(const std::string& text, int64_t max_split) {
  std::u32string points = utf8_decode(text);
  List out;
  size_t i = 0;
  while (true) {
    while (i < points.size() && python_isspace(points[i])) ++i;
    if (i >= points.size()) break;
    if (max_split >= 0 && int64_t(out.size()) == max_split) {
      size_t end = points.size();
      while (end > i && python_isspace(points[end - 1])) --end;
      out.emplace_back(utf8_encode(points.substr(i, end - i)));
      break;
    }
    size_t start = i;
    while (i < points.size() && !python_isspace(points[i])) ++i;
    out.emplace_back(utf8_encode(points.substr(start, i - start)));
    check_parts(out);
  }
  return out;
}

List split(const std::string& text, const Value* separator, int64_t max_split, bool from_right) {
  if (!separator || separator->is_none()) {
    if (from_right && max_split >= 0) throw TemplateError("str.rsplit() without a separator is not supported");
    return split_whitespace(text, max_split);
  }
  if (!separator->is_string()) throw TemplateError("str.split() separator must be a string");
  const std::string& sep = separator->as_string();
  if (sep.empty()) throw TemplateError("str.split(): empty separator");
  TextSearch search(sep);
  List parts;
  if (!from_right) {
    size_t start = 0;
    for (size_t hit; (max_split < 0 || int64_t(parts.size()) < max_split) && (hit = search.find(text, start)) != std::string::npos;
         start = hit + sep.size()) {
      parts.emplace_back(text.substr(start, hit - start));
      check_parts(parts);
    }
    parts.emplace_back(text.substr(start));
    return parts;
  }
  size_t end = text.size();
  while (max_split < 0 || int64_t(parts.size()) < max_split) {
    size_t hit = search.rfind(text, end);
    if (hit == std::string::npos) break;
    parts.emplace_back(text.substr(hit + sep.size(), end - hit - sep.size()));
    check_parts(parts);
    end = hit;
  }
  parts.emplace_back(text.substr(0, end));
  return List(parts.rbegin(), parts.rend());
}

std::string replace(const std::string& text, const std::string& old, const std::string& with, int64_t count) {
  std::string out;
  if (old.empty()) {  // Python inserts `with` around every code point
    std::u32string points = utf8_decode(text);
    int64_t done = 0;
    for (size_t i = 0; i <= points.size(); ++i) {
      if (count < 0 || done < count) {
        out += with;
        ++done;
      }
      if (i < points.size()) out += utf8_encode(points.substr(i, 1));
      check_size(out, "str.replace()");
    }
    return out;
  }
  TextSearch search(old);
  size_t start = 0;
  for (int64_t done = 0; count < 0 || done < count; ++done) {
    size_t hit = search.find(text, start);
    if (hit == std::string::npos) break;
    out.append(text, start, hit - start);
    out += with;
    check_size(out, "str.replace()");
    start = hit + old.size();
  }
  return out + text.substr(start);
}

// Python str.title(): a cased character after an uncased one starts a word.
std::string python_title(const std::string& text) {
  std::string out;
  bool previous_cased = false;
  for (char32_t c : utf8_decode(text)) {
    std::string one = utf8_encode(std::u32string(1, c));
    std::string lower = python_lower(one), upper = python_upper(one);
    bool cased = lower != upper;
    out += cased ? (previous_cased ? lower : upper) : one;
    previous_cased = cased;
  }
  return out;
}

// str.format with {} / {0} / {name} fields and {{ }} escapes; no format specs.
std::string format(const std::string& text, const Args& args) {
  std::string out;
  size_t automatic = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if ((c == '{' || c == '}') && i + 1 < text.size() && text[i + 1] == c) {
      out += c;
      ++i;
    } else if (c == '{') {
      size_t close = text.find('}', i);
      if (close == std::string::npos) throw TemplateError("str.format(): single '{' in the format string");
      std::string field = text.substr(i + 1, close - i - 1);
      if (field.find_first_of(":!.[") != std::string::npos)
        throw TemplateError("str.format(): format specifications are not supported");
      const Value* v = nullptr;
      if (field.empty()) {
        v = args.get(automatic++, "");
      } else if (std::isdigit(static_cast<unsigned char>(field[0]))) {
        size_t index = 0;
        auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), index);
        v = ec == std::errc() && end == field.data() + field.size() ? args.get(index, "") : nullptr;
      } else {
        v = args.get(size_t(-1), field);
      }
      if (!v) throw TemplateError(fmt::format("str.format(): no argument for field '{{{}}}'", field));
      out += v->str();
      check_size(out, "str.format()");
      i = close;
    } else if (c == '}') {
      throw TemplateError("str.format(): single '}' in the format string");
    } else {
      out += c;
    }
  }
  return out;
}

Value string_method(const std::string& text, const std::string& name, const Args& args) {
  if (name == "startswith" || name == "endswith") {
    if (args.positional.empty()) throw TemplateError(fmt::format("str.{}() needs an argument", name));
    return affix_matches(text, args.positional[0], name == "startswith");
  }
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    const Value* chars = args.get(0, "chars");
    if (chars && !chars->is_none() && !chars->is_string()) throw TemplateError(fmt::format("str.{}() chars must be a string", name));
    return python_strip(text, name != "rstrip", name != "lstrip", chars && chars->is_string() ? &chars->as_string() : nullptr);
  }
  if (name == "split" || name == "rsplit")
    return split(text, args.get(0, "sep"), int_argument(args, 1, "maxsplit", -1), name == "rsplit");
  if (name == "replace")
    return replace(text, string_argument(args, 0, "replace"), string_argument(args, 1, "replace"),
                   int_argument(args, 2, "count", -1));
  if (name == "upper") return python_upper(text);
  if (name == "lower") return python_lower(text);
  if (name == "title") return python_title(text);
  if (name == "capitalize") return python_capitalize(text);
  if (name == "format") return format(text, args);
  if (name == "join") {
    if (args.positional.empty()) throw TemplateError("str.join() needs an iterable");
    std::string out;
    bool first = true;
    for (const Value& item : iterate(args.positional[0])) {
      if (!item.is_string()) throw TemplateError(fmt::format("str.join(): expected str, found {}", item.type_name()));
      out += (first ? "" : text) + item.as_string();
      check_size(out, "join");
      first = false;
    }
    return out;
  }
  if (name == "find" || name == "count") {
    const std::string& needle = string_argument(args, 0, name.c_str());
    TextSearch search(needle);
    if (name == "find") {
      size_t hit = search.find(text);
      return hit == std::string::npos ? int64_t(-1) : int64_t(utf8_length(text.substr(0, hit)));
    }
    if (needle.empty()) return int64_t(utf8_length(text) + 1);
    int64_t n = 0;
    for (size_t at = search.find(text); at != std::string::npos; at = search.find(text, at + needle.size())) ++n;
    return n;
  }
  if (name == "isdigit" || name == "isspace" || name == "isalpha") {
    std::u32string points = utf8_decode(text);
    if (points.empty()) return false;
    for (char32_t c : points) {
      bool ok = name == "isdigit" ? (c >= '0' && c <= '9')
                : name == "isspace" ? python_isspace(c)
                                    : python_lower(utf8_encode(std::u32string(1, c))) != python_upper(utf8_encode(std::u32string(1, c)));
      if (!ok) return false;
    }
    return true;
  }
  throw TemplateError(fmt::format("'str object' has no attribute '{}'", name));
}

Value dict_method(const Dict& dict, const std::string& name, const Args& args) {
  if (name == "get") {
    if (args.positional.empty() || !args.positional[0].is_string()) return args.positional.size() > 1 ? args.positional[1] : Value(None{});
    const Value* found = dict.find(args.positional[0].as_string());
    return found ? *found : args.positional.size() > 1 ? args.positional[1] : Value(None{});
  }
  List out;
  if (name == "items") {
    for (const auto& [k, v] : dict.items) out.push_back(Value::tuple({Value(k), v}));
  } else if (name == "keys") {
    for (const auto& [k, v] : dict.items) out.emplace_back(k);
  } else if (name == "values") {
    for (const auto& [k, v] : dict.items) out.push_back(v);
  } else {
    throw TemplateError(fmt::format("'dict object' has no attribute '{}'", name));
  }
  return out;
}

}  // namespace

Value call_method(const Value& object, const std::string& name, const Args& args) {
  if (object.is_undefined()) throw TemplateError(object.undefined_hint());
  if (object.is_string()) return string_method(object.as_string(), name, args);
  if (object.is_dict() && !object.is_namespace()) {
    if (const Value* member = object.as_dict().find(name); member && member->is_callable())
      return member->as_callable().call(args);
    return dict_method(object.as_dict(), name, args);
  }
  if (object.is_namespace()) {
    const Value* member = object.as_dict().find(name);
    if (member && member->is_callable()) return member->as_callable().call(args);
  }
  throw TemplateError(fmt::format("'{} object' has no callable attribute '{}'", object.type_name(), name));
}

}  // namespace vktrain::data::jinja
