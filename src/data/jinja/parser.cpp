#include "data/jinja/parser.hpp"

#include <charconv>
#include <initializer_list>

#include <fmt/format.h>

#include "data/jinja/filters.hpp"
#include "data/jinja/lexer.hpp"

namespace vktrain::data::jinja {
namespace {

constexpr int kMaxNesting = 128;  // blocks and parenthesised expressions, each
// The height of one expression's tree, which the evaluator recurses through (and the tree's
// destructor): operator, filter and attribute chains are parsed by loops, not recursion, so
// they need their own bound. The real Qwen3, Gemma-3, Llama-3.1 and Mistral templates reach 13
// (`message.content.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n')`).
constexpr int kMaxExpressionDepth = 256;

std::string describe(const Token& token) {
  switch (token.type) {
    case TokenType::text: return "text";
    case TokenType::variable_begin: return "'{{'";
    case TokenType::variable_end: return "'}}'";
    case TokenType::block_begin: return "'{%'";
    case TokenType::block_end: return "'%}'";
    case TokenType::string: return "a string";
    case TokenType::end: return "the end of the template";
    default: return "'" + token.text + "'";
  }
}

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  Body parse_all() {
    Body body = parse_body({});
    if (peek().type != TokenType::end) error(fmt::format("unexpected {}", describe(peek())));
    return body;
  }

 private:
  struct DepthGuard {
    DepthGuard(Parser& p) : parser(p) {
      if (++parser.depth_ > kMaxNesting) parser.error(fmt::format("the template nests deeper than {} levels", kMaxNesting));
    }
    ~DepthGuard() { --parser.depth_; }
    Parser& parser;
  };

