#pragma once
// JSON text helpers shared by every reader of user-written JSON: parsing with a line:column on syntax
// errors, JSON pointers (RFC 6901) and short descriptions of values for error messages.

#include <boost/json/value.hpp>

#include <cstddef>
#include <string>
#include <string_view>

#include "sandbox/result.h"

namespace mpexec {

/// A 1-based position in a text. `column` counts UTF-8 code points, as editors do, not bytes.
struct TextLocation {
  std::size_t line = 1;
  std::size_t column = 1;
};

/// The line and column of byte `offset` in `text` (an offset past the end maps to the end).
TextLocation locationOf(std::string_view text, std::size_t offset);

/// Parses one strict JSON document (RFC 8259: no comments, no trailing commas, at most 32 levels deep; a
/// leading byte order mark is ignored). On failure the Error's message reads
/// "FILE:LINE:COLUMN: syntax error: ..." (or "FILE: empty file"), where FILE is `file`, and quotes the text
/// there as valid UTF-8 without control characters. A key that appears twice in one object is an error,
/// "FILE:LINE:COLUMN: duplicate key "K" in one object (first at line L, column C)".
Result<boost::json::value> parseJsonText(std::string_view text, const std::string& file);

/// `key` escaped as one JSON pointer reference token: '~' → "~0", '/' → "~1".
std::string jsonPointerToken(std::string_view key);

/// "a string", "an integer", "an array", ... for "expected X, got Y" messages.
const char* jsonKindName(const boost::json::value& v);

/// The value serialized, made printable(), cut to about `max_chars` characters with "..." when longer.
std::string jsonSnippet(const boost::json::value& v, std::size_t max_chars = 60);

}  // namespace mpexec
