#include "sync-service/strict_json.h"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/parse.hpp>
#include <cmath>
#include <mutex>
#include <set>
#include <vector>

namespace mpexec::sync {
namespace json = boost::json;

namespace {

// JSON's escapes for a string's bytes (already checked UTF-8): a quote, a backslash and control characters.
void appendEscaped(std::string* out, std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  size_t plain = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out->append(s.data() + plain, i - plain);
    plain = i + 1;
    switch (c) {
      case '"': *out += "\\\""; break;
      case '\\': *out += "\\\\"; break;
      case '\b': *out += "\\b"; break;
      case '\f': *out += "\\f"; break;
      case '\n': *out += "\\n"; break;
      case '\r': *out += "\\r"; break;
      case '\t': *out += "\\t"; break;
      default: *out += {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
    }
  }
  out->append(s.data() + plain, s.size() - plain);
}

// A pass over the text that builds no tree: it knows each number's text (boost.json turns an integer
// beyond 64 bits into a double, and 1e400 into infinity) and every key of every object, and can write the
// text again without whitespace.
class Checker {
 public:
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);

  /// Writes the compact text to `out` from now on, and where the top-level object's values are to `members`
  /// (may be null).
  void writeTo(std::string* out, std::vector<JsonMember>* members) {
    out_ = out;
    members_ = members;
  }

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_array_begin(json::error_code&) {
    valueBegins();
    write("[");
    frames_.push_back({});
    return true;
  }
  bool on_array_end(std::size_t, json::error_code&) {
    write("]");
    return endContainer();
  }
  bool on_object_begin(json::error_code&) {
    valueBegins();
    write("{");
    frames_.push_back({});
    frames_.back().object = true;
    return true;
  }
  bool on_object_end(std::size_t, json::error_code&) {
    write("}");
    return endContainer();
  }
  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    if (!in_string_) {
      valueBegins();
      write("\"");
      in_string_ = true;
    }
    if (out_) appendEscaped(out_, s);
    return true;
  }
  bool on_string(json::string_view s, std::size_t n, json::error_code& ec) {
    on_string_part(s, n, ec);
    write("\"");
    in_string_ = false;
    return valueDone();
  }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    key_.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code& ec) {
    key_.append(s.data(), s.size());
    Frame& f = frames_.back();
    f.key = std::move(key_);
    key_.clear();
    if (!f.keys.insert(f.key).second) return refuse(ec, "the key appears twice in one object");
    if (out_) {
      if (f.keys.size() > 1) *out_ += ',';
      *out_ += '"';
      appendEscaped(out_, f.key);
      *out_ += "\":";
    }
    return true;
  }
  bool on_number_part(json::string_view s, json::error_code&) {
    number_.append(s.data(), s.size());
    return true;
  }
  bool on_int64(int64_t, json::string_view s, json::error_code&) { return numberDone(s); }
  bool on_uint64(uint64_t, json::string_view s, json::error_code&) { return numberDone(s); }
  bool on_double(double d, json::string_view s, json::error_code& ec) {
    number_.append(s.data(), s.size());
    std::string shown = number_.substr(0, 40) + (number_.size() > 40 ? "..." : "");
    if (number_.find_first_of(".eE") == std::string::npos)
      return refuse(ec, "the integer " + shown + " does not fit in 64 bits");
    if (!std::isfinite(d)) return refuse(ec, "the number " + shown + " is beyond the range of a double");
    return numberDone({});
  }
  bool on_bool(bool b, json::error_code&) {
    valueBegins();
    write(b ? "true" : "false");
    return valueDone();
  }
  bool on_null(json::error_code&) {
    valueBegins();
    write("null");
    return valueDone();
  }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

  const std::string& problem() const { return problem_; }
  /// Where the parser is: "value.a[2]", or "the top level".
  std::string path() const {
    std::string out;
    for (const Frame& f : frames_) {
      if (f.object && f.key.empty()) break;  // an object before its first key
      if (f.object) {
        out += (out.empty() ? "" : ".") + utf8Safe(f.key.substr(0, 64));
      } else {
        out += "[" + std::to_string(f.index) + "]";
      }
    }
    return out.empty() ? "the top level" : out;
  }

 private:
  struct Frame {
    bool object = false;
    size_t index = 0;  ///< arrays: the element being read
    std::string key;   ///< objects: the key being read
    std::set<std::string, std::less<>> keys;
  };

  void write(std::string_view s) {
    if (out_) out_->append(s);
  }
  // Before any value: the comma that separates it from the one before it in an array, and where a value of
  // the top-level object starts.
  void valueBegins() {
    if (!out_) return;
    if (!frames_.empty() && !frames_.back().object && frames_.back().index > 0) *out_ += ',';
    if (frames_.size() == 1 && frames_[0].object) member_begin_ = out_->size();
  }
  bool endContainer() {
    frames_.pop_back();
    return valueDone();
  }
  bool numberDone(json::string_view last) {
    number_.append(last.data(), last.size());
    valueBegins();
    write(number_);
    number_.clear();
    return valueDone();
  }
  bool valueDone() {
    if (frames_.empty()) return true;
    if (!frames_.back().object) ++frames_.back().index;
    if (members_ && frames_.size() == 1 && frames_[0].object)
      members_->push_back({frames_[0].key, member_begin_, out_->size()});
    return true;
  }
  bool refuse(json::error_code& ec, std::string what) {
    problem_ = "at " + path() + ": " + std::move(what);
    ec = json::error::exception;
    return false;
  }

  std::vector<Frame> frames_;
  std::string key_;
  std::string number_;
  std::string problem_;
  std::string* out_ = nullptr;
  std::vector<JsonMember>* members_ = nullptr;
  bool in_string_ = false;
  size_t member_begin_ = 0;
};

