#include "data/jinja/interpreter.hpp"

#include <cmath>
#include <ctime>
#include <unordered_map>

#include <fmt/format.h>

#include "data/jinja/filters.hpp"

namespace vktrain::data::jinja {
namespace {

constexpr int64_t kMaxRange = 100000;  // jinja2.sandbox.MAX_RANGE
// A loop iteration builds a scope and the 11-entry loop object, a macro call a scope and a
// captured output: each costs about ten expression steps (~5 us), and is counted as such.
constexpr uint64_t kHeavySteps = 10;

struct Scope {
  std::unordered_map<std::string, Value> vars;
  Scope* parent = nullptr;

  const Value* find(const std::string& name) const {
    for (const Scope* s = this; s; s = s->parent)
      if (auto it = s->vars.find(name); it != s->vars.end()) return &it->second;
    return nullptr;
  }
};

enum class Flow { normal, break_, continue_ };

[[noreturn]] void unsupported(const char* op, const Value& a, const Value& b) {
  if (a.is_undefined()) throw TemplateError(a.undefined_hint());
  if (b.is_undefined()) throw TemplateError(b.undefined_hint());
  throw TemplateError(fmt::format("unsupported operand type(s) for {}: '{}' and '{}'", op, a.type_name(), b.type_name()));
}

// Python ints do not overflow; ours are 64-bit and say so instead of wrapping.
template <typename Operation>
int64_t checked(Operation operation, int64_t a, int64_t b) {
  int64_t result = 0;
  if (operation(a, b, &result)) throw TemplateError("integer overflow");
  return result;
}
bool add_overflows(int64_t a, int64_t b, int64_t* r) { return __builtin_add_overflow(a, b, r); }
bool sub_overflows(int64_t a, int64_t b, int64_t* r) { return __builtin_sub_overflow(a, b, r); }
bool mul_overflows(int64_t a, int64_t b, int64_t* r) { return __builtin_mul_overflow(a, b, r); }

// Python's // and % on ints (b != 0): they round toward minus infinity.
int64_t floor_div(int64_t a, int64_t b) {
  if (a == INT64_MIN && b == -1) throw TemplateError("integer overflow");  // the CPU traps on it
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
int64_t floor_mod(int64_t a, int64_t b) {
  if (b == -1) return 0;  // INT64_MIN % -1 traps too
  int64_t r = a % b;
  return r != 0 && ((r < 0) != (b < 0)) ? r + b : r;
}

// Squaring: (-1) ** 10**18 takes 60 multiplications. A square that overflows while exponent
// bits remain means the result overflows too, as each later factor is at least that square.
int64_t int_pow(int64_t base, int64_t exponent) {
  int64_t result = 1;
  while (exponent > 0) {
    if (exponent & 1) result = checked(mul_overflows, result, base);
    exponent >>= 1;
    if (exponent) base = checked(mul_overflows, base, base);
  }
  return result;
}

class Interpreter {
 public:
  Interpreter(const std::vector<const void*>& tracked, const Limits& limits) : limits_(limits) {
    for (size_t i = 0; i < tracked.size(); ++i) tracked_.emplace(tracked[i], i);
    install_globals();
  }

  RenderResult run(const Template& tmpl, const std::vector<std::pair<std::string, Value>>& variables) {
    for (const auto& [name, value] : variables) root_.vars[name] = value;
    exec(tmpl.body, root_);
    return std::move(result_);
  }

 private:
  // ---- output ----

  void write(const std::string& s) {
    touch(s.size());
    std::string& out = captures_.empty() ? result_.text : *captures_.back();
    if (out.size() + s.size() > limits_.max_output_bytes)
      throw TemplateError(fmt::format("the output grows past {} bytes", limits_.max_output_bytes));
    size_t begin = out.size();
    out += s;
    if (!captures_.empty() || current_item_ < 0 || s.empty()) return;
    auto& segments = result_.segments;
    if (!segments.empty() && segments.back().item == size_t(current_item_) && segments.back().end == begin)
      segments.back().end = out.size();
    else
      segments.push_back({size_t(current_item_), begin, out.size()});
  }

  std::string capture(const Body& body, Scope& scope) {
    std::string out;
    captures_.push_back(&out);
    try {
      exec(body, scope);
    } catch (...) {
      captures_.pop_back();
      throw;
    }
    captures_.pop_back();
    return out;
  }

  void step(uint64_t count = 1) {
    steps_ += count;
    if (steps_ > limits_.max_steps)
      throw TemplateError(fmt::format("the template ran more than {} evaluation steps", limits_.max_steps));
  }

  void touch(size_t bytes) {
    touched_ += bytes;
    if (touched_ > limits_.max_touched_bytes)
      throw TemplateError(fmt::format("the template touched more than {} bytes of values", limits_.max_touched_bytes));
  }

  // Counts one level of evaluation recursion (an expression or a statement) while it lives.
  class Nesting {
   public:
    explicit Nesting(Interpreter& interpreter) : depth_(interpreter.depth_) {
      if (depth_ >= interpreter.limits_.max_depth)
        throw TemplateError(fmt::format("the evaluation nests deeper than {} levels (runaway recursion?)",
                                        interpreter.limits_.max_depth));
      ++depth_;
    }
    ~Nesting() { --depth_; }
    Nesting(const Nesting&) = delete;
    Nesting& operator=(const Nesting&) = delete;

   private:
    int& depth_;
  };

  void check_bytes(size_t bytes) const {
    if (bytes > limits_.max_output_bytes) throw TemplateError(fmt::format("a value grows past {} bytes", limits_.max_output_bytes));
  }

  const Value& check_value(const Value& v) const {
    check_bytes(v.deep_bytes());
    if (v.depth() > kMaxValueDepth) throw TemplateError(fmt::format("a value nests deeper than {} levels", kMaxValueDepth));
    return v;
  }

  // ---- globals: transformers' raise_exception and strftime_now, jinja2's range, namespace, dict ----

  void define(const std::string& name, std::function<Value(const Args&)> function) {
    root_.vars[name] = Value(std::make_shared<const Callable>(Callable{name, std::move(function)}));
  }

  void install_globals() {
    define("raise_exception", [](const Args& args) -> Value {
      throw TemplateError(args.positional.empty() ? "raise_exception() called" : args.positional[0].str());
    });
    define("strftime_now", [](const Args& args) -> Value {
      if (args.positional.empty() || !args.positional[0].is_string()) throw TemplateError("strftime_now() needs a format string");
      std::time_t now = std::time(nullptr);
      std::tm local{};
      localtime_r(&now, &local);
      char buffer[256];
      size_t n = std::strftime(buffer, sizeof buffer, args.positional[0].as_string().c_str(), &local);
      return std::string(buffer, n);
    });
    define("range", [](const Args& args) -> Value {
      std::vector<int64_t> n;
      for (const Value& v : args.positional) {
        if (!v.is_int() && !v.is_bool()) throw TemplateError("range() arguments must be integers");
        n.push_back(v.as_int());
      }
      if (n.empty() || n.size() > 3) throw TemplateError("range() takes 1 to 3 arguments");
      int64_t start = n.size() > 1 ? n[0] : 0, stop = n.size() > 1 ? n[1] : n[0], step = n.size() > 2 ? n[2] : 1;
      if (step == 0) throw TemplateError("range() step must not be zero");
      // In 128 bits, so that neither the count nor the last item can overflow.
      __int128 span = step > 0 ? __int128(stop) - start : __int128(start) - stop;
      __int128 stride = step > 0 ? __int128(step) : -__int128(step);
      __int128 count = span > 0 ? (span + stride - 1) / stride : 0;
      if (count > kMaxRange) throw TemplateError(fmt::format("range() too big: more than {} items", kMaxRange));
      List out;
      for (__int128 i = 0; i < count; ++i) out.emplace_back(int64_t(start + i * step));
      return out;
    });
    auto keyword_dict = [](bool is_namespace) {
      return [is_namespace](const Args& args) -> Value {
        std::vector<std::pair<std::string, Value>> items;
        for (const Value& v : args.positional) {
          if (!v.is_dict()) throw TemplateError("namespace() and dict() take a mapping or keyword arguments");
          for (const auto& item : v.as_dict().items) items.push_back(item);
        }
        for (const auto& item : args.named) items.push_back(item);
        return make_dict(std::move(items), is_namespace);
      };
    };
    define("namespace", keyword_dict(true));
    define("dict", keyword_dict(false));
  }

  // ---- statements ----

  Flow exec(const Body& body, Scope& scope) {
    for (const Node& node : body) {
      Flow flow;
      try {
        flow = exec(node, scope);
      } catch (TemplateError& e) {
        if (!e.line) e.line = node.line;
        throw;
      }
      if (flow != Flow::normal) return flow;
    }
    return Flow::normal;
  }

  void assign(Scope& scope, const std::vector<std::string>& targets, const Value& value) {
    if (targets.size() == 1) {
      scope.vars[targets[0]] = value;
      return;
    }
    List items = iterate(value);
    if (items.size() != targets.size())
      throw TemplateError(fmt::format("cannot unpack {} values into {} names", items.size(), targets.size()));
    for (size_t i = 0; i < targets.size(); ++i) scope.vars[targets[i]] = items[i];
  }

  Flow exec(const Node& node, Scope& scope) {
    Nesting nesting(*this);
    step();
    switch (node.kind) {
      case Node::Kind::text: write(node.text); break;
      case Node::Kind::output: write(eval(*node.expr, scope).str()); break;
      case Node::Kind::if_:
        for (const auto& [condition, body] : node.branches)
          if (eval(*condition, scope).truthy()) return exec(body, scope);
        return exec(node.else_body, scope);
      case Node::Kind::for_: return exec_for(node, scope);
      case Node::Kind::set:
        if (!node.attribute.empty()) {
          Value target = eval_name(node.targets[0], scope);
          Dict& names = target.as_mutable_namespace();
          Value value = eval(*node.expr, scope);
          // Lists and dicts are built from finished values, so only this assignment could close
          // a cycle (ns.me = [ns]) that printing would follow forever.
          if (value.holds_namespace()) throw TemplateError("a namespace attribute cannot hold a namespace");
          names.set(node.attribute, std::move(value));
        } else {
          assign(scope, node.targets, eval(*node.expr, scope));
        }
        break;
      case Node::Kind::set_block: scope.vars[node.targets[0]] = capture(node.body, scope); break;
      case Node::Kind::macro: scope.vars[node.text] = make_macro(node); break;
      case Node::Kind::break_: return Flow::break_;
      case Node::Kind::continue_: return Flow::continue_;
      case Node::Kind::generation: {
        bool tracked = captures_.empty();
        size_t begin = result_.text.size();
        Flow flow = exec(node.body, scope);
        if (tracked) result_.generation_spans.emplace_back(begin, result_.text.size());
        return flow;
      }
    }
    return Flow::normal;
  }

  Flow exec_for(const Node& node, Scope& scope) {
    List items = iterate(eval(*node.expr, scope));
    touch(items.size() * sizeof(Value));
    if (node.filter) {
      List kept;
      for (const Value& item : items) {
        step();
        Scope probe{{}, &scope};
        assign(probe, node.targets, item);
        if (eval(*node.filter, probe).truthy()) kept.push_back(item);
      }
      items = std::move(kept);
    }
    if (items.empty()) return exec(node.else_body, scope);
    size_t n = items.size();
    for (size_t i = 0; i < n; ++i) {
      step(kHeavySteps);
      Scope body_scope{{}, &scope};
      assign(body_scope, node.targets, items[i]);
      body_scope.vars["loop"] = make_dict({{"index", i + 1},
                                           {"index0", i},
                                           {"revindex", n - i},
                                           {"revindex0", n - i - 1},
                                           {"first", i == 0},
                                           {"last", i + 1 == n},
                                           {"length", n},
                                           {"depth", 1},
                                           {"depth0", 0},
                                           {"previtem", i ? items[i - 1] : Value::undefined("there is no previous item")},
                                           {"nextitem", i + 1 < n ? items[i + 1] : Value::undefined("there is no next item")}});
      int saved = current_item_;
      if (auto it = tracked_.find(items[i].identity()); items[i].identity() && it != tracked_.end())
        current_item_ = int(it->second);
      Flow flow;
      try {
        flow = exec(node.body, body_scope);
      } catch (...) {
        current_item_ = saved;
        throw;
      }
      current_item_ = saved;
      if (flow == Flow::break_) break;
    }
    return Flow::normal;
  }

  Value make_macro(const Node& node) {
    return Value(std::make_shared<const Callable>(Callable{node.text, [this, &node](const Args& args) -> Value {
      step(kHeavySteps);
      if (call_depth_ >= limits_.max_call_depth)
        throw TemplateError(fmt::format("macro calls nest deeper than {} (runaway recursion?)", limits_.max_call_depth));
      if (args.positional.size() > node.params.size())
        throw TemplateError(fmt::format("macro '{}' takes {} arguments, {} given", node.text, node.params.size(), args.positional.size()));
      Scope scope{{}, &root_};
      for (size_t i = 0; i < node.params.size(); ++i) {
        const auto& [name, fallback] = node.params[i];
        const Value* given = args.get(i, name);
        scope.vars[name] = given ? *given : fallback ? eval(*fallback, scope) : Value::undefined(fmt::format("'{}' is undefined", name));
      }
      for (const auto& [name, value] : args.named) {
        bool known = false;
        for (const auto& param : node.params) known = known || param.first == name;
        if (!known) throw TemplateError(fmt::format("macro '{}' has no parameter '{}'", node.text, name));
      }
      ++call_depth_;
      struct Restore {
        int& depth;
        ~Restore() { --depth; }
      } restore{call_depth_};
      return capture(node.body, scope);
    }}));
  }

  // ---- expressions ----

  Value eval_name(const std::string& name, const Scope& scope) const {
    const Value* v = scope.find(name);
    return v ? *v : Value::undefined(fmt::format("'{}' is undefined", name));
  }

  // Evaluates the arguments of a call, filter or test, which scan their inputs: `input` too.
  Args eval_args(const Expr& e, Scope& scope, size_t first, const Value& input = {}) {
    touch(input.shallow_bytes());
    Args args;
    for (size_t i = first; i < e.args.size(); ++i) {
      args.positional.push_back(eval(*e.args[i], scope));
      touch(args.positional.back().shallow_bytes());
    }
    for (const auto& [name, value] : e.named) {
      args.named.emplace_back(name, eval(*value, scope));
      touch(args.named.back().second.shallow_bytes());
    }
    return args;
  }

  Value eval(const Expr& e, Scope& scope) {
    try {
      Nesting nesting(*this);
      step();
      Value v = eval_unchecked(e, scope);
      // Lookups hand back values that exist already; everything else built its result.
      if (e.kind != Expr::Kind::literal && e.kind != Expr::Kind::name && e.kind != Expr::Kind::attribute &&
          e.kind != Expr::Kind::condition)
        touch(v.shallow_bytes());
      return check_value(v);
    } catch (TemplateError& error) {
      if (!error.line) error.line = e.line;
      throw;
    }
  }

  Value eval_unchecked(const Expr& e, Scope& scope) {
    switch (e.kind) {
      case Expr::Kind::literal: return e.value;
      case Expr::Kind::name: return eval_name(e.name, scope);
      case Expr::Kind::list: {
        List items;
        for (const auto& item : e.args) items.push_back(eval(*item, scope));
        return e.name == "tuple" ? Value::tuple(std::move(items)) : Value(std::move(items));
      }
      case Expr::Kind::dict: {
        std::vector<std::pair<std::string, Value>> items;
        for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
          Value key = eval(*e.args[i], scope);
          if (!key.is_string()) throw TemplateError("dict keys must be strings");
          items.emplace_back(key.as_string(), eval(*e.args[i + 1], scope));
        }
        return make_dict(std::move(items));
      }
      case Expr::Kind::attribute: return get_attribute(eval(*e.args[0], scope), e.name);
      case Expr::Kind::subscript: {
        Value object = eval(*e.args[0], scope);
        if (object.is_string()) touch(object.shallow_bytes());  // indexing decodes the string
        return get_item(object, eval(*e.args[1], scope));
      }
      case Expr::Kind::slice: {
        auto part = [&](size_t i) { return e.args[i] ? eval(*e.args[i], scope) : Value(None{}); };
        return get_slice(eval(*e.args[0], scope), part(1), part(2), part(3));
      }
      case Expr::Kind::call: {
        const Expr& callee = *e.args[0];
        if (callee.kind == Expr::Kind::attribute) {
          Value object = eval(*callee.args[0], scope);
          return call_method(object, callee.name, eval_args(e, scope, 1, object));
        }
        Value function = eval(callee, scope);
        if (function.is_undefined()) throw TemplateError(function.undefined_hint());
        if (!function.is_callable()) throw TemplateError(fmt::format("'{}' object is not callable", function.type_name()));
        return function.as_callable().call(eval_args(e, scope, 1));
      }
      case Expr::Kind::filter: {
        Value input = eval(*e.args[0], scope);
        return apply_filter(e.name, input, eval_args(e, scope, 1, input));
      }
      case Expr::Kind::test: {
        Value input = eval(*e.args[0], scope);
        return apply_test(e.name, input, eval_args(e, scope, 1, input)) != e.negated;
      }
      case Expr::Kind::unary: {
        Value v = eval(*e.args[0], scope);
        if (e.name == "not") return !v.truthy();
        if (v.is_undefined()) throw TemplateError(v.undefined_hint());
        if (!v.is_number()) throw TemplateError(fmt::format("bad operand type for unary {}: '{}'", e.name, v.type_name()));
        if (e.name == "+") return v.is_float() ? Value(v.as_float()) : Value(v.as_int());
        return v.is_float() ? Value(-v.as_float()) : Value(checked(sub_overflows, 0, v.as_int()));
      }
      case Expr::Kind::binary: {
        if (e.name == "and" || e.name == "or") {
          Value left = eval(*e.args[0], scope);
          return left.truthy() == (e.name == "and") ? eval(*e.args[1], scope) : left;
        }
        return binary(e.name, eval(*e.args[0], scope), eval(*e.args[1], scope));
      }
      case Expr::Kind::compare: {
        Value left = eval(*e.args[0], scope);
        for (size_t i = 0; i < e.ops.size(); ++i) {
          Value right = eval(*e.args[i + 1], scope);
          touch(left.deep_bytes() + right.deep_bytes());  // == and `in` walk both sides
          const std::string& op = e.ops[i];
          bool ok = op == "==" ? equals(left, right)
                    : op == "!=" ? !equals(left, right)
                    : op == "in" ? contains(right, left)
                    : op == "not in" ? !contains(right, left)
                    : op == "<" ? compare(left, right) < 0
                    : op == "<=" ? compare(left, right) <= 0
                    : op == ">" ? compare(left, right) > 0
                                : compare(left, right) >= 0;
          if (!ok) return false;
          left = std::move(right);
        }
        return true;
      }
      case Expr::Kind::condition:
        if (eval(*e.args[1], scope).truthy()) return eval(*e.args[0], scope);
        return e.args[2] ? eval(*e.args[2], scope) : Value::undefined("the condition was false and there is no else");
    }
    return {};
  }

  Value repeat(const Value& sequence, int64_t times) const {
    size_t unit = sequence.deep_bytes();
    size_t n = size_t(std::max<int64_t>(times, 0));
    if (unit && n > limits_.max_output_bytes / unit)
      throw TemplateError(fmt::format("a repetition grows past {} bytes", limits_.max_output_bytes));
    if (sequence.is_string()) {
      if (n == 0) return std::string();
      std::string out = sequence.as_string();  // doubled, then topped up: 'x' * 10**7 is 24 copies
      out.reserve(unit * n);
      while (out.size() * 2 <= unit * n) out.append(out);
      out.append(out, 0, unit * n - out.size());
      return out;
    }
    List out;
    for (size_t i = 0; i < n; ++i) out.insert(out.end(), sequence.as_list().begin(), sequence.as_list().end());
    return out;
  }

  Value binary(const std::string& op, const Value& a, const Value& b) const {
    if (op == "~") {
      // Strings are used where they are (not copied) and measured before anything is built: a
      // hostile template's 40 MB operands must cost no more than the bound check.
      const std::string left_text = a.is_string() ? std::string() : a.str();
      const std::string right_text = b.is_string() ? std::string() : b.str();
      const std::string& left = a.is_string() ? a.as_string() : left_text;
      const std::string& right = b.is_string() ? b.as_string() : right_text;
      check_bytes(left.size() + right.size());
      return left + right;
    }
    bool numbers = a.is_number() && b.is_number();
    bool floats = numbers && (a.is_float() || b.is_float());
    if (op == "+") {
      check_bytes(a.deep_bytes() + b.deep_bytes());  // before building it
      if (a.is_string() && b.is_string()) return a.as_string() + b.as_string();
      if (a.is_list() && b.is_list()) {
        List out = a.as_list();
        out.insert(out.end(), b.as_list().begin(), b.as_list().end());
        return out;
      }
      if (!numbers) unsupported("+", a, b);
      return floats ? Value(a.as_float() + b.as_float()) : Value(checked(add_overflows, a.as_int(), b.as_int()));
    }
    if (op == "*") {
      if ((a.is_string() || a.is_list()) && (b.is_int() || b.is_bool())) return repeat(a, b.as_int());
      if ((b.is_string() || b.is_list()) && (a.is_int() || a.is_bool())) return repeat(b, a.as_int());
      if (!numbers) unsupported("*", a, b);
      return floats ? Value(a.as_float() * b.as_float()) : Value(checked(mul_overflows, a.as_int(), b.as_int()));
    }
    if (!numbers) unsupported(op.c_str(), a, b);
    if (op == "-")
      return floats ? Value(a.as_float() - b.as_float()) : Value(checked(sub_overflows, a.as_int(), b.as_int()));
    if (op == "**") {
      if (a.as_float() == 0 && b.as_float() < 0) throw TemplateError("division by zero (0 to a negative power)");
      if (floats || b.as_int() < 0) return std::pow(a.as_float(), b.as_float());
      return int_pow(a.as_int(), b.as_int());
    }
    if (floats ? b.as_float() == 0 : b.as_int() == 0) throw TemplateError("division by zero");
    if (op == "/") return a.as_float() / b.as_float();
    if (op == "//") return floats ? Value(std::floor(a.as_float() / b.as_float())) : Value(floor_div(a.as_int(), b.as_int()));
    if (op == "%") {
      if (floats) {
        double m = std::fmod(a.as_float(), b.as_float());
        return m != 0 && ((m < 0) != (b.as_float() < 0)) ? m + b.as_float() : m;
      }
      return floor_mod(a.as_int(), b.as_int());
    }
    throw TemplateError(fmt::format("unknown operator '{}'", op));
  }

  Limits limits_;
  std::unordered_map<const void*, size_t> tracked_;
  Scope root_;
  RenderResult result_;
  std::vector<std::string*> captures_;
  int current_item_ = -1;
  uint64_t steps_ = 0;
  uint64_t touched_ = 0;
  int call_depth_ = 0;
  int depth_ = 0;
};

}  // namespace

RenderResult render(const Template& tmpl, const std::vector<std::pair<std::string, Value>>& variables,
                    const std::vector<const void*>& tracked, const Limits& limits) {
  return Interpreter(tracked, limits).run(tmpl, variables);
}

}  // namespace vktrain::data::jinja
