#pragma once
// JSON in and out of the sync service, strictly: what is accepted comes back out as the same valid JSON.

#include <boost/json/value.hpp>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace mpexec::sync {

/// Arrays and objects nest at most this deep in what the service sends: the default limit of Boost.JSON,
/// and more than enough for other parsers.
inline constexpr size_t kMaxJsonDepth = 32;

/// Parses `text` as one JSON value. Besides what RFC 8259 refuses (and invalid UTF-8), it refuses what
/// would not come back out as the same JSON: a number that is not finite as a double (1e400), an integer
/// beyond 64 bits, a key that appears twice in one object, and nesting deeper than `max_depth`. False,
/// with `*error` saying where ("at value.a[2]: ...") and what, when it refuses. A tree may take ten times the
/// text: texts over 64 KiB are parsed one at a time, here and in compactStrictJson.
bool parseStrictJson(std::string_view text, boost::json::value* out, std::string* error,
                     size_t max_depth = kMaxJsonDepth);

/// A value of a compacted object: its key, and where the value's text is in the compact text.
struct JsonMember {
  std::string key;
  size_t begin = 0;
  size_t end = 0;
};

/// Checks `text` as parseStrictJson does and, without building a tree, writes it to `*out` without
/// insignificant whitespace: numbers with the digits they came with, strings with JSON's escapes only where
/// JSON needs them (a quote, a backslash, control characters). When the text is an object, `*members` (if
/// not null) gets where each of its values is in `*out`. What the service stores is this text, never a tree
/// (a tree of `[0,0,...]` takes eight times the text). False, with `*error`, as parseStrictJson.
bool compactStrictJson(std::string_view text, std::string* out, std::vector<JsonMember>* members,
                       std::string* error, size_t max_depth = kMaxJsonDepth);

/// `text` with every byte that is not part of valid UTF-8 written as %XX, for messages that echo what a
/// client sent.
std::string utf8Safe(std::string_view text);

}  // namespace mpexec::sync