// What checking a text costs beside the text (the keys of its objects, a tree) can be ten times its size;
// texts over this size are checked one at a time, so that many requests at once cannot add it up.
constexpr size_t kBigText = 64u << 10;
std::mutex big_text;

// One pass of the checker over `text`, writing what `checker` was told to; false with `*error` saying
// where and what.
bool check(std::string_view text, json::basic_parser<Checker>& checker, size_t max_depth, std::string* error) {
  json::error_code ec;
  size_t used = checker.write_some(false, text.data(), text.size(), ec);
  // write_some stops after one value, before or in whitespace that follows it.
  size_t extra = text.find_first_not_of(" \t\r\n", used);
  if (!ec && extra != std::string_view::npos) {
    ec = json::error::extra_data;
    used = extra;
  }
  if (!ec) return true;
  if (!checker.handler().problem().empty()) {
    *error = checker.handler().problem();
  } else if (ec == json::error::too_deep) {
    *error = "at " + checker.handler().path() + ": arrays and objects nest deeper than " + std::to_string(max_depth) +
             " levels";
  } else if (ec == json::error::syntax && used < text.size() && static_cast<unsigned char>(text[used]) >= 0x80) {
    *error = "invalid UTF-8 at byte " + std::to_string(used);
  } else {
    *error = ec.message() + " at byte " + std::to_string(used);
  }
  return false;
}

json::parse_options depth(size_t max_depth) {
  json::parse_options options;
  options.max_depth = max_depth;
  return options;
}

}  // namespace

bool parseStrictJson(std::string_view text, json::value* out, std::string* error, size_t max_depth) {
  std::unique_lock<std::mutex> one_at_a_time(big_text, std::defer_lock);
  if (text.size() > kBigText) one_at_a_time.lock();
  json::basic_parser<Checker> checker(depth(max_depth));
  if (!check(text, checker, max_depth, error)) return false;
  json::error_code ec;
  *out = json::parse(text, ec, {}, depth(max_depth));
  if (ec) {  // the checker saw nothing wrong, so this should not happen
    *error = ec.message();
    return false;
  }
  return true;
}

bool compactStrictJson(std::string_view text, std::string* out, std::vector<JsonMember>* members, std::string* error,
                       size_t max_depth) {
  std::unique_lock<std::mutex> one_at_a_time(big_text, std::defer_lock);
  if (text.size() > kBigText) one_at_a_time.lock();
  out->clear();
  if (members) members->clear();
  json::basic_parser<Checker> checker(depth(max_depth));
  checker.handler().writeTo(out, members);
  return check(text, checker, max_depth, error);
}

std::string utf8Safe(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  static const char kHex[] = "0123456789ABCDEF";
  for (size_t i = 0; i < text.size();) {
    auto c = static_cast<unsigned char>(text[i]);
    // The length of a well-formed sequence starting here (RFC 3629's table), 0 when there is none.
    size_t len = c < 0x80 ? 1 : (c >= 0xc2 && c <= 0xdf) ? 2 : (c >= 0xe0 && c <= 0xef) ? 3 : (c >= 0xf0 && c <= 0xf4) ? 4 : 0;
    bool ok = len > 0 && i + len <= text.size();
    for (size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(text[i + k]) & 0xc0) == 0x80;
    if (ok && len >= 3) {
      auto c1 = static_cast<unsigned char>(text[i + 1]);
      ok = !(c == 0xe0 && c1 < 0xa0) && !(c == 0xed && c1 > 0x9f) && !(c == 0xf0 && c1 < 0x90) && !(c == 0xf4 && c1 > 0x8f);
    }
    if (ok) {
      out.append(text.data() + i, len);
      i += len;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
      ++i;
    }
  }
  return out;
}

}  // namespace mpexec::sync
