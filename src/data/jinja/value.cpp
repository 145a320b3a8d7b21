#include "data/jinja/value.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "data/jinja/text.hpp"

namespace vktrain::data::jinja {

namespace {

size_t saturating_add(size_t a, size_t b) { return a + b < a ? SIZE_MAX : a + b; }

std::shared_ptr<const Sequence> make_sequence(List items, bool is_tuple) {
  Measure measure;
  for (const Value& item : items) measure.add(item);
  return std::make_shared<const Sequence>(Sequence{std::move(items), is_tuple, measure});
}

}  // namespace

void Measure::add(const Value& item) {
  bytes = saturating_add(bytes, saturating_add(sizeof(Value), item.deep_bytes()));
  depth = std::max(depth, item.depth() + 1);
  holds_namespace = holds_namespace || item.holds_namespace();
}

Value::Value(List list) : storage_(make_sequence(std::move(list), false)) {}

Value Value::tuple(List items) {
  Value v;
  v.storage_ = make_sequence(std::move(items), true);
  return v;
}

size_t Value::deep_bytes() const {
  switch (kind()) {
    case Kind::string: return as_string().size();
    case Kind::list: return std::get<std::shared_ptr<const Sequence>>(storage_)->measure.bytes;
    case Kind::dict: return as_dict().measure.bytes;
    default: return 0;
  }
}

size_t Value::shallow_bytes() const {
  switch (kind()) {
    case Kind::string: return as_string().size();
    case Kind::list: return as_list().size() * sizeof(Value);
    case Kind::dict: return as_dict().items.size() * (sizeof(Value) + sizeof(std::string));
    default: return 0;
  }
}

int Value::depth() const {
  switch (kind()) {
    case Kind::list: return std::get<std::shared_ptr<const Sequence>>(storage_)->measure.depth;
    case Kind::dict: return as_dict().measure.depth;
    default: return 0;
  }
}

bool Value::holds_namespace() const {
  return is_namespace() || (is_list() && std::get<std::shared_ptr<const Sequence>>(storage_)->measure.holds_namespace) ||
         (is_dict() && as_dict().measure.holds_namespace);
}

bool Value::is_tuple() const { return is_list() && std::get<std::shared_ptr<const Sequence>>(storage_)->is_tuple; }

const List& Value::as_list() const { return std::get<std::shared_ptr<const Sequence>>(storage_)->items; }

void check_size(const std::string& text, const char* what) {
  if (text.size() > kMaxValueBytes) throw TemplateError(fmt::format("{} grows past {} bytes", what, kMaxValueBytes));
}

bool Value::is_namespace() const { return is_dict() && as_dict().is_namespace; }

int64_t Value::as_int() const { return is_bool() ? int64_t(as_bool()) : std::get<int64_t>(storage_); }

double Value::as_float() const { return is_float() ? std::get<double>(storage_) : double(as_int()); }

Dict& Value::as_mutable_namespace() const {
  if (!is_namespace())
    throw TemplateError(fmt::format("cannot assign an attribute on a {} (only on a namespace)", type_name()));
  return *std::get<std::shared_ptr<Dict>>(storage_);
}

const void* Value::identity() const {
  switch (kind()) {
    case Kind::list: return &as_list();
    case Kind::dict: return &as_dict();
    case Kind::callable: return &as_callable();
    default: return nullptr;
  }
}

bool Value::truthy() const {
  switch (kind()) {
    case Kind::undefined:
    case Kind::none: return false;
    case Kind::boolean: return as_bool();
    case Kind::integer: return as_int() != 0;
    case Kind::floating: return as_float() != 0;
    case Kind::string: return !as_string().empty();
    case Kind::list: return !as_list().empty();
    case Kind::dict: return is_namespace() || !as_dict().items.empty();
    case Kind::callable: return true;
  }
  return false;
}

std::string Value::str() const {
  switch (kind()) {
    case Kind::undefined: return "";
    case Kind::string: return as_string();
    default: return repr();
  }
}

std::string Value::repr() const {
  switch (kind()) {
    case Kind::undefined: return "Undefined";
    case Kind::none: return "None";
    case Kind::boolean: return as_bool() ? "True" : "False";
    case Kind::integer: return std::to_string(as_int());
    case Kind::floating: return python_float_repr(as_float());
    case Kind::string: return python_string_repr(as_string());
    case Kind::list: {
      std::string out = is_tuple() ? "(" : "[";
      for (const auto& item : as_list()) {
        out += (out.size() > 1 ? ", " : "") + item.repr();
        check_size(out, "a value");
      }
      if (is_tuple()) return out + (as_list().size() == 1 ? ",)" : ")");
      return out + "]";
    }
    case Kind::dict: {
      std::string out = is_namespace() ? "<Namespace {" : "{";
      bool first = true;
      for (const auto& [key, item] : as_dict().items) {
        out += (first ? "" : ", ") + python_string_repr(key) + ": " + item.repr();
        check_size(out, "a value");
        first = false;
      }
      return out + (is_namespace() ? "}>" : "}");
    }
    case Kind::callable: return "<function " + as_callable().name + ">";
  }
  return "";
}

std::string Value::type_name() const {
  static const char* names[] = {"Undefined", "NoneType", "bool", "int", "float",
                                "str",       "list",     "dict", "function"};
  return is_namespace() ? "Namespace" : is_tuple() ? "tuple" : names[int(kind())];
}

const Value* Dict::find(std::string_view key) const {
  for (const auto& [k, v] : items)
    if (k == key) return &v;
  return nullptr;
}

void Dict::set(const std::string& key, Value value) {
  auto it = std::find_if(items.begin(), items.end(), [&](const auto& item) { return item.first == key; });
  if (it == items.end()) {
    measure.add(value);
    measure.bytes = saturating_add(measure.bytes, sizeof(std::string) + key.size());
    items.emplace_back(key, std::move(value));
    return;
  }
  it->second = std::move(value);  // a namespace counter: measure afresh, the old value is gone
  measure = Measure{};
  for (const auto& [k, v] : items) {
    measure.add(v);
    measure.bytes = saturating_add(measure.bytes, sizeof(std::string) + k.size());
  }
}

const Value* Args::get(size_t index, std::string_view name) const {
  if (index < positional.size()) return &positional[index];
  for (const auto& [k, v] : named)
    if (k == name) return &v;
  return nullptr;
}

void Args::expect_at_most(size_t count, const char* what) const {
  if (positional.size() > count)
    throw TemplateError(fmt::format("{} takes at most {} arguments, {} given", what, count, positional.size()));
}

Value make_dict(std::vector<std::pair<std::string, Value>> items, bool is_namespace) {
  auto dict = std::make_shared<Dict>();
  dict->is_namespace = is_namespace;
  for (auto& [k, v] : items) dict->set(k, std::move(v));
  return Value(std::move(dict));
}

bool equals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_float() == b.as_float();
    return a.as_int() == b.as_int();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Value::Kind::undefined:
    case Value::Kind::none: return true;
    case Value::Kind::string: return a.as_string() == b.as_string();
    case Value::Kind::list: {
      const auto &x = a.as_list(), &y = b.as_list();
      if (x.size() != y.size() || a.is_tuple() != b.is_tuple()) return false;
      for (size_t i = 0; i < x.size(); ++i)
        if (!equals(x[i], y[i])) return false;
      return true;
    }
    case Value::Kind::dict: {
      if (a.is_namespace() || b.is_namespace()) return a.identity() == b.identity();
      const auto &x = a.as_dict(), &y = b.as_dict();
      if (x.items.size() != y.items.size()) return false;
      for (const auto& [k, v] : x.items) {
        const Value* other = y.find(k);
        if (!other || !equals(v, *other)) return false;
      }
      return true;
    }
    default: return a.identity() == b.identity();
  }
}

