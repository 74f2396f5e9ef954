#include "executor/json_location.h"

#include <boost/json/error.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/stream_parser.hpp>

#include <fmt/format.h>

namespace mpexec {

namespace json = boost::json;

TextLocation locationOf(std::string_view text, std::size_t offset) {
  TextLocation loc;
  if (offset > text.size()) offset = text.size();
  for (std::size_t i = 0; i < offset; ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      ++loc.line;
      loc.column = 1;
    } else if ((c & 0xC0) != 0x80) {  // continuation bytes belong to the code point before them
      ++loc.column;
    }
  }
  return loc;
}

namespace {

bool isJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// What the text holds at the failure, so "syntax error near 'tru}'" shows the culprit.
std::string textNear(std::string_view text, std::size_t offset) {
  std::string_view rest = text.substr(std::min(offset, text.size()));
  std::size_t end = rest.find_first_of("\r\n");
  rest = rest.substr(0, std::min<std::size_t>(end, 20));
  return std::string(rest);
}

Error syntaxError(std::string_view text, const std::string& file, std::size_t offset, std::string what) {
  TextLocation loc = locationOf(text, offset);
  return Error{fmt::format("{}:{}:{}", file, loc.line, loc.column), 0, "syntax error: " + what};
}

}  // namespace

Result<json::value> parseJsonText(std::string_view text, const std::string& file) {
  std::size_t first = 0;
  while (first < text.size() && isJsonSpace(text[first])) ++first;
  if (first == text.size()) return Error{file, 0, "empty file"};

  // A monotonic arena: the document is built once, read once and dropped whole.
  json::stream_parser p(json::make_shared_resource<json::monotonic_resource>());
  json::error_code ec;
  std::size_t n = p.write_some(text.data(), text.size(), ec);
  if (ec) {
    std::string near = textNear(text, n);
    std::string what = ec == json::error::syntax && !near.empty() ? fmt::format("unexpected '{}'", near)
                       : near.empty()                             ? ec.message()
                                                                  : fmt::format("{} near '{}'", ec.message(), near);
    return syntaxError(text, file, n, std::move(what));
  }
  if (n < text.size()) {
    std::size_t extra = n;
    while (extra < text.size() && isJsonSpace(text[extra])) ++extra;
    if (extra < text.size()) {
      return syntaxError(text, file, extra,
                         fmt::format("unexpected '{}' after the end of the JSON document", textNear(text, extra)));
    }
  }
  if (!p.done()) return syntaxError(text, file, text.size(), "unexpected end of file (incomplete JSON)");
  p.finish(ec);
  if (ec) return syntaxError(text, file, text.size(), ec.message());
  return p.release();
}

std::string jsonPointerToken(std::string_view key) {
  std::string out;
  out.reserve(key.size());
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

const char* jsonKindName(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: return "null";
    case json::kind::bool_: return "a boolean";
    case json::kind::int64:
    case json::kind::uint64: return "an integer";
    case json::kind::double_: return "a number";
    case json::kind::string: return "a string";
    case json::kind::array: return "an array";
    case json::kind::object: return "an object";
  }
  return "a value";
}

std::string jsonSnippet(const json::value& v, std::size_t max_chars) {
  std::string s = json::serialize(v);
  if (s.size() > max_chars) {
    // Cut on a code point boundary so the message stays valid UTF-8.
    std::size_t cut = max_chars;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
    s.resize(cut);
    s += "...";
  }
  return s;
}

}  // namespace mpexec
