#pragma once
// Splits a template into text and the tokens of its {{ }} and {% %} tags, applying jinja2's
// whitespace rules as transformers configures them: trim_blocks (the first newline after a
// block or comment tag is dropped), lstrip_blocks (spaces and tabs before a block or comment
// tag at the start of a line are dropped), `-` on a tag strips all whitespace on that side,
// `+` keeps it, and one trailing newline of the template is dropped (keep_trailing_newline off).
// Comments vanish here. "\r\n" and "\r" read as "\n".
#include <string>
#include <string_view>
#include <vector>

namespace vktrain::data::jinja {

enum class TokenType { text, variable_begin, variable_end, block_begin, block_end, name, string,
                       integer, floating, op, end };

struct Token {
  TokenType type;
  std::string text;  // the text, a name, a string's decoded value, a number's digits, an operator
  int line;
};

std::vector<Token> tokenize(std::string_view source);  // throws TemplateError

}  // namespace vktrain::data::jinja