int compare(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) {
      double x = a.as_float(), y = b.as_float();
      return x < y ? -1 : x > y ? 1 : 0;
    }
    return a.as_int() < b.as_int() ? -1 : a.as_int() > b.as_int() ? 1 : 0;
  }
  if (a.is_string() && b.is_string()) {  // UTF-8 byte order is code point order
    int c = a.as_string().compare(b.as_string());
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if (a.is_list() && b.is_list()) {
    const auto &x = a.as_list(), &y = b.as_list();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i)
      if (!equals(x[i], y[i])) return compare(x[i], y[i]);
    return x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
  }
  throw TemplateError(fmt::format("values of type '{}' and '{}' cannot be ordered", a.type_name(), b.type_name()));
}

bool contains(const Value& container, const Value& item) {
  if (container.is_string()) {
    if (!item.is_string())
      throw TemplateError(fmt::format("'in <string>' requires a string, not {}", item.type_name()));
    return TextSearch(item.as_string()).find(container.as_string()) != std::string::npos;
  }
  if (container.is_dict()) return item.is_string() && container.as_dict().find(item.as_string());
  if (container.is_list()) {
    for (const auto& element : container.as_list())
      if (equals(element, item)) return true;
    return false;
  }
  if (container.is_undefined()) return false;
  throw TemplateError(fmt::format("argument of type '{}' is not iterable", container.type_name()));
}

