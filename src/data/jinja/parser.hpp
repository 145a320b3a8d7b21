#pragma once
// Recursive-descent parser for the jinja2 subset, with jinja2's operator precedence (lowest
// first): `x if c else y`, or, and, not, comparisons (chained, in, not in), + -, ~, * / // %,
// **, unary - +, then filters and `is` tests, then postfix . [] (). Nesting is bounded so a
// hostile template fails with an error instead of exhausting the stack.
#include <string>
#include <string_view>

#include "data/jinja/ast.hpp"

namespace vktrain::data::jinja {

Template parse_template(std::string_view source, std::string name);  // throws TemplateError

}  // namespace vktrain::data::jinja
