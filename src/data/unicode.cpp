#include "data/unicode.hpp"

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include "base/error.hpp"

namespace vktrain::data {
namespace {

// Length of the longest prefix of `bytes` (starting at a lead byte) that could begin a valid
// UTF-8 sequence, and whether it is a complete one. The second-byte ranges exclude overlong
// forms, surrogates and code points past U+10FFFF, as the Unicode "maximal subpart" rule needs.
struct Utf8Prefix {
  size_t length;
  bool complete;
};

Utf8Prefix valid_prefix(std::string_view bytes, size_t pos) {
  auto b0 = static_cast<unsigned char>(bytes[pos]);
  if (b0 < 0x80) return {1, true};
  size_t need = 0;
  unsigned char low = 0x80, high = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 3;
    if (b0 == 0xE0) low = 0xA0;
    if (b0 == 0xED) high = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 4;
    if (b0 == 0xF0) low = 0x90;
    if (b0 == 0xF4) high = 0x8F;
  } else {
    return {1, false};
  }
  size_t n = 1;
  while (n < need && pos + n < bytes.size()) {
    auto b = static_cast<unsigned char>(bytes[pos + n]);
    if (n == 1 ? (b < low || b > high) : (b < 0x80 || b > 0xBF)) break;
    ++n;
  }
  return {n, n == need};
}

const icu::Normalizer2& normalizer(NormalForm form) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* n = nullptr;
  switch (form) {
    case NormalForm::nfc: n = icu::Normalizer2::getNFCInstance(status); break;
    case NormalForm::nfd: n = icu::Normalizer2::getNFDInstance(status); break;
    case NormalForm::nfkc: n = icu::Normalizer2::getNFKCInstance(status); break;
    case NormalForm::nfkd: n = icu::Normalizer2::getNFKDInstance(status); break;
  }
  if (U_FAILURE(status) || !n) fail("[tokenizer] ICU normalizer unavailable: {}", u_errorName(status));
  return *n;
}

std::string to_utf8(const icu::UnicodeString& text) {
  std::string out;
  text.toUTF8String(out);
  return out;
}

icu::UnicodeString from_utf8(std::string_view text) {
  return icu::UnicodeString::fromUTF8(icu::StringPiece(text.data(), int32_t(text.size())));
}

}  // namespace

size_t utf8_sequence_length(unsigned char lead) {
  if (lead < 0xC0) return 1;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  return lead < 0xF8 ? 4 : 1;
}

char32_t next_code_point(std::string_view text, size_t& pos) {
  auto lead = static_cast<unsigned char>(text[pos]);
  size_t n = std::min(utf8_sequence_length(lead), text.size() - pos);
  char32_t c = n == 1 ? lead : lead & (0x7F >> n);
  for (size_t i = 1; i < n; ++i) c = (c << 6) | (static_cast<unsigned char>(text[pos + i]) & 0x3F);
  pos += n;
  return c;
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += char(c);
  } else if (c < 0x800) {
    out += char(0xC0 | (c >> 6));
    out += char(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += char(0xE0 | (c >> 12));
    out += char(0x80 | ((c >> 6) & 0x3F));
    out += char(0x80 | (c & 0x3F));
  } else {
    out += char(0xF0 | (c >> 18));
    out += char(0x80 | ((c >> 12) & 0x3F));
    out += char(0x80 | ((c >> 6) & 0x3F));
    out += char(0x80 | (c & 0x3F));
  }
}

bool is_valid_utf8(std::string_view bytes) {
  for (size_t pos = 0; pos < bytes.size();) {
    auto prefix = valid_prefix(bytes, pos);
    if (!prefix.complete) return false;
    pos += prefix.length;
  }
  return true;
}

std::string utf8_lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (size_t pos = 0; pos < bytes.size();) {
    auto prefix = valid_prefix(bytes, pos);
    if (prefix.complete)
      out.append(bytes.substr(pos, prefix.length));
    else
      out += "\xEF\xBF\xBD";
    pos += prefix.length;
  }
  return out;
}

bool is_whitespace(char32_t c) { return u_hasBinaryProperty(UChar32(c), UCHAR_WHITE_SPACE); }

bool is_word_char(char32_t c) {
  if (u_hasBinaryProperty(UChar32(c), UCHAR_ALPHABETIC)) return true;
  if (u_hasBinaryProperty(UChar32(c), UCHAR_JOIN_CONTROL)) return true;
  switch (u_charType(UChar32(c))) {
    case U_NON_SPACING_MARK:
    case U_ENCLOSING_MARK:
    case U_COMBINING_SPACING_MARK:
    case U_DECIMAL_DIGIT_NUMBER:
    case U_CONNECTOR_PUNCTUATION: return true;
    default: return false;
  }
}

bool is_numeric(char32_t c) {
  auto type = u_charType(UChar32(c));
  return type == U_DECIMAL_DIGIT_NUMBER || type == U_LETTER_NUMBER || type == U_OTHER_NUMBER;
}

std::string normalize_unicode(std::string_view text, NormalForm form) {
  const auto& n = normalizer(form);
  UErrorCode status = U_ZERO_ERROR;
  // Most text is already normalized (all ASCII is); skip the UTF-16 round trip then.
  if (n.isNormalizedUTF8(icu::StringPiece(text.data(), int32_t(text.size())), status) &&
      U_SUCCESS(status))
    return std::string(text);
  status = U_ZERO_ERROR;
  auto result = n.normalize(from_utf8(text), status);
  if (U_FAILURE(status)) fail("[tokenizer] Unicode normalization failed: {}", u_errorName(status));
  return to_utf8(result);
}

std::string lowercase_unicode(std::string_view text) {
  auto u = from_utf8(text);
  u.toLower(icu::Locale::getRoot());
  return to_utf8(u);
}

std::string strip_accents(std::string_view text) {
  std::string out;
  for (size_t pos = 0; pos < text.size();) {
    size_t start = pos;
    if (u_charType(UChar32(next_code_point(text, pos))) != U_NON_SPACING_MARK)
      out.append(text.substr(start, pos - start));
  }
  return out;
}

const ByteLevelAlphabet& byte_level_alphabet() {
  // Built once and never changed: immutable shared data, not mutable global state.
  static const ByteLevelAlphabet alphabet = [] {
    ByteLevelAlphabet a;
    a.decode.fill(-1);
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      char32_t c = printable ? char32_t(b) : next++;
      append_utf8(a.encode[b], c);
      a.decode[c] = int16_t(b);
    }
    return a;
  }();
  return alphabet;
}

}  // namespace vktrain::data