List iterate(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::undefined: return {};
    case Value::Kind::list: return value.as_list();
    case Value::Kind::dict: {
      List keys;
      for (const auto& [k, v] : value.as_dict().items) keys.emplace_back(k);
      return keys;
    }
    case Value::Kind::string: {
      if (value.as_string().size() > kMaxValueBytes / sizeof(Value))
        throw TemplateError(fmt::format("iterating a string of {} bytes would build a list past {} bytes",
                                        value.as_string().size(), kMaxValueBytes));
      List chars;
      for (char32_t c : utf8_decode(value.as_string())) chars.emplace_back(utf8_encode(std::u32string(1, c)));
      return chars;
    }
    default: throw TemplateError(fmt::format("'{}' object is not iterable", value.type_name()));
  }
}

namespace {

// Python's slice.indices: clamps a slice to a sequence of `length`.
std::vector<size_t> slice_indices(int64_t length, const Value& start, const Value& stop, const Value& step) {
  auto number = [](const Value& v, const char* what) -> std::optional<int64_t> {
    if (v.is_none() || v.is_undefined()) return std::nullopt;
    if (!v.is_int() && !v.is_bool()) throw TemplateError(fmt::format("slice {} must be an integer or none", what));
    return v.as_int();
  };
  int64_t s = number(step, "step").value_or(1);
  if (s == 0) throw TemplateError("slice step cannot be zero");
  auto clamp = [&](std::optional<int64_t> v, int64_t fallback) {
    if (!v) return fallback;
    int64_t x = *v < 0 ? *v + length : *v;
    return s > 0 ? std::clamp<int64_t>(x, 0, length) : std::clamp<int64_t>(x, -1, length - 1);
  };
  int64_t begin = clamp(number(start, "start"), s > 0 ? 0 : length - 1);
  int64_t end = clamp(number(stop, "stop"), s > 0 ? length : -1);
  std::vector<size_t> indices;
  for (int64_t i = begin; s > 0 ? i < end : i > end;) {
    indices.push_back(size_t(i));
    if (__builtin_add_overflow(i, s, &i)) break;  // a step of 2**63-1 leaves the sequence at once
  }
  return indices;
}

}  // namespace

Value get_attribute(const Value& object, const std::string& name) {
  if (object.is_undefined()) throw TemplateError(object.undefined_hint());
  if (object.is_dict()) {
    if (const Value* v = object.as_dict().find(name)) return *v;
  }
  return Value::undefined(fmt::format("'{} object' has no attribute '{}'", object.type_name(), name));
}

