#include "data/jinja/interpreter.hpp"

#include <cmath>
#include <ctime>
#include <unordered_map>

#include <fmt/format.h>

#include "data/jinja/filters.hpp"

namespace vktrain::data::jinja {
namespace {

constexpr int64_t kMaxRange = 100000;  // jinja2.sandbox.MAX_RANGE

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

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
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

  void step() {
    if (++steps_ > limits_.max_steps)
      throw TemplateError(fmt::format("the template ran more than {} loop iterations and macro calls", limits_.max_steps));
  }

  const Value& checked_size(const Value& v) const {
    if (v.is_string() && v.as_string().size() > limits_.max_output_bytes)
      throw TemplateError(fmt::format("a string grows past {} bytes", limits_.max_output_bytes));
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
      double count = std::ceil((double(stop) - double(start)) / double(step));
      if (count > double(kMaxRange))
        throw TemplateError(fmt::format("range() too big: more than {} items", kMaxRange));
      List out;
      for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) out.emplace_back(i);
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
          target.as_mutable_namespace().set(node.attribute, eval(*node.expr, scope));
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
      step();
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
      step();
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

  Args eval_args(const Expr& e, Scope& scope, size_t first) {
    Args args;
    for (size_t i = first; i < e.args.size(); ++i) args.positional.push_back(eval(*e.args[i], scope));
    for (const auto& [name, value] : e.named) args.named.emplace_back(name, eval(*value, scope));
    return args;
  }

  Value eval(const Expr& e, Scope& scope) {
    try {
      return checked_size(eval_unchecked(e, scope));
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
      case Expr::Kind::subscript: return get_item(eval(*e.args[0], scope), eval(*e.args[1], scope));
      case Expr::Kind::slice: {
        auto part = [&](size_t i) { return e.args[i] ? eval(*e.args[i], scope) : Value(None{}); };
        return get_slice(eval(*e.args[0], scope), part(1), part(2), part(3));
      }
      case Expr::Kind::call: {
        const Expr& callee = *e.args[0];
        if (callee.kind == Expr::Kind::attribute) {
          Value object = eval(*callee.args[0], scope);
          return call_method(object, callee.name, eval_args(e, scope, 1));
        }
        Value function = eval(callee, scope);
        if (function.is_undefined()) throw TemplateError(function.undefined_hint());
        if (!function.is_callable()) throw TemplateError(fmt::format("'{}' object is not callable", function.type_name()));
        return function.as_callable().call(eval_args(e, scope, 1));
      }
      case Expr::Kind::filter: return apply_filter(e.name, eval(*e.args[0], scope), eval_args(e, scope, 1));
      case Expr::Kind::test: return apply_test(e.name, eval(*e.args[0], scope), eval_args(e, scope, 1)) != e.negated;
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
    size_t unit = sequence.is_string() ? sequence.as_string().size() : sequence.as_list().size();
    size_t n = size_t(std::max<int64_t>(times, 0));
    if (unit && n > limits_.max_output_bytes / unit)
      throw TemplateError(fmt::format("a repetition grows past {} items", limits_.max_output_bytes));
    if (sequence.is_string()) {
      std::string out;
      for (size_t i = 0; i < n; ++i) out += sequence.as_string();
      return out;
    }
    List out;
    for (size_t i = 0; i < n; ++i) out.insert(out.end(), sequence.as_list().begin(), sequence.as_list().end());
    return out;
  }

  Value binary(const std::string& op, const Value& a, const Value& b) const {
    if (op == "~") return a.str() + b.str();
    bool numbers = a.is_number() && b.is_number();
    bool floats = numbers && (a.is_float() || b.is_float());
    if (op == "+") {
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
      if (floats || b.as_int() < 0) return std::pow(a.as_float(), b.as_float());
      int64_t result = 1;
      for (int64_t i = 0; i < b.as_int(); ++i) {
        result = checked(mul_overflows, result, a.as_int());
        if (result == 0 || result == 1) break;
      }
      return result;
    }
    if (floats ? b.as_float() == 0 : b.as_int() == 0) throw TemplateError("division by zero");
    if (op == "/") return a.as_float() / b.as_float();
    if (op == "//") return floats ? Value(std::floor(a.as_float() / b.as_float())) : Value(floor_div(a.as_int(), b.as_int()));
    if (op == "%") {
      if (floats) {
        double m = std::fmod(a.as_float(), b.as_float());
        return m != 0 && ((m < 0) != (b.as_float() < 0)) ? m + b.as_float() : m;
      }
      return a.as_int() - floor_div(a.as_int(), b.as_int()) * b.as_int();
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
  int call_depth_ = 0;
};

}  // namespace

RenderResult render(const Template& tmpl, const std::vector<std::pair<std::string, Value>>& variables,
                    const std::vector<const void*>& tracked, const Limits& limits) {
  return Interpreter(tracked, limits).run(tmpl, variables);
}

}  // namespace vktrain::data::jinja
