#include "sync-service/results.h"

#include <boost/json.hpp>
#include <cmath>

#include "sync-service/strict_json.h"

namespace mpexec::sync {
namespace json = boost::json;

namespace {
constexpr const char* kNames[] = {"pass", "fail", "skip", "error"};

// Strict, as every sync body is (sync-service/strict_json.h): no duplicate key, valid UTF-8.
bool parseObject(const std::string& body, json::object* out, std::string* error) {
  json::value v;
  if (!parseStrictJson(body, &v, error)) {
    *error = "malformed JSON body: " + *error;
    return false;
  }
  if (!v.is_object()) {
    *error = "the body must be a JSON object";
    return false;
  }
  *out = std::move(v.as_object());
  return true;
}

bool readId(const json::object& o, std::string* id, std::string* error) {
  const json::value* v = o.if_contains("id");
  if (!v || !v->is_string() || v->as_string().empty()) {
    *error = "want \"id\": a non-empty string";
    return false;
  }
  *id = std::string(v->as_string());
  return true;
}

// An optional string member; false (with the error) when it is there and not a string.
bool readText(const json::object& o, const char* key, std::string* out, std::string* error) {
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) return true;
  if (!v->is_string()) {
    *error = std::string("\"") + key + "\" must be a string";
    return false;
  }
  *out = std::string(v->as_string());
  return true;
}

// One line, cut at `max` bytes without splitting a UTF-8 sequence.
std::string oneLine(std::string s, size_t max) {
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  if (s.size() <= max) return s;
  size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  s.resize(cut);
  return s;
}

}  // namespace

const char* resultOutcomeName(ResultOutcome o) { return kNames[int(o)]; }

std::optional<ResultOutcome> resultOutcomeFromName(std::string_view name) {
  for (int i = 0; i < 4; ++i)
    if (name == kNames[i]) return ResultOutcome(i);
  return std::nullopt;
}

bool parseStartedBody(const std::string& body, std::string* id, std::string* error) {
  json::object o;
  return parseObject(body, &o, error) && readId(o, id, error);
}

bool parseFinishedBody(const std::string& body, FinishedResult* out, std::string* error) {
  json::object o;
  if (!parseObject(body, &o, error) || !readId(o, &out->id, error)) return false;
  const json::value* outcome = o.if_contains("outcome");
  std::optional<ResultOutcome> parsed;
  if (outcome && outcome->is_string()) parsed = resultOutcomeFromName(std::string_view(outcome->as_string()));
  if (!parsed) {
    *error = "want \"outcome\": one of \"pass\", \"fail\", \"skip\", \"error\"";
    return false;
  }
  out->outcome = *parsed;
  if (const json::value* d = o.if_contains("duration_s"); d && !d->is_null()) {
    double s = d->is_number() ? d->to_number<double>() : -1;
    if (!std::isfinite(s) || s < 0) {
      *error = "\"duration_s\" must be a number of seconds >= 0";
      return false;
    }
    out->duration_s = s;
  }
  if (!readText(o, "message", &out->message, error) || !readText(o, "output", &out->output, error) ||
      !readText(o, "note", &out->note, error))
    return false;
  out->message = oneLine(std::move(out->message), kMaxResultMessage);
  if (out->note.size() > kMaxResultNote) {
    *error = "\"note\" must be at most 64 bytes";
    return false;
  }
  for (unsigned char c : out->note) {
    if (c < 0x20 || c == 0x7f) {
      *error = "\"note\" must be printable";
      return false;
    }
  }
  return true;
}

}  // namespace mpexec::sync
