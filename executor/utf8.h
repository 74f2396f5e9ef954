#pragma once
// Decoding UTF-8 one character at a time, strictly: the one decoder the terminal, the HTML and the JUnit
// writers share, so that what one of them takes for a character the others do too.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mpexec {

struct Utf8Char {
  size_t length = 0;   ///< bytes of the sequence; 0 when `s` does not start with a valid one
  uint32_t code = 0;   ///< the code point (the byte itself when length is 0)
};

/// The character at the start of `s` (non-empty). Overlong forms, surrogates, code points above U+10FFFF
/// and truncated sequences are invalid.
Utf8Char decodeUtf8(std::string_view s);

}  // namespace mpexec
