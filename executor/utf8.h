#pragma once
// Decoding UTF-8 one character at a time, strictly: the one decoder the terminal, the HTML and the JUnit
// writers share, so that what one of them takes for a character the others do too.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mpexec {

struct Utf8Char {
  size_t length = 0;   ///< bytes of the sequence; 0 when `s` does not start with a valid one
  uint32_t code = 0;   ///< the code point (the byte itself when length is 0)
};

/// The character at the start of `s` (non-empty). Overlong forms, surrogates, code points above U+10FFFF
/// and truncated sequences are invalid.
Utf8Char decodeUtf8(std::string_view s);

/// True when all of `s` is valid UTF-8.
bool isValidUtf8(std::string_view s);

/// True when `s` is valid UTF-8 without a control character: C0 (U+0000..U+001F, tab and newline too),
/// DEL or C1 (U+007F..U+009F). What a name must be to reach terminals, file names and reports.
bool isControlFree(std::string_view s);

/// `s` with each byte that starts no valid character replaced by U+FFFD, for JSON (which is UTF-8) of
/// text mpexec did not write, such as a path given on the command line.
std::string toValidUtf8(std::string_view s);

}  // namespace mpexec
