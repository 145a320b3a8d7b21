#pragma once
// Text helpers that make C++ strings behave like Python's `str` where the chat templates look:
// strings are UTF-8 bytes here and code points in Python, so length, indexing and slicing go
// through code points; whitespace is Python's `str.isspace` set; `repr` and `json.dumps`
// spell strings and floats exactly as CPython does. Case mapping is per code point (ICU simple
// case mapping), which differs from Python only for the few characters that expand (ß -> SS).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vktrain::data::jinja {

std::u32string utf8_decode(std::string_view text);  // invalid bytes decode as U+FFFD
std::string utf8_encode(std::u32string_view text);
size_t utf8_length(std::string_view text);           // code points

bool python_isspace(char32_t c);
// str.strip / lstrip / rstrip: `chars` empty-and-not-given means whitespace.
std::string python_strip(std::string_view text, bool left, bool right, const std::string* chars = nullptr);

std::string python_lower(std::string_view text);
std::string python_upper(std::string_view text);
std::string python_capitalize(std::string_view text);  // first upper, the rest lower
std::string jinja_title(std::string_view text);        // jinja2's `title` filter rules

// Substring search in time linear in the text (Knuth-Morris-Pratt for long needles), where
// std::string::find may take text x needle steps on hostile input ('a' * 10**6 ~ 'b' in
// 'a' * 3 * 10**6), as does std::boyer_moore_searcher's table for such a needle.
class TextSearch {
 public:
  explicit TextSearch(std::string needle);
  size_t find(std::string_view text, size_t from = 0) const;  // npos when absent
  size_t rfind(std::string_view text, size_t end) const;      // the last match within text[:end]

 private:
  std::string needle_, reversed_;
  std::vector<size_t> forward_, backward_;  // KMP failure tables of needle_ and reversed_
};

std::string python_float_repr(double value);           // repr(float): 1.0, 1e+20, inf, nan
std::string python_string_repr(std::string_view text); // repr(str): 'a', "it's", '\n'
std::string json_string(std::string_view text, bool ensure_ascii = false);  // json.dumps(str)

}  // namespace vktrain::data::jinja
