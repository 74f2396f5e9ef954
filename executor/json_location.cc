#include "executor/json_location.h"

#include <boost/json/error.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/stream_parser.hpp>

#include <fmt/format.h>

#include <deque>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "executor/printable.h"

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

// What the text holds at the failure, so "syntax error near 'tru}'" shows the culprit: 20 columns of it,
// cut between characters, made printable() (invalid UTF-8, often the culprit, shown as "\xNN"). No
// character is longer than 4 bytes, so the 80 taken hold the 20 columns whole.
std::string textNear(std::string_view text, std::size_t offset) {
  std::string_view rest = text.substr(std::min(offset, text.size()));
  rest = rest.substr(0, std::min<std::size_t>(rest.find_first_of("\r\n"), 80));
  return std::string(fitColumns(printable(rest), 20));
}

Error syntaxError(std::string_view text, const std::string& file, std::size_t offset, std::string what) {
  TextLocation loc = locationOf(text, offset);
  return Error{fmt::format("{}:{}:{}", file, loc.line, loc.column), 0, "syntax error: " + what};
}

// A key of an object while the text is scanned for duplicates: as written when it has no escape, else
// decoded (so that "a" and "\u0061" are one key).
struct Key {
  std::string_view name;
  std::size_t offset;  // of its opening quote
};

// Appends the UTF-8 encoding of `cp`.
void appendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

uint32_t hex4(std::string_view s) {
  uint32_t v = 0;
  for (char c : s.substr(0, 4)) v = v * 16 + uint32_t(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
  return v;
}

// The contents of a string of valid JSON with its escapes decoded.
std::string unescapeJson(std::string_view body) {
  std::string out;
  for (std::size_t i = 0; i < body.size(); ++i) {
    if (body[i] != '\\') {
      out += body[i];
      continue;
    }
    char e = body[++i];
    switch (e) {
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'u': {
        uint32_t cp = hex4(body.substr(i + 1));
        i += 4;
        // The parser accepted the text, so a high surrogate is followed by "\uDC00".."\uDFFF".
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          cp = 0x10000 + ((cp - 0xD800) << 10) + (hex4(body.substr(i + 3)) - 0xDC00);
          i += 6;
        }
        appendUtf8(out, cp);
        break;
      }
      default: out += e; break;  // '"', '\\', '/'
    }
  }
  return out;
}

struct Duplicate {
  std::string key;
  std::size_t first, second;  // offsets of the two keys
};

// The first key, in the order of the text, that one object of `text` (valid JSON) holds twice.
std::optional<Duplicate> findDuplicateKey(std::string_view text) {
  // Objects are small, except the odd "env" or "groups" one: a linear search until then, a map after.
  constexpr std::size_t kLinear = 16;
  struct Frame {
    bool object;
    bool want_key;
    std::size_t keys_begin;  // its keys are keys[keys_begin..]
    std::unique_ptr<std::unordered_map<std::string_view, std::size_t>> many;  // name → offset
  };
  std::vector<Frame> frames;  // as deep as the parser allowed
  std::vector<Key> keys;
  std::deque<std::string> decoded;  // names of the keys that had escapes
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '{' || c == '[') {
      frames.push_back({c == '{', c == '{', keys.size(), nullptr});
    } else if (c == '}' || c == ']') {
      keys.resize(frames.back().keys_begin);
      frames.pop_back();
    } else if (c == ',') {
      if (!frames.empty() && frames.back().object) frames.back().want_key = true;
    } else if (c == '"') {
      std::size_t open = i;
      bool escaped = false;
      for (++i; text[i] != '"'; ++i) {
        if (text[i] == '\\') {
          escaped = true;
          ++i;
        }
      }
      if (frames.empty() || !frames.back().want_key) continue;
      Frame& f = frames.back();
      f.want_key = false;
      std::string_view name = text.substr(open + 1, i - open - 1);
      if (escaped) name = decoded.emplace_back(unescapeJson(name));
      if (f.many) {
        auto [it, fresh] = f.many->emplace(name, open);
        if (!fresh) return Duplicate{std::string(name), it->second, open};
        continue;
      }
      for (std::size_t k = f.keys_begin; k < keys.size(); ++k) {
        if (keys[k].name == name) return Duplicate{std::string(name), keys[k].offset, open};
      }
      keys.push_back({name, open});
      if (keys.size() - f.keys_begin > kLinear) {
        f.many = std::make_unique<std::unordered_map<std::string_view, std::size_t>>();
        for (std::size_t k = f.keys_begin; k < keys.size(); ++k) f.many->emplace(keys[k].name, keys[k].offset);
      }
    }
  }
  return std::nullopt;
}

}  // namespace

Result<json::value> parseJsonText(std::string_view text, const std::string& file) {
  // RFC 8259 lets a parser ignore a byte order mark; editors on Windows write one. Lines and columns are
  // counted after it, as editors show them.
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
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
  // The parser keeps the last of two equal keys; in a file a person wrote, the other one is a mistake.
  if (auto dup = findDuplicateKey(text)) {
    TextLocation at = locationOf(text, dup->second), first_at = locationOf(text, dup->first);
    std::string key = printable(json::serialize(json::string_view(dup->key)));
    if (columnsOf(key) > 60) key = std::string(fitColumns(key, 60)) + "...";
    return Error{fmt::format("{}:{}:{}", file, at.line, at.column), 0,
                 fmt::format("duplicate key {} in one object (first at line {}, column {})", key, first_at.line,
                             first_at.column)};
  }
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
  // JSON escapes C0 controls but not C1 ones or bidirectional overrides, which a terminal acts on too.
  std::string s = printable(json::serialize(v));
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
