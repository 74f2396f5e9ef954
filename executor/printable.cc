#include "executor/printable.h"

#include <fmt/format.h>

#include "executor/utf8.h"

namespace mpexec {

namespace {

bool bidiControl(uint32_t cp) { return (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069); }

}  // namespace

std::string printable(std::string_view text, Newlines newlines) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    Utf8Char ch = decodeUtf8(text.substr(i));
    if (ch.length == 0) {
      out += fmt::format("\\x{:02x}", ch.code);
      ++i;
      continue;
    }
    uint32_t cp = ch.code;
    if (cp == '\t' || (cp == '\n' && newlines == Newlines::Keep)) {
      out += char(cp);
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp < 0x20 || cp == 0x7F) {
      out += fmt::format("\\x{:02x}", cp);
    } else if ((cp >= 0x80 && cp <= 0x9F) || bidiControl(cp)) {
      out += fmt::format("\\u{:04x}", cp);
    } else {
      out.append(text.substr(i, ch.length));
    }
    i += ch.length;
  }
  return out;
}

namespace {

size_t columnsOfChar(uint32_t cp) {
  static constexpr std::pair<uint32_t, uint32_t> kWide[] = {
      {0x1100, 0x115F}, {0x2E80, 0xA4CF}, {0xAC00, 0xD7A3}, {0xF900, 0xFAFF}, {0xFE30, 0xFE4F},
      {0xFF00, 0xFF60}, {0xFFE0, 0xFFE6}, {0x1F300, 0x1F64F}, {0x1F900, 0x1F9FF}, {0x20000, 0x3FFFD}};
  for (auto [lo, hi] : kWide)
    if (cp >= lo && cp <= hi) return 2;
  return 1;
}

}  // namespace

size_t columnsOf(std::string_view text) {
  size_t n = 0;
  for (size_t i = 0; i < text.size();) {
    Utf8Char ch = decodeUtf8(text.substr(i));
    n += columnsOfChar(ch.code);
    i += ch.length ? ch.length : 1;
  }
  return n;
}

std::string_view fitColumns(std::string_view text, size_t columns) {
  size_t used = 0, i = 0;
  while (i < text.size()) {
    Utf8Char ch = decodeUtf8(text.substr(i));
    size_t w = columnsOfChar(ch.code);
    if (used + w > columns) break;
    used += w;
    i += ch.length ? ch.length : 1;
  }
  return text.substr(0, i);
}

}  // namespace mpexec
