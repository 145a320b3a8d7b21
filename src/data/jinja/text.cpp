#include "data/jinja/text.hpp"

#include <unicode/uchar.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include <fmt/format.h>

#include "data/unicode.hpp"

namespace vktrain::data::jinja {
namespace {

// Decodes one code point at text[i], advancing i; malformed sequences become U+FFFD.
char32_t decode_one(std::string_view text, size_t& i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  unsigned char b = byte(i);
  if (b < 0x80) return char32_t(text[i++]);
  int extra = (b >> 5) == 6 ? 1 : (b >> 4) == 14 ? 2 : (b >> 3) == 30 ? 3 : 0;
  if (extra == 0 || i + size_t(extra) >= text.size()) {
    ++i;
    return 0xFFFD;
  }
  char32_t c = b & (0x3F >> extra);
  for (int k = 1; k <= extra; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) {
      ++i;
      return 0xFFFD;
    }
    c = (c << 6) | (byte(i + k) & 0x3F);
  }
  i += size_t(extra) + 1;
  return c;
}

template <typename Map>
std::string map_code_points(std::string_view text, Map map) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    unsigned char b = static_cast<unsigned char>(text[i]);
    if (b < 0x80) {  // ASCII fast path
      out += char(map(char32_t(b)));
      ++i;
    } else {
      append_utf8(out, map(decode_one(text, i)));
    }
  }
  return out;
}

char32_t lower_one(char32_t c) { return char32_t(u_tolower(UChar32(c))); }
char32_t upper_one(char32_t c) { return char32_t(u_toupper(UChar32(c))); }

}  // namespace

std::u32string utf8_decode(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) out += decode_one(text, i);
  return out;
}

std::string utf8_encode(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) append_utf8(out, c);
  return out;
}

size_t utf8_length(std::string_view text) {
  size_t n = 0;
  for (size_t i = 0; i < text.size();) {
    decode_one(text, i);
    ++n;
  }
  return n;
}

bool python_isspace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || c == 0x205F || c == 0x3000;
}

std::string python_strip(std::string_view text, bool left, bool right, const std::string* chars) {
  std::u32string points = utf8_decode(text);
  std::u32string set = chars ? utf8_decode(*chars) : std::u32string();
  std::sort(set.begin(), set.end());  // a search per code point: text x chars steps when unsorted
  auto strip = [&](char32_t c) { return chars ? std::binary_search(set.begin(), set.end(), c) : python_isspace(c); };
  size_t begin = 0, end = points.size();
  if (left)
    while (begin < end && strip(points[begin])) ++begin;
  if (right)
    while (end > begin && strip(points[end - 1])) --end;
  return utf8_encode(std::u32string_view(points).substr(begin, end - begin));
}

std::string python_lower(std::string_view text) { return map_code_points(text, lower_one); }
std::string python_upper(std::string_view text) { return map_code_points(text, upper_one); }

std::string python_capitalize(std::string_view text) {
  std::u32string points = utf8_decode(text);
  for (size_t i = 0; i < points.size(); ++i)
    points[i] = i == 0 ? char32_t(u_totitle(UChar32(points[i]))) : lower_one(points[i]);
  return utf8_encode(points);
}

std::string jinja_title(std::string_view text) {
  // jinja2: words are split on runs of whitespace and -({[<; each word's first character is
  // upper-cased and the rest lower-cased.
  std::u32string points = utf8_decode(text);
  bool word_start = true;
  for (char32_t& c : points) {
    bool separator = python_isspace(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
    if (separator) {
      word_start = true;
      continue;
    }
    c = word_start ? upper_one(c) : lower_one(c);
    word_start = false;
  }
  return utf8_encode(points);
}

std::string python_float_repr(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value < 0 ? "-inf" : "inf";
  if (value == 0) return std::signbit(value) ? "-0.0" : "0.0";
  char buffer[64];
  auto result = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::scientific);
  std::string scientific(buffer, result.ptr);  // shortest round trip: "-d.ddde+XX"
  std::string sign = scientific[0] == '-' ? "-" : "";
  if (!sign.empty()) scientific.erase(0, 1);
  size_t e = scientific.find('e');
  int exponent = std::stoi(scientific.substr(e + 1));
  std::string digits;
  for (size_t i = 0; i < e; ++i)
    if (scientific[i] != '.') digits += scientific[i];
  int point = exponent + 1;  // value = 0.digits * 10^point
  if (point <= -4 || point > 16) {
    std::string mantissa = digits.substr(0, 1);
    if (digits.size() > 1) mantissa += fmt::format(".{}", digits.substr(1));
    return fmt::format("{}{}e{}{:02d}", sign, mantissa, exponent < 0 ? '-' : '+', std::abs(exponent));
  }
  if (point <= 0) return sign + "0." + std::string(size_t(-point), '0') + digits;
  if (size_t(point) >= digits.size()) return sign + digits + std::string(point - digits.size(), '0') + ".0";
  return sign + digits.substr(0, size_t(point)) + "." + digits.substr(size_t(point));
}

