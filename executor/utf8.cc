#include "executor/utf8.h"

namespace mpexec {

Utf8Char decodeUtf8(std::string_view s) {
  auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  auto cont = [&](size_t i) { return i < s.size() && (b(i) & 0xC0) == 0x80; };
  const unsigned char c = b(0);
  Utf8Char invalid{0, c};
  if (c < 0x80) return {1, c};
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? Utf8Char{2, uint32_t(c & 0x1F) << 6 | (b(1) & 0x3F)} : invalid;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return invalid;
    if (c == 0xE0 && b(1) < 0xA0) return invalid;   // overlong
    if (c == 0xED && b(1) >= 0xA0) return invalid;  // surrogates
    return {3, uint32_t(c & 0x0F) << 12 | uint32_t(b(1) & 0x3F) << 6 | (b(2) & 0x3F)};
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return invalid;
    if (c == 0xF0 && b(1) < 0x90) return invalid;   // overlong
    if (c == 0xF4 && b(1) >= 0x90) return invalid;  // above U+10FFFF
    return {4, uint32_t(c & 0x07) << 18 | uint32_t(b(1) & 0x3F) << 12 | uint32_t(b(2) & 0x3F) << 6 | (b(3) & 0x3F)};
  }
  return invalid;
}

bool isValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t n = decodeUtf8(s.substr(i)).length;
    if (n == 0) return false;
    i += n;
  }
  return true;
}

bool isControlFree(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    Utf8Char ch = decodeUtf8(s.substr(i));
    if (ch.length == 0 || ch.code < 0x20 || (ch.code >= 0x7F && ch.code <= 0x9F)) return false;
    i += ch.length;
  }
  return true;
}

std::string toValidUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t n = decodeUtf8(s.substr(i)).length;
    if (n == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

}  // namespace mpexec
