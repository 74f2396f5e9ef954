#pragma once
// Checks the fuzz targets make of what mpexec writes. The JSON ones are written apart from the code they
// check: Boost.JSON's SAX parser (basic_parser) with handlers of their own.

#include <optional>
#include <string>
#include <string_view>

namespace mpexec::fuzz {

/// A key that some object of `text` holds twice; none when there is none or `text` is not JSON.
std::optional<std::string> repeatedKey(std::string_view text);

/// True when `text` is one JSON document (RFC 8259, with valid UTF-8 in every string) and nothing else
/// but whitespace.
bool isJsonDocument(std::string_view text);

/// True when a terminal can show `text` as it is: valid UTF-8 that printable() leaves unchanged (no
/// control character but tab, no bidirectional override).
bool isPrintable(std::string_view text);

}  // namespace mpexec::fuzz
