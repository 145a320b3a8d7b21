#pragma once
// The syntax tree of a template: expressions and statements, each with the line it starts on.
// One struct per family with a kind tag keeps the interpreter a pair of switches.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "data/jinja/value.hpp"

namespace vktrain::data::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    literal,    // value
    name,       // name
    list,       // args: items
    dict,       // args: key0, value0, key1, value1, ...
    attribute,  // args[0].name
    subscript,  // args[0][args[1]]
    slice,      // args[0][args[1]:args[2]:args[3]], absent parts are nullptr
    call,       // args[0](args[1:], named)
    filter,     // args[0] | name(args[1:], named)
    test,       // args[0] is [not: negated] name(args[1:], named)
    unary,      // name ("-", "+", "not") args[0]
    binary,     // args[0] name args[1]: + - * / // % ** ~ and or
    compare,    // args[0] ops[0] args[1] ops[1] args[2] ...: == != < <= > >= in "not in"
    condition,  // args[0] if args[1] else args[2] (nullptr: undefined)
  };
  Kind kind;
  int line = 0;
  int depth = 1;  // the height of this expression's tree, bounded by the parser
  Value value;
  std::string name;
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> named;
  std::vector<std::string> ops;
  bool negated = false;
};

struct Node;
using Body = std::vector<Node>;

struct Node {
  enum class Kind {
    text,        // text
    output,      // {{ expr }}
    if_,         // branches: (condition, body) ...; else_body
    for_,        // for targets in expr [if filter] body [else else_body]
    set,         // set targets = expr, or set targets[0].attribute = expr
    set_block,   // set targets[0] %} body {% endset
    macro,       // macro name(params) body
    break_,
    continue_,
    generation,  // transformers' {% generation %} body {% endgeneration %}
  };
  Kind kind;
  int line = 0;
  std::string text;       // text, macro name
  ExprPtr expr;           // output / for iterable / set value
  ExprPtr filter;         // for ... if filter
  std::vector<std::string> targets;
  std::string attribute;  // set ns.attribute
  std::vector<std::pair<ExprPtr, Body>> branches;
  Body body, else_body;
  std::vector<std::pair<std::string, ExprPtr>> params;  // macro parameters with defaults
};

struct Template {
  std::string name;  // the file or "template", for messages
  Body body;
};

}  // namespace vktrain::data::jinja
