#include "data/jinja/lexer.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "data/jinja/text.hpp"
#include "data/jinja/value.hpp"

namespace vktrain::data::jinja {
namespace {

std::string normalize_newlines(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();  // keep_trailing_newline=False
  return out;
}

bool is_name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class Lexer {
 public:
  explicit Lexer(std::string_view source) : source_(normalize_newlines(source)) {}

  std::vector<Token> run() {
    while (pos_ < source_.size()) {
      size_t tag = find_tag(pos_);
      if (tag == std::string::npos) {
        emit_text(source_.substr(pos_));
        break;
      }
      std::string text = source_.substr(pos_, tag - pos_);
      char kind = source_[tag + 1];
      char sign = tag + 2 < source_.size() && (source_[tag + 2] == '-' || source_[tag + 2] == '+')
                      ? source_[tag + 2] : 0;
      int text_line = line_;
      line_ += int(std::count(text.begin(), text.end(), '\n'));
      if (sign == '-') {
        text = python_strip(text, false, true);
      } else if (sign != '+' && kind != '{') {  // lstrip_blocks: blocks and comments only
        size_t line_start = text.rfind('\n') + 1;  // npos + 1 == 0
        if ((line_start > 0 || line_starting_) && line_start < text.size() &&
            python_strip(std::string_view(text).substr(line_start), true, true).empty())
          text.resize(line_start);
      }
      if (!text.empty()) tokens_.push_back({TokenType::text, std::move(text), text_line});
      pos_ = tag + 2 + (sign ? 1 : 0);
      if (kind == '#')
        skip_comment();
      else
        lex_tag(kind == '{');
    }
    tokens_.push_back({TokenType::end, "", line_});
    return std::move(tokens_);
  }

 private:
  size_t find_tag(size_t from) const {
    for (size_t p = source_.find('{', from); p != std::string::npos; p = source_.find('{', p + 1))
      if (p + 1 < source_.size() && (source_[p + 1] == '{' || source_[p + 1] == '%' || source_[p + 1] == '#'))
        return p;
    return std::string::npos;
  }

  void emit_text(std::string text) {
    int start = line_;
    line_ += int(std::count(text.begin(), text.end(), '\n'));
    if (!text.empty()) tokens_.push_back({TokenType::text, std::move(text), start});
  }

  bool at(std::string_view s) const { return source_.compare(pos_, s.size(), s) == 0; }

  void skip_whitespace() {
    while (pos_ < source_.size() && std::isspace(static_cast<unsigned char>(source_[pos_]))) {
      if (source_[pos_] == '\n') ++line_;
      ++pos_;
    }
  }

  // `-` end: all whitespace after the tag goes; plain end of a block: one newline goes.
  void finish_tag(bool strip, bool trim_newline) {
    if (strip) {
      size_t begin = pos_;
      skip_whitespace();
      line_starting_ = pos_ > begin && source_[pos_ - 1] == '\n';
    } else if (trim_newline && pos_ < source_.size() && source_[pos_] == '\n') {
      ++pos_;
      ++line_;
      line_starting_ = true;
    } else {
      line_starting_ = false;
    }
  }

  void skip_comment() {
    int start = line_;
    for (; pos_ < source_.size(); ++pos_) {
      if (at("-#}")) {
        pos_ += 3;
        return finish_tag(true, false);
      }
      if (at("#}")) {
        pos_ += 2;
        return finish_tag(false, true);
      }
      if (source_[pos_] == '\n') ++line_;
    }
    throw TemplateError("missing end of comment tag '#}'", start);
  }

  void lex_tag(bool variable) {
    int start = line_;
    tokens_.push_back({variable ? TokenType::variable_begin : TokenType::block_begin, "", line_});
    std::string closer = variable ? "}}" : "%}";
    int depth = 0;  // open brackets: "}}" inside a dict literal does not end the tag
    while (true) {
      skip_whitespace();
      if (pos_ >= source_.size())
        throw TemplateError(fmt::format("unexpected end of template: the tag opened on line {} is not closed with '{}'",
                                        start, closer), line_);
      if (depth == 0) {
        TokenType end = variable ? TokenType::variable_end : TokenType::block_end;
        if (at("-" + closer)) {
          pos_ += 3;
          tokens_.push_back({end, "", line_});
          return finish_tag(true, false);
        }
        if (!variable && at("+%}")) {
          pos_ += 3;
          tokens_.push_back({end, "", line_});
          return finish_tag(false, false);
        }
        if (at(closer)) {
          pos_ += 2;
          tokens_.push_back({end, "", line_});
          return finish_tag(false, !variable);
        }
      }
      lex_token(depth);
    }
  }

  void lex_token(int& depth) {
    char c = source_[pos_];
    size_t begin = pos_;
    if (is_name_start(c)) {
      while (pos_ < source_.size() && is_name_char(source_[pos_])) ++pos_;
      tokens_.push_back({TokenType::name, source_.substr(begin, pos_ - begin), line_});
    } else if (is_digit(c)) {
      lex_number();
    } else if (c == '\'' || c == '"') {
      lex_string(c);
    } else {
      static const char* operators[] = {"//", "**", "==", "!=", ">=", "<=", "+", "-", "*", "/", "%",
                                        "~", "[", "]", "(", ")", "{", "}", "<", ">", "=", ".",
                                        ":", "|", ",", ";"};
      for (const char* op : operators)
        if (at(op)) {
          pos_ += std::string_view(op).size();
          if (c == '(' || c == '[' || c == '{') ++depth;
          if ((c == ')' || c == ']' || c == '}') && depth > 0) --depth;
          tokens_.push_back({TokenType::op, op, line_});
          return;
        }
      throw TemplateError(fmt::format("unexpected character '{}'", c), line_);
    }
  }

  void lex_number() {
    std::string digits;
    auto take_digits = [&] {
      while (pos_ < source_.size() && (is_digit(source_[pos_]) || (source_[pos_] == '_' && pos_ + 1 < source_.size() && is_digit(source_[pos_ + 1]))))
        if (source_[pos_++] != '_') digits += source_[pos_ - 1];
    };
    take_digits();
    bool floating = false;
    if (pos_ + 1 < source_.size() && source_[pos_] == '.' && is_digit(source_[pos_ + 1])) {
      digits += source_[pos_++];
      take_digits();
      floating = true;
    }
    if (pos_ < source_.size() && (source_[pos_] == 'e' || source_[pos_] == 'E')) {
      size_t sign = pos_ + 1 < source_.size() && (source_[pos_ + 1] == '+' || source_[pos_ + 1] == '-') ? 1 : 0;
      if (pos_ + 1 + sign < source_.size() && is_digit(source_[pos_ + 1 + sign])) {
        digits += 'e';
        if (sign) digits += source_[pos_ + 1];
        pos_ += 1 + sign;
        take_digits();
        floating = true;
      }
    }
    tokens_.push_back({floating ? TokenType::floating : TokenType::integer, digits, line_});
  }

  // Python's unicode-escape rules, as jinja2 decodes string literals.
  void lex_string(char quote) {
    int start = line_;
    std::u32string value;
    ++pos_;
    auto read_hex = [&](int count) {
      char32_t code = 0;
      for (int i = 0; i < count; ++i) {
        int h = pos_ < source_.size() ? hex_value(source_[pos_]) : -1;
        if (h < 0) throw TemplateError(fmt::format("truncated \\x, \\u or \\U escape in a string"), line_);
        code = code * 16 + char32_t(h);
        ++pos_;
      }
      return code;
    };
    while (true) {
      if (pos_ >= source_.size()) throw TemplateError("unterminated string literal", start);
      char c = source_[pos_];
      if (c == quote) {
        ++pos_;
        break;
      }
      if (c == '\n') ++line_;
      if (c != '\\') {
        size_t end = pos_ + 1;
        while (end < source_.size() && (static_cast<unsigned char>(source_[end]) & 0xC0) == 0x80) ++end;
        value += utf8_decode(std::string_view(source_).substr(pos_, end - pos_));
        pos_ = end;
        continue;
      }
      if (pos_ + 1 >= source_.size()) throw TemplateError("unterminated string literal", start);
      char e = source_[pos_ + 1];
      pos_ += 2;
      switch (e) {
        case '\n': ++line_; break;  // a line continuation
        case '\\': value += U'\\'; break;
        case '\'': value += U'\''; break;
        case '"': value += U'"'; break;
        case 'n': value += U'\n'; break;
        case 't': value += U'\t'; break;
        case 'r': value += U'\r'; break;
        case 'a': value += U'\a'; break;
        case 'b': value += U'\b'; break;
        case 'f': value += U'\f'; break;
        case 'v': value += U'\v'; break;
        case 'x': value += read_hex(2); break;
        case 'u': value += read_hex(4); break;
        case 'U': {
          char32_t code = read_hex(8);
          if (code > 0x10FFFF) throw TemplateError("\\U escape past U+10FFFF in a string", line_);
          value += code;
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            char32_t code = char32_t(e - '0');
            for (int i = 0; i < 2 && pos_ < source_.size() && source_[pos_] >= '0' && source_[pos_] <= '7'; ++i)
              code = code * 8 + char32_t(source_[pos_++] - '0');
            value += code;
          } else {  // unknown escapes keep their backslash
            value += U'\\';
            --pos_;
          }
      }
    }
    tokens_.push_back({TokenType::string, utf8_encode(value), start});
  }

  std::string source_;
  size_t pos_ = 0;
  int line_ = 1;
  bool line_starting_ = true;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source) { return Lexer(source).run(); }

}  // namespace vktrain::data::jinja