std::string python_string_repr(std::string_view text) {
  bool has_single = text.find('\'') != std::string_view::npos;
  bool has_double = text.find('"') != std::string_view::npos;
  char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (char32_t c : utf8_decode(text)) {
    if (c == char32_t(quote) || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || (c >= 0x7F && c < 0xA0)) {
      out += fmt::format("\\x{:02x}", uint32_t(c));
    } else {
      append_utf8(out, c);
    }
  }
  return out + quote;
}

std::string json_string(std::string_view text, bool ensure_ascii) {
  std::string out = "\"";
  for (char32_t c : utf8_decode(text)) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          out += fmt::format("\\u{:04x}", uint32_t(c));
        } else if (ensure_ascii && c > 0x7F) {
          if (c >= 0x10000) {  // a surrogate pair, as Python writes it
            char32_t v = c - 0x10000;
            out += fmt::format("\\u{:04x}\\u{:04x}", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
          } else {
            out += fmt::format("\\u{:04x}", uint32_t(c));
          }
        } else {
          append_utf8(out, c);
        }
    }
  }
  return out + "\"";
}

namespace {

constexpr size_t kShortNeedle = 16;  // std::string_view::find costs text x 16 at most

// failure[i]: the length of the longest proper border of pattern[0..i].
std::vector<size_t> failure_table(std::string_view pattern) {
  std::vector<size_t> failure(pattern.size(), 0);
  for (size_t i = 1, k = 0; i < pattern.size(); ++i) {
    while (k > 0 && pattern[i] != pattern[k]) k = failure[k - 1];
    if (pattern[i] == pattern[k]) ++k;
    failure[i] = k;
  }
  return failure;
}

// The index (in `count` steps of at(0), at(1), ...) where `pattern` ends matching; npos if never.
template <typename At>
size_t kmp_end(std::string_view pattern, const std::vector<size_t>& failure, size_t count, At at) {
  for (size_t i = 0, k = 0; i < count; ++i) {
    while (k > 0 && at(i) != pattern[k]) k = failure[k - 1];
    if (at(i) == pattern[k] && ++k == pattern.size()) return i;
  }
  return std::string::npos;
}

}  // namespace

TextSearch::TextSearch(std::string needle)
    : needle_(std::move(needle)), reversed_(needle_.rbegin(), needle_.rend()) {
  if (needle_.size() <= kShortNeedle) return;
  forward_ = failure_table(needle_);
  backward_ = failure_table(reversed_);
}

size_t TextSearch::find(std::string_view text, size_t from) const {
  if (needle_.size() <= kShortNeedle) return text.find(needle_, from);
  if (from >= text.size()) return std::string::npos;
  size_t end = kmp_end(needle_, forward_, text.size() - from, [&](size_t i) { return text[from + i]; });
  return end == std::string::npos ? end : from + end + 1 - needle_.size();
}

size_t TextSearch::rfind(std::string_view text, size_t end) const {
  end = std::min(end, text.size());
  if (needle_.size() <= kShortNeedle)
    return end < needle_.size() ? std::string::npos : text.rfind(needle_, end - needle_.size());
  size_t hit = kmp_end(reversed_, backward_, end, [&](size_t i) { return text[end - 1 - i]; });
  return hit == std::string::npos ? hit : end - 1 - hit;
}

}  // namespace vktrain::data::jinja