Value get_item(const Value& object, const Value& key) {
  if (object.is_undefined()) throw TemplateError(object.undefined_hint());
  if (object.is_dict() && key.is_string()) return get_attribute(object, key.as_string());
  if ((object.is_list() || object.is_string()) && (key.is_int() || key.is_bool())) {
    int64_t i = key.as_int();
    if (object.is_list()) {
      int64_t n = int64_t(object.as_list().size());
      if (i < 0) i += n;
      if (i >= 0 && i < n) return object.as_list()[size_t(i)];
    } else {
      std::u32string points = utf8_decode(object.as_string());
      int64_t n = int64_t(points.size());
      if (i < 0) i += n;
      if (i >= 0 && i < n) return utf8_encode(points.substr(size_t(i), 1));
    }
  }
  return Value::undefined(fmt::format("'{} object' has no item {}", object.type_name(), key.repr()));
}

Value get_slice(const Value& object, const Value& start, const Value& stop, const Value& step) {
  if (object.is_undefined()) throw TemplateError(object.undefined_hint());
  if (object.is_list()) {
    const List& list = object.as_list();
    List out;
    for (size_t i : slice_indices(int64_t(list.size()), start, stop, step)) out.push_back(list[i]);
    return object.is_tuple() ? Value::tuple(std::move(out)) : Value(std::move(out));
  }
  if (object.is_string()) {
    std::u32string points = utf8_decode(object.as_string()), out;
    for (size_t i : slice_indices(int64_t(points.size()), start, stop, step)) out += points[i];
    return utf8_encode(out);
  }
  throw TemplateError(fmt::format("'{}' object cannot be sliced", object.type_name()));
}

namespace {

void write_json(std::string& out, const Value& value, const JsonStyle& style, int depth) {
  if (depth > 200) throw TemplateError("tojson: the value is nested too deeply");
  check_size(out, "tojson");
  const std::string item_separator = style.separators ? style.separators->first : style.indent ? "," : ", ";
  const std::string key_separator = style.separators ? style.separators->second : ": ";
  auto newline = [&](int level) {
    if (!style.indent) return;
    out += '\n';
    out.append(size_t(std::max(0, *style.indent) * level), ' ');
  };
  switch (value.kind()) {
    case Value::Kind::none: out += "null"; return;
    case Value::Kind::boolean: out += value.as_bool() ? "true" : "false"; return;
    case Value::Kind::integer: out += std::to_string(value.as_int()); return;
    case Value::Kind::floating: {
      double f = value.as_float();
      out += std::isnan(f) ? "NaN" : std::isinf(f) ? (f < 0 ? "-Infinity" : "Infinity") : python_float_repr(f);
      return;
    }
    case Value::Kind::string: out += json_string(value.as_string(), style.ensure_ascii); return;
    case Value::Kind::list: {
      const List& list = value.as_list();
      if (list.empty()) {
        out += "[]";
        return;
      }
      out += "[";
      for (size_t i = 0; i < list.size(); ++i) {
        if (i) out += item_separator;
        newline(depth + 1);
        write_json(out, list[i], style, depth + 1);
      }
      newline(depth);
      out += "]";
      return;
    }
    case Value::Kind::dict: {
      if (value.is_namespace()) break;
      auto items = value.as_dict().items;
      if (items.empty()) {
        out += "{}";
        return;
      }
      if (style.sort_keys)
        std::stable_sort(items.begin(), items.end(), [](auto& a, auto& b) { return a.first < b.first; });
      out += "{";
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += item_separator;
        newline(depth + 1);
        out += json_string(items[i].first, style.ensure_ascii) + key_separator;
        write_json(out, items[i].second, style, depth + 1);
      }
      newline(depth);
      out += "}";
      return;
    }
    default: break;
  }
  throw TemplateError(fmt::format("Object of type {} is not JSON serializable", value.type_name()));
}

}  // namespace

std::string to_json(const Value& value, const JsonStyle& style) {
  std::string out;
  write_json(out, value, style, 0);
  return out;
}

}  // namespace vktrain::data::jinja