  const Token& peek(size_t ahead = 0) const { return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)]; }
  const Token& next() { return tokens_[std::min(pos_++, tokens_.size() - 1)]; }
  [[noreturn]] void error(const std::string& message) const { throw TemplateError(message, peek().line); }

  bool is_op(const char* op, size_t ahead = 0) const { return peek(ahead).type == TokenType::op && peek(ahead).text == op; }
  bool is_name(const char* name, size_t ahead = 0) const { return peek(ahead).type == TokenType::name && peek(ahead).text == name; }
  bool accept_op(const char* op) { return is_op(op) ? (next(), true) : false; }
  bool accept_name(const char* name) { return is_name(name) ? (next(), true) : false; }
  void expect_op(const char* op) {
    if (!accept_op(op)) error(fmt::format("expected '{}', found {}", op, describe(peek())));
  }
  std::string expect_name() {
    if (peek().type != TokenType::name) error(fmt::format("expected a name, found {}", describe(peek())));
    return next().text;
  }
  void expect(TokenType type, const char* what) {
    if (peek().type != type) error(fmt::format("expected {}, found {}", what, describe(peek())));
    next();
  }
  void expect_block_end() { expect(TokenType::block_end, "'%}'"); }

  // ---- statements ----

  // Parses until a block tag whose keyword is in `stop` (left unconsumed) or the end.
  Body parse_body(std::initializer_list<const char*> stop) {
    DepthGuard guard(*this);
    Body body;
    while (true) {
      const Token& token = peek();
      if (token.type == TokenType::end) {
        if (stop.size()) error(fmt::format("unexpected end of template, expected '{}'", *(stop.end() - 1)));
        return body;
      }
      if (token.type == TokenType::text) {
        body.push_back({Node::Kind::text, token.line, token.text});
        next();
      } else if (token.type == TokenType::variable_begin) {
        next();
        Node node{Node::Kind::output, token.line};
        node.expr = parse_expression();
        expect(TokenType::variable_end, "'}}'");
        body.push_back(std::move(node));
      } else if (token.type == TokenType::block_begin) {
        if (peek(1).type == TokenType::name)
          for (const char* keyword : stop)
            if (peek(1).text == keyword) return body;
        next();
        body.push_back(parse_statement(token.line));
      } else {
        error(fmt::format("unexpected {}", describe(token)));
      }
    }
  }

  void expect_keyword_block(const char* keyword) {  // {% keyword %}
    expect(TokenType::block_begin, "'{%'");
    if (!accept_name(keyword)) error(fmt::format("expected '{}'", keyword));
    expect_block_end();
  }

  Node parse_statement(int line) {
    std::string keyword = expect_name();
    Node node{Node::Kind::text, line};
    if (keyword == "if") {
      node.kind = Node::Kind::if_;
      ExprPtr condition = parse_expression();
      expect_block_end();
      while (true) {
        Body body = parse_body({"elif", "else", "endif"});
        node.branches.emplace_back(std::move(condition), std::move(body));
        next();  // {%
        std::string which = next().text;
        if (which == "elif") {
          condition = parse_expression();
          expect_block_end();
          continue;
        }
        expect_block_end();
        if (which == "else") {
          node.else_body = parse_body({"endif"});
          expect_keyword_block("endif");
        }
        return node;
      }
    }
    if (keyword == "for") {
      node.kind = Node::Kind::for_;
      bool parens = accept_op("(");
      do node.targets.push_back(expect_name());
      while (accept_op(","));
      if (parens) expect_op(")");
      if (!accept_name("in")) error("expected 'in' in the for loop");
      node.expr = parse_expression(false);
      if (accept_name("if")) node.filter = parse_expression(false);
      if (is_name("recursive")) error("recursive for loops are not supported");
      expect_block_end();
      ++loops_;
      node.body = parse_body({"else", "endfor"});
      --loops_;
      next();
      if (next().text == "else") {
        expect_block_end();
        node.else_body = parse_body({"endfor"});
        expect_keyword_block("endfor");
      } else {
        expect_block_end();
      }
      return node;
    }
    if (keyword == "set") {
      node.kind = Node::Kind::set;
      node.targets.push_back(expect_name());
      if (accept_op(".")) {
        node.attribute = expect_name();
      } else {
        while (accept_op(",")) node.targets.push_back(expect_name());
      }
      if (peek().type == TokenType::block_end && node.targets.size() == 1 && node.attribute.empty()) {
        next();
        node.kind = Node::Kind::set_block;
        node.body = parse_body({"endset"});
        expect_keyword_block("endset");
        return node;
      }
      expect_op("=");
      node.expr = parse_tuple();
      expect_block_end();
      return node;
    }
    if (keyword == "macro") {
      node.kind = Node::Kind::macro;
      node.text = expect_name();
      expect_op("(");
      while (!accept_op(")")) {
        if (!node.params.empty()) expect_op(",");
        std::string param = expect_name();
        node.params.emplace_back(param, accept_op("=") ? parse_expression() : nullptr);
      }
      expect_block_end();
      int outer_loops = std::exchange(loops_, 0);
      node.body = parse_body({"endmacro"});
      loops_ = outer_loops;
      expect_keyword_block("endmacro");
      return node;
    }
    if (keyword == "break" || keyword == "continue") {
      if (loops_ == 0) error(fmt::format("'{}' outside of a for loop", keyword));
      node.kind = keyword == "break" ? Node::Kind::break_ : Node::Kind::continue_;
      expect_block_end();
      return node;
    }
    if (keyword == "generation") {
      node.kind = Node::Kind::generation;
      expect_block_end();
      node.body = parse_body({"endgeneration"});
      expect_keyword_block("endgeneration");
      return node;
    }
    if (keyword.rfind("end", 0) == 0 || keyword == "elif" || keyword == "else")
      throw TemplateError(fmt::format("unexpected '{}' without a matching block", keyword), line);
    throw TemplateError(fmt::format("unknown tag '{}'", keyword), line);
  }

  // ---- expressions ----

  // Hangs `child` (may be null: an absent slice part or else branch) under `parent`.
  static void add(Expr& parent, ExprPtr child) {
    count_depth(parent, child.get());
    parent.args.push_back(std::move(child));
  }
  static void add_named(Expr& parent, std::string name, ExprPtr child) {
    count_depth(parent, child.get());
    parent.named.emplace_back(std::move(name), std::move(child));
  }
  static void count_depth(Expr& parent, const Expr* child) {
    if (!child || child->depth < parent.depth) return;
    parent.depth = child->depth + 1;
    if (parent.depth > kMaxExpressionDepth)
      throw TemplateError(fmt::format("the expression nests deeper than {} levels", kMaxExpressionDepth), parent.line);
  }

  ExprPtr make(Expr::Kind kind, int line, std::string name = {}) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = line;
    e->name = std::move(name);
    return e;
  }
  ExprPtr make_binary(const std::string& op, ExprPtr left, ExprPtr right) {
    auto e = make(Expr::Kind::binary, left->line, op);
    add(*e, std::move(left));
    add(*e, std::move(right));
    return e;
  }

  // `a, b` without parentheses builds a tuple, as in {% set x = 1, 2 %}.
  ExprPtr parse_tuple() {
    ExprPtr first = parse_expression();
    if (!is_op(",")) return first;
    auto list = make(Expr::Kind::list, first->line, "tuple");
    add(*list, std::move(first));
    while (accept_op(",")) {
      if (peek().type == TokenType::block_end) break;
      add(*list, parse_expression());
    }
    return list;
  }

  ExprPtr parse_expression(bool with_condition = true) {
    DepthGuard guard(*this);
    ExprPtr e = parse_or();
    while (with_condition && accept_name("if")) {
      auto c = make(Expr::Kind::condition, e->line);
      add(*c, std::move(e));
      add(*c, parse_or());
      add(*c, accept_name("else") ? parse_expression() : nullptr);
      e = std::move(c);
    }
    return e;
  }

  ExprPtr parse_or() {
    ExprPtr e = parse_and();
    while (accept_name("or")) e = make_binary("or", std::move(e), parse_and());
    return e;
  }
  ExprPtr parse_and() {
    ExprPtr e = parse_not();
    while (accept_name("and")) e = make_binary("and", std::move(e), parse_not());
    return e;
  }
  ExprPtr parse_not() {
    if (is_name("not")) {
      DepthGuard guard(*this);
      auto e = make(Expr::Kind::unary, next().line, "not");
      add(*e, parse_not());
      return e;
    }
    return parse_compare();
  }
  ExprPtr parse_compare() {
    ExprPtr first = parse_math1();
    auto e = make(Expr::Kind::compare, first->line);
    add(*e, std::move(first));
    while (true) {
      const Token& t = peek();
      if (t.type == TokenType::op && (t.text == "==" || t.text == "!=" || t.text == "<" || t.text == "<=" ||
                                      t.text == ">" || t.text == ">=")) {
        e->ops.push_back(next().text);
      } else if (accept_name("in")) {
        e->ops.push_back("in");
      } else if (is_name("not") && is_name("in", 1)) {
        pos_ += 2;
        e->ops.push_back("not in");
      } else {
        break;
      }
      add(*e, parse_math1());
    }
    return e->ops.empty() ? std::move(e->args[0]) : std::move(e);
  }
  template <typename Operand>
  ExprPtr parse_binary_level(std::initializer_list<const char*> ops, Operand operand) {
    ExprPtr e = (this->*operand)();
    while (true) {
      const char* matched = nullptr;
      for (const char* op : ops)
        if (is_op(op)) matched = op;
      if (!matched) return e;
      next();
      e = make_binary(matched, std::move(e), (this->*operand)());
    }
  }
  ExprPtr parse_math1() { return parse_binary_level({"+", "-"}, &Parser::parse_concat); }
  ExprPtr parse_concat() { return parse_binary_level({"~"}, &Parser::parse_math2); }
  ExprPtr parse_math2() { return parse_binary_level({"*", "/", "//", "%"}, &Parser::parse_pow); }
  ExprPtr parse_pow() { return parse_binary_level({"**"}, &Parser::parse_filtered_unary); }
  ExprPtr parse_filtered_unary() { return parse_unary(true); }

  ExprPtr parse_unary(bool with_filter) {
    DepthGuard guard(*this);
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
      e = make(Expr::Kind::unary, peek().line, next().text);
      add(*e, parse_unary(false));
    } else {
      e = parse_primary();
    }
    e = parse_postfix(std::move(e));
    return with_filter ? parse_filters(std::move(e)) : std::move(e);
  }

  ExprPtr parse_primary() {
    const Token& t = peek();
    int line = t.line;
    switch (t.type) {
      case TokenType::name: {
        next();
        auto literal = [&](Value v) {
          auto e = make(Expr::Kind::literal, line);
          e->value = std::move(v);
          return e;
        };
        if (t.text == "true" || t.text == "True") return literal(true);
        if (t.text == "false" || t.text == "False") return literal(false);
        if (t.text == "none" || t.text == "None") return literal(None{});
        return make(Expr::Kind::name, line, t.text);
      }
      case TokenType::string: {
        std::string text;
        while (peek().type == TokenType::string) text += next().text;  // "a" "b" is "ab"
        auto e = make(Expr::Kind::literal, line);
        e->value = std::move(text);
        return e;
      }
      case TokenType::integer: {
        next();
        int64_t value = 0;
        auto [end, ec] = std::from_chars(t.text.data(), t.text.data() + t.text.size(), value);
        if (ec != std::errc()) throw TemplateError(fmt::format("integer literal {} is too large", t.text), line);
        auto e = make(Expr::Kind::literal, line);
        e->value = value;
        return e;
      }
      case TokenType::floating: {
        next();
        double value = 0;
        auto [end, ec] = std::from_chars(t.text.data(), t.text.data() + t.text.size(), value);
        if (ec == std::errc::result_out_of_range) {
          // Python reads 1e-999 as 0.0 and 1e999 as inf; a template has no use for inf.
          size_t exponent = t.text.find('e');
          if (exponent == std::string::npos || t.text[exponent + 1] != '-')
            throw TemplateError(fmt::format("float literal {} is out of range", t.text), line);
        } else if (ec != std::errc()) {
          throw TemplateError(fmt::format("float literal {} is malformed", t.text), line);
        }
        auto e = make(Expr::Kind::literal, line);
        e->value = value;
        return e;
      }
      case TokenType::op:
        if (accept_op("(")) {
          if (accept_op(")")) return make(Expr::Kind::list, line, "tuple");  // ()
          ExprPtr inner = parse_expression();
          if (is_op(",")) {
            auto list = make(Expr::Kind::list, line, "tuple");
            add(*list, std::move(inner));
            while (accept_op(",") && !is_op(")")) add(*list, parse_expression());
            inner = std::move(list);
          }
          expect_op(")");
          return inner;
        }
        if (accept_op("[")) {
          auto list = make(Expr::Kind::list, line);
          while (!accept_op("]")) {
            if (!list->args.empty()) expect_op(",");
            if (accept_op("]")) break;
            add(*list, parse_expression());
          }
          return list;
        }
        if (accept_op("{")) {
          auto dict = make(Expr::Kind::dict, line);
          while (!accept_op("}")) {
            if (!dict->args.empty()) expect_op(",");
            if (accept_op("}")) break;
            add(*dict, parse_expression());
            expect_op(":");
            add(*dict, parse_expression());
          }
          return dict;
        }
        break;
      default: break;
    }
    error(fmt::format("unexpected {}", describe(t)));
  }

  ExprPtr parse_postfix(ExprPtr e) {
    while (true) {
      int line = peek().line;
      if (accept_op(".")) {
        if (peek().type == TokenType::integer) {
          auto s = make(Expr::Kind::subscript, line);
          add(*s, std::move(e));
          add(*s, parse_primary());
          e = std::move(s);
        } else {
          auto a = make(Expr::Kind::attribute, line, expect_name());
          add(*a, std::move(e));
          e = std::move(a);
        }
      } else if (accept_op("[")) {
        e = parse_subscript(std::move(e), line);
      } else if (is_op("(")) {
        auto call = make(Expr::Kind::call, line);
        add(*call, std::move(e));
        parse_call_args(*call);
        e = std::move(call);
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr target, int line) {
    ExprPtr start, stop, step;
    if (!is_op(":")) {
      start = parse_expression();
      if (accept_op("]")) {
        auto s = make(Expr::Kind::subscript, line);
        add(*s, std::move(target));
        add(*s, std::move(start));
        return s;
      }
    }
    expect_op(":");
    if (!is_op("]") && !is_op(":")) stop = parse_expression();
    if (accept_op(":") && !is_op("]")) step = parse_expression();
    expect_op("]");
    auto s = make(Expr::Kind::slice, line);
    add(*s, std::move(target));
    add(*s, std::move(start));
    add(*s, std::move(stop));
    add(*s, std::move(step));
    return s;
  }

  void parse_call_args(Expr& call) {
    expect_op("(");
    while (!accept_op(")")) {
      if (call.args.size() > 1 || !call.named.empty()) expect_op(",");
      if (accept_op(")")) break;
      if (peek().type == TokenType::name && is_op("=", 1)) {
        std::string key = next().text;
        next();
        add_named(call, key, parse_expression());
      } else {
        if (!call.named.empty()) error("a positional argument follows a keyword argument");
        add(call, parse_expression());
      }
    }
  }

  ExprPtr parse_filters(ExprPtr e) {
    while (true) {
      int line = peek().line;
      if (accept_op("|")) {
        auto f = make(Expr::Kind::filter, line, expect_name());
        if (!is_known_filter(f->name)) throw TemplateError(fmt::format("no filter named '{}'", f->name), line);
        add(*f, std::move(e));
        if (is_op("(")) parse_call_args(*f);
        e = std::move(f);
      } else if (accept_name("is")) {
        auto t = make(Expr::Kind::test, line);
        t->negated = accept_name("not");
        t->name = expect_name();
        if (!is_known_test(t->name)) throw TemplateError(fmt::format("no test named '{}'", t->name), line);
        add(*t, std::move(e));
        const Token& arg = peek();
        if (is_op("(")) {
          parse_call_args(*t);
        } else if ((arg.type == TokenType::name && arg.text != "else" && arg.text != "or" && arg.text != "and" &&
                    arg.text != "is") ||
                   arg.type == TokenType::string || arg.type == TokenType::integer ||
                   arg.type == TokenType::floating || is_op("[") || is_op("{")) {
          add(*t, parse_postfix(parse_primary()));
        }
        e = std::move(t);
      } else {
        return e;
      }
    }
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int depth_ = 0;
  int loops_ = 0;
};

}  // namespace

Template parse_template(std::string_view source, std::string name) {
  return Template{std::move(name), Parser(tokenize(source)).parse_all()};
}

}  // namespace vktrain::data::jinja
