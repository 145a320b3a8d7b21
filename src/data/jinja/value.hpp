#pragma once
// The values a template computes with, modelled on the Python objects jinja2 hands around:
// undefined (jinja2's default Undefined: prints as "", is falsy, iterates as empty, fails on
// attribute access), None, bool, int (64-bit, overflow is an error), float, str (UTF-8),
// list, dict (insertion-ordered, string keys), namespace (the one mutable object) and
// callables (builtins and macros). Lists and dicts are shared and never mutated after they are
// built, as in transformers' ImmutableSandboxedEnvironment, so copying a Value is cheap and the
// identity of a message dict survives slicing and filtering (the chat layer relies on that).
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace vktrain::data::jinja {

// An error inside the template; the interpreter adds the line of the innermost node it was
// evaluating, the chat layer adds the template's name.
class TemplateError : public std::runtime_error {
 public:
  explicit TemplateError(const std::string& message, int line = 0)
      : std::runtime_error(message), line(line) {}
  int line;
};

// What one value may hold, counted as deep_bytes() counts it, and how deeply lists and dicts
// may nest. A chat template handles a conversation, so 64 MiB (the output cap too) is far
// above need; 256 levels are far above the handful that tool schemas reach, and keep every
// recursive walk of a value (printing, comparing, freeing) short.
constexpr size_t kMaxValueBytes = size_t(64) << 20;
constexpr int kMaxValueDepth = 256;

class Value;
using List = std::vector<Value>;
struct Dict;
struct Callable;
struct Sequence;
struct Undefined {
  std::string hint;  // what was missing, for the error when it is used: "'foo' is undefined"
};
struct None {};

class Value {
 public:
  enum class Kind { undefined, none, boolean, integer, floating, string, list, dict, callable };

  Value() = default;
  Value(None) : storage_(None{}) {}
  Value(bool b) : storage_(b) {}
  Value(int i) : storage_(int64_t(i)) {}
  Value(int64_t i) : storage_(i) {}
  Value(size_t i) : storage_(int64_t(i)) {}
  Value(double f) : storage_(f) {}
  Value(std::string s) : storage_(std::move(s)) {}
  Value(std::string_view s) : storage_(std::string(s)) {}
  Value(const char* s) : storage_(std::string(s)) {}
  Value(List list);
  static Value tuple(List items);  // a list that prints as (a, b) and never equals a list
  Value(std::shared_ptr<Dict> dict) : storage_(std::move(dict)) {}
  Value(std::shared_ptr<const Callable> callable) : storage_(std::move(callable)) {}
  static Value undefined(std::string hint) { Value v; v.storage_ = Undefined{std::move(hint)}; return v; }

  Kind kind() const { return Kind(storage_.index()); }
  bool is_undefined() const { return kind() == Kind::undefined; }
  bool is_none() const { return kind() == Kind::none; }
  bool is_bool() const { return kind() == Kind::boolean; }
  bool is_int() const { return kind() == Kind::integer; }  // not bool, unlike Python
  bool is_float() const { return kind() == Kind::floating; }
  bool is_number() const { return is_bool() || is_int() || is_float(); }  // numbers.Number
  bool is_string() const { return kind() == Kind::string; }
  bool is_list() const { return kind() == Kind::list; }  // lists and tuples
  bool is_tuple() const;
  bool is_dict() const { return kind() == Kind::dict; }
  bool is_namespace() const;
  bool is_callable() const { return kind() == Kind::callable; }

  bool as_bool() const { return std::get<bool>(storage_); }
  int64_t as_int() const;  // bool or int
  double as_float() const;  // any number
  const std::string& as_string() const { return std::get<std::string>(storage_); }
  const List& as_list() const;
  const Dict& as_dict() const { return *std::get<std::shared_ptr<Dict>>(storage_); }
  Dict& as_mutable_namespace() const;  // throws unless a namespace
  const Callable& as_callable() const { return *std::get<std::shared_ptr<const Callable>>(storage_); }
  const void* identity() const;  // the shared object of a list, dict or callable, else nullptr
  const std::string& undefined_hint() const { return std::get<Undefined>(storage_).hint; }

  bool truthy() const;
  std::string str() const;   // Python str(): what {{ value }} prints
  std::string repr() const;  // Python repr(): how values print inside lists and dicts
  std::string type_name() const;  // Python's name for the type, for error messages

  // Bytes a walk of the value touches: a string's bytes, sizeof(Value) per item plus the
  // items', keys included; shared parts count each time they appear. Saturates.
  size_t deep_bytes() const;
  size_t shallow_bytes() const;  // the string, or the list or dict without its items' contents
  int depth() const;             // 0 for scalars, 1 + the deepest item for lists and dicts
  bool holds_namespace() const;  // is one or contains one

 private:
  std::variant<Undefined, None, bool, int64_t, double, std::string, std::shared_ptr<const Sequence>,
               std::shared_ptr<Dict>, std::shared_ptr<const Callable>>
      storage_;
};

// What deep_bytes(), depth() and holds_namespace() report for a list or dict, summed when it
// is built so that the interpreter can bound values without walking them.
struct Measure {
  size_t bytes = 0;
  int depth = 1;
  bool holds_namespace = false;
  void add(const Value& item);
};

struct Sequence {
  List items;
  bool is_tuple = false;
  Measure measure;
};

struct Dict {
  std::vector<std::pair<std::string, Value>> items;  // insertion order, as Python's dict
  bool is_namespace = false;
  Measure measure;  // kept current by set()

  const Value* find(std::string_view key) const;
  void set(const std::string& key, Value value);
};

// Positional and keyword arguments of a call, filter or test (the input value not included).
struct Args {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> named;

  // The argument at `index` or named `name`; nullptr when absent.
  const Value* get(size_t index, std::string_view name) const;
  void expect_at_most(size_t count, const char* what) const;
};

struct Callable {
  std::string name;
  std::function<Value(const Args&)> call;
};

// Builders of strings call this as they grow: "<what> grows past kMaxValueBytes bytes".
void check_size(const std::string& text, const char* what);

Value make_dict(std::vector<std::pair<std::string, Value>> items, bool is_namespace = false);

bool equals(const Value& a, const Value& b);       // Python ==
int compare(const Value& a, const Value& b);       // Python <, as -1/0/1; throws when unordered
bool contains(const Value& container, const Value& item);  // Python `in`

// Jinja2's lookups: `x.name` and `x[key]` (a dict key, a list or string index, negative from the
// end); what is missing is undefined, and any lookup on undefined is an error.
Value get_attribute(const Value& object, const std::string& name);
Value get_item(const Value& object, const Value& key);
Value get_slice(const Value& object, const Value& start, const Value& stop, const Value& step);

// Iteration as Python's iter(): lists, dict keys, string code points; undefined is empty.
List iterate(const Value& value);

struct JsonStyle {
  std::optional<int> indent;
  std::optional<std::pair<std::string, std::string>> separators;  // item, key
  bool ensure_ascii = false;
  bool sort_keys = false;
};
std::string to_json(const Value& value, const JsonStyle& style);  // json.dumps

}  // namespace vktrain::data::jinja
