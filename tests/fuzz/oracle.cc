#include "tests/fuzz/oracle.h"

#include <boost/json/basic_parser_impl.hpp>

#include "executor/printable.h"
#include "executor/utf8.h"

#include <cstdint>
#include <set>
#include <vector>

namespace mpexec::fuzz {

namespace json = boost::json;

namespace {

// Accepts every event; a derived handler overrides the ones it watches.
struct PassHandler {
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);
  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) { return true; }
  bool on_object_end(std::size_t, json::error_code&) { return true; }
  bool on_array_begin(json::error_code&) { return true; }
  bool on_array_end(std::size_t, json::error_code&) { return true; }
  bool on_key_part(json::string_view, std::size_t, json::error_code&) { return true; }
  bool on_key(json::string_view, std::size_t, json::error_code&) { return true; }
  bool on_string_part(json::string_view, std::size_t, json::error_code&) { return true; }
  bool on_string(json::string_view, std::size_t, json::error_code&) { return true; }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(std::int64_t, json::string_view, json::error_code&) { return true; }
  bool on_uint64(std::uint64_t, json::string_view, json::error_code&) { return true; }
  bool on_double(double, json::string_view, json::error_code&) { return true; }
  bool on_bool(bool, json::error_code&) { return true; }
  bool on_null(json::error_code&) { return true; }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }
};

struct KeysHandler : PassHandler {
  std::vector<std::set<std::string>> objects;
  std::vector<bool> is_object;
  std::string key;
  std::optional<std::string> repeated;
  bool on_object_begin(json::error_code&) {
    objects.emplace_back();
    is_object.push_back(true);
    return true;
  }
  bool on_object_end(std::size_t, json::error_code&) {
    objects.pop_back();
    is_object.pop_back();
    return true;
  }
  bool on_array_begin(json::error_code&) {
    is_object.push_back(false);
    return true;
  }
  bool on_array_end(std::size_t, json::error_code&) {
    is_object.pop_back();
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    key.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code&) {
    key.append(s.data(), s.size());
    if (!objects.back().insert(key).second && !repeated) repeated = key;
    key.clear();
    return true;
  }
};

template <class Handler>
bool parseAll(json::basic_parser<Handler>& p, std::string_view text) {
  json::error_code ec;
  std::size_t n = p.write_some(false, text.data(), text.size(), ec);
  if (ec) return false;
  for (std::size_t i = n; i < text.size(); ++i)
    if (text[i] != ' ' && text[i] != '\t' && text[i] != '\n' && text[i] != '\r') return false;
  return p.done();
}

json::parse_options deep() {
  json::parse_options o;
  o.max_depth = 10000;  // what mpexec's own parsing allows is not this check's business
  return o;
}

}  // namespace

std::optional<std::string> repeatedKey(std::string_view text) {
  json::basic_parser<KeysHandler> p(deep());
  if (!parseAll(p, text)) return std::nullopt;
  return p.handler().repeated;
}

bool isJsonDocument(std::string_view text) {
  json::basic_parser<PassHandler> p(deep());
  return parseAll(p, text);
}

bool isPrintable(std::string_view text) { return isValidUtf8(text) && printable(text) == text; }

}  // namespace mpexec::fuzz
