#pragma once
// UTF-8 and Unicode helpers the tokenizer stages share. Hugging Face `tokenizers` is written in
// Rust, so where its behaviour depends on a character class we follow Rust's definitions
// (char::is_whitespace, char::is_numeric, regex `\w`) using ICU's property tables, and invalid
// UTF-8 is replaced the way String::from_utf8_lossy does it.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace vktrain::data {

// Bytes in the UTF-8 sequence that starts with `lead` (1 for continuation or invalid bytes).
size_t utf8_sequence_length(unsigned char lead);

// The code point starting at `pos` of valid UTF-8; advances `pos` past it.
char32_t next_code_point(std::string_view text, size_t& pos);

void append_utf8(std::string& out, char32_t c);

// `bytes` with each maximal invalid subsequence replaced by U+FFFD (Rust's from_utf8_lossy).
std::string utf8_lossy(std::string_view bytes);
bool is_valid_utf8(std::string_view bytes);

bool is_whitespace(char32_t c);  // Rust char::is_whitespace: the White_Space property
bool is_word_char(char32_t c);   // Rust regex `\w`: alphabetic, marks, digits, connectors
bool is_numeric(char32_t c);     // Rust char::is_numeric: general categories Nd, Nl, No

enum class NormalForm { nfc, nfd, nfkc, nfkd };
std::string normalize_unicode(std::string_view text, NormalForm form);
std::string lowercase_unicode(std::string_view text);
std::string strip_accents(std::string_view text);  // drops nonspacing marks (Mn)

// GPT-2's byte-level alphabet: every byte as a printable code point, so byte strings can live in
// a vocabulary of text tokens. `encode[b]` is the UTF-8 of byte b's stand-in.
struct ByteLevelAlphabet {
  std::array<std::string, 256> encode;
  std::array<int16_t, 324> decode;  // stand-in code point -> byte, -1 where none
};
const ByteLevelAlphabet& byte_level_alphabet();

}  // namespace vktrain::data
