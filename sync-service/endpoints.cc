#include "sync-service/endpoints.h"

#include <boost/json.hpp>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "sync-service/strict_json.h"

namespace mpexec::sync {
namespace json = boost::json;

namespace {

enum class Kind {
  Health,
  Run,
  BoardList,
  BoardKey,
  LockAcquire,
  LockRelease,
  TrailStart,
  TrailFinish,
  TrailDone,
  ResultStarted,
  ResultFinished,
  Unknown
};

struct Route {
  Kind kind = Kind::Unknown;
  std::string name;
  const char* allow = "";
};

bool startsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// Names may hold '/', so "/v1/lock/a/b/acquire" is the lock "a/b": the action is the last segment.
Route route(std::string_view path) {
  if (path == "/v1/health") return {Kind::Health, "", "GET"};
  if (path == "/v1/run") return {Kind::Run, "", "GET"};
  if (path == "/v1/board") return {Kind::BoardList, "", "GET"};
  if (path == "/v1/results/started") return {Kind::ResultStarted, "", "POST"};
  if (path == "/v1/results/finished") return {Kind::ResultFinished, "", "POST"};
  if (startsWith(path, "/v1/board/"))
    return {Kind::BoardKey, std::string(path.substr(10)), "GET, PUT, DELETE"};
  bool lock = startsWith(path, "/v1/lock/");
  if (lock || startsWith(path, "/v1/trail/")) {
    std::string_view rest = path.substr(lock ? 9 : 10);
    size_t slash = rest.rfind('/');
    if (slash == std::string_view::npos) return {};
    std::string name(rest.substr(0, slash));
    std::string_view action = rest.substr(slash + 1);
    if (lock && action == "acquire") return {Kind::LockAcquire, name, "POST"};
    if (lock && action == "release") return {Kind::LockRelease, name, "POST"};
    if (!lock && action == "start") return {Kind::TrailStart, name, "POST"};
    if (!lock && action == "finish") return {Kind::TrailFinish, name, "POST"};
    if (!lock && action == "done") return {Kind::TrailDone, name, "POST"};
  }
  return {};
}

bool allowed(const Route& r, std::string_view method) {
  if (method == "HEAD") method = "GET";
  std::string_view allow = r.allow;
  size_t pos = 0;
  while (pos < allow.size()) {
    size_t end = allow.find(", ", pos);
    if (end == std::string_view::npos) end = allow.size();
    if (allow.substr(pos, end - pos) == method) return true;
    pos = end + 2;
  }
  return false;
}

Reply jsonReply(int status, const json::value& v) { return {status, json::serialize(v), ""}; }

// What a message echoes of a client's path or name: enough to recognise it, never kilobytes of it.
std::string shown(std::string_view text) {
  constexpr size_t kShown = 200;
  return text.size() <= kShown ? std::string(text) : std::string(text.substr(0, kShown)) + "...";
}

// Messages echo keys and paths as sent, which need not be UTF-8.
Reply errorReply(int status, std::string_view message) {
  return jsonReply(status, json::object{{"error", utf8Safe(message)}});
}

std::string_view statusMessage(Status s) {
  switch (s) {
    case Status::Ok:
      return "ok";
    case Status::NotFound:
      return "no such key";
    case Status::Conflict:
      return "precondition failed";
    case Status::Timeout:
      return "timed out waiting";
    case Status::TooMany:
      return "over a sync service limit";
    case Status::Ended:
      return "the unit has ended";
    case Status::Stopping:
      return "the sync service is stopping";
    case Status::Busy:
      return "busy";
  }
  return "unknown";
}

Reply statusReply(Status s, std::string_view detail = {}) {
  std::string message(statusMessage(s));
  if (!detail.empty()) message += ": " + std::string(detail);
  return errorReply(httpStatus(s), message);
}

bool parseUint(const std::string& text, uint64_t* out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

bool parseSeconds(const std::string& text, double* out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty() && std::isfinite(*out) &&
         *out >= 0;
}

// "Bearer TOKEN"; the scheme is case-insensitive (RFC 9110 §11.1).
std::optional<std::string_view> bearer(std::string_view header) {
  constexpr std::string_view kScheme = "bearer";
  if (header.size() <= kScheme.size() || header[kScheme.size()] != ' ') return std::nullopt;
  for (size_t i = 0; i < kScheme.size(); ++i)
    if ((header[i] | 0x20) != kScheme[i]) return std::nullopt;
  header.remove_prefix(kScheme.size());
  while (!header.empty() && header.front() == ' ') header.remove_prefix(1);
  return header;
}

const char* opName(Kind k, bool board_wait) {
  switch (k) {
    case Kind::Run:
      return "run";
    case Kind::BoardList:
      return "board.list";
    case Kind::BoardKey:
      return board_wait ? "board.wait" : "board.get";
    case Kind::LockAcquire:
      return "lock.acquire";
    case Kind::LockRelease:
      return "lock.release";
    case Kind::TrailStart:
      return "trail.start";
    case Kind::TrailFinish:
      return "trail.finish";
    case Kind::TrailDone:
      return "trail.done";
    case Kind::ResultStarted:
      return "results.started";
    case Kind::ResultFinished:
      return "results.finished";
    default:
      return "";
  }
}

// An optional JSON object body, compacted into `*text` with where each of its values is in it: empty means
// {}. Returns false (with a message) when it is not an object. A body nests one level less than any answer
// may: GET /v1/board puts a value two objects deep, where the body held it one deep.
bool parseObjectBody(const std::string& body, std::string* text, std::vector<JsonMember>* members,
                     std::string* message) {
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) return true;
  if (!compactStrictJson(body, text, members, message, kMaxJsonDepth - 1)) {
    *message = "malformed JSON body: " + *message;
    return false;
  }
  if (text->front() != '{') {
    *message = "the body must be a JSON object";
    return false;
  }
  return true;
}

// A version number as JSON writes it: a non-negative integer (-0 included).
bool parseVersion(std::string_view text, uint64_t* out) {
  if (text == "-0") text = "0";
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

// A large answer takes its bytes from the unit's budget until it has been sent (HEAD sends no body); when
// they do not fit, it becomes a 429 that says so. False then.
bool charge(AnswerBudget* answers, const Request& req, Reply* reply) {
  if (answers == nullptr || req.method == "HEAD") return true;
  size_t bytes = reply->shared ? reply->shared->size() : reply->body.size();
  if (answers->take(bytes, &reply->charged)) return true;
  char held[64];
  std::snprintf(held, sizeof held, "%.1f MiB of %.1f", double(answers->held()) / (1 << 20),
                double(answers->max()) / (1 << 20));
  *reply = errorReply(429, "this answer (" + std::to_string(bytes) + " bytes) does not fit beside the " +
                               held + " MiB of answers that the unit has not read yet; read them, then ask again");
  reply->retry_after = 1;
  return false;
}

}  // namespace

bool validName(std::string_view name) {
  if (name.empty() || name.size() > 256) return false;
  for (char c : name) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '/' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Endpoints::Endpoints(const Limits& limits, std::string run_info_json, ResultSink* results)
    : limits_(limits),
      run_info_json_(std::move(run_info_json)),
      results_(results),
      board_(limits.board),
      locks_(limits.locks),
      trails_(limits.trails),
      log_(limits.operations) {}

std::string Endpoints::registerUnit(const std::string& unit) {
  board_.unitStarted(unit);
  locks_.unitStarted(unit);
  trails_.unitStarted(unit);
  return tokens_.issue(unit);
}

void Endpoints::unitEnded(const std::string& unit) {
  int64_t t0 = monotonicNanos();
  tokens_.revoke(unit);
  board_.unitEnded(unit);
  std::vector<std::string> locks = locks_.unitEnded(unit);
  std::vector<std::string> trails = trails_.unitEnded(unit);
  std::string result = "ok";
  // A unit may hold thousands of locks with long names: the log says which, up to a few KiB.
  auto join = [&](const char* label, const std::vector<std::string>& names) {
    if (names.empty()) return;
    result += std::string(" ") + label + "=";
    for (size_t i = 0; i < names.size(); ++i) {
      if (result.size() > 4096) {
        result += ",... (" + std::to_string(names.size() - i) + " more)";
        break;
      }
      result += (i ? "," : "") + names[i];
    }
  };
  join("released_locks", locks);
  join("left_trails", trails);
  log_.record({unit, "unit.ended", "", 200, result, t0, monotonicNanos()});
}

void Endpoints::stop() {
  board_.stop();
  locks_.stop();
  trails_.stop();
}

std::optional<std::string> Endpoints::unitOf(std::string_view authorization) const {
  auto token = bearer(authorization);
  return token ? tokens_.unitOf(*token) : std::nullopt;
}

Reply Endpoints::handle(const Request& req, WaiterLimit* waiters, AnswerBudget* answers) {
  int64_t t0 = monotonicNanos();
  Route r = route(req.path);
  // Liveness needs no token, so that probes and tests can always ask.
  if (r.kind == Kind::Health) {
    if (!allowed(r, req.method)) {
      Reply e = errorReply(405, "method not allowed");
      e.allow = r.allow;
      return e;
    }
    return jsonReply(200, json::object{{"ok", true}});
  }
  std::optional<std::string> unit = unitOf(req.authorization);
  if (!unit) return errorReply(401, "missing or invalid bearer token");
  if (r.kind == Kind::Unknown) return errorReply(404, "no such endpoint: " + shown(req.path));
  if (!allowed(r, req.method)) {
    Reply e = errorReply(405, "method " + shown(req.method) + " not allowed on " + shown(req.path));
    e.allow = r.allow;
    return e;
  }
  bool has_name = r.kind != Kind::Run && r.kind != Kind::BoardList && r.kind != Kind::ResultStarted &&
                  r.kind != Kind::ResultFinished;
  if (has_name && !validName(r.name)) {
    return errorReply(400, "invalid key or name (want [A-Za-z0-9._/-]{1,256}): " + shown(r.name));
  }

  // Query parameters shared by the waiting endpoints.
  double wait_s = 0;
  bool has_wait = req.query.count("wait") > 0;
  if (has_wait && !parseSeconds(req.query.at("wait"), &wait_s)) {
    return errorReply(400, "wait must be a number of seconds >= 0");
  }
  if (!has_wait && (r.kind == Kind::TrailStart || r.kind == Kind::TrailFinish))
    wait_s = limits_.max_wait_seconds;
  wait_s = std::min(wait_s, limits_.max_wait_seconds);
  Deadline deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(wait_s));
  uint64_t after = 0;
  bool has_after = req.query.count("after") > 0;
  if (has_after && !parseUint(req.query.at("after"), &after)) {
    return errorReply(400, "after must be a version number");
  }
  bool board_wait = r.kind == Kind::BoardKey && (has_after || has_wait);

  Operation op;
  op.unit = *unit;
  op.op = opName(r.kind, board_wait);
  op.key = r.name;
  Reply reply;
  std::string result;
  switch (r.kind) {
    case Kind::Run:
      reply = {200, run_info_json_, ""};
      break;
    case Kind::BoardList: {
      std::shared_ptr<const BoardListing> listing;
      Status s = board_.list(&listing);
      if (s == Status::Ok) {
        reply = {200, "", "", listing};
        result = charge(answers, req, &reply) ? "ok" : "too_many";
      } else {
        reply = statusReply(s, "listings of the board being sent take all the memory they may; ask again shortly");
        reply.retry_after = 1;
        result = statusName(s);
      }
      break;
    }
    case Kind::BoardKey:
      if (req.method == "PUT") {
        op.op = "board.put";
        std::string text;
        std::vector<JsonMember> members;
        std::string message;
        if (!parseObjectBody(req.body, &text, &members, &message)) {
          reply = errorReply(400, message);
          break;
        }
        PutCondition cond;
        std::string_view value;
        bool bad = false;
        for (const JsonMember& m : members) {
          std::string_view v = std::string_view(text).substr(m.begin, m.end - m.begin);
          if (m.key == "value") {
            value = v;
          } else if (m.key == "if_absent" && (v == "true" || v == "false")) {
            cond.if_absent = v == "true";
          } else if (m.key == "if_version") {
            uint64_t version = 0;
            bad = bad || !parseVersion(v, &version);
            cond.if_version = version;
          } else {
            bad = true;
          }
        }
        if (bad || value.empty() || (cond.if_absent && cond.if_version)) {
          reply = errorReply(
              400, "want {\"value\": JSON} with at most one of \"if_version\": N, \"if_absent\": true");
          break;
        }
        PutResult put = board_.put(r.name, value, cond);
        if (put.status == Status::Ok) {
          reply = jsonReply(200, json::object{{"version", put.version}});
        } else if (put.status == Status::Conflict) {
          json::value current = put.version ? json::value(put.version) : json::value(nullptr);
          reply = jsonReply(409, json::object{{"error", "precondition failed"}, {"version", current}});
        } else {
          reply = statusReply(put.status, "too many keys or bytes on the board");
        }
        result = statusName(put.status);
      } else if (req.method == "DELETE") {
        op.op = "board.del";
        Status s = board_.erase(r.name);
        reply = s == Status::Ok ? jsonReply(200, json::object{{"deleted", true}}) : statusReply(s);
        result = statusName(s);
      } else if (board_wait) {
        std::shared_ptr<const BoardEntry> e;
        Status s = board_.wait(*unit, r.name, after, deadline, waiters, &e);
        reply = s == Status::Ok ? Reply{200, "", "", e} : statusReply(s);
        result = s == Status::Ok && !charge(answers, req, &reply) ? "too_many" : statusName(s);
      } else {
        std::shared_ptr<const BoardEntry> e = board_.get(r.name);
        reply = e ? Reply{200, "", "", e} : statusReply(Status::NotFound);
        result = !e ? "not_found" : charge(answers, req, &reply) ? "ok" : "too_many";
      }
      break;
    case Kind::LockAcquire: {
      Status s = locks_.acquire(*unit, r.name, deadline, waiters);
      reply = s == Status::Ok
                  ? jsonReply(200, json::object{{"held", true}})
                  : statusReply(s, s == Status::Conflict ? "the unit already holds this lock" : "");
      result = statusName(s);
      break;
    }
    case Kind::LockRelease: {
      Status s = locks_.release(*unit, r.name);
      reply = s == Status::Ok ? jsonReply(200, json::object{{"released", true}})
                              : statusReply(s, "the unit does not hold this lock");
      result = statusName(s);
      break;
    }
    case Kind::TrailStart:
    case Kind::TrailFinish: {
      bool start = r.kind == Kind::TrailStart;
      BlockResult b = start ? trails_.start(*unit, r.name, deadline, waiters)
                            : trails_.finish(*unit, r.name, deadline, waiters);
      if (b.status == Status::Ok) {
        reply = jsonReply(200, json::object{{start ? "first" : "last", b.flag}});
        result = start ? (b.flag ? "first" : "not_first") : (b.flag ? "last" : "not_last");
      } else {
        reply = statusReply(b.status, b.status != Status::Conflict ? ""
                                      : start ? "the unit already started this trail or is inside its block"
                                              : "the unit has not started this trail or is inside its block");
        result = statusName(b.status);
      }
      break;
    }
    case Kind::TrailDone: {
      std::string text;
      std::vector<JsonMember> members;
      std::string message;
      if (!parseObjectBody(req.body, &text, &members, &message)) {
        reply = errorReply(400, message);
        break;
      }
      bool succeeded = true;
      std::string_view ok = members.size() == 1 && members[0].key == "ok"
                                ? std::string_view(text).substr(members[0].begin, members[0].end - members[0].begin)
                                : "";
      if (!members.empty() && ok != "true" && ok != "false") {
        reply = errorReply(400, "want an empty body or {\"ok\": bool}");
        break;
      }
      if (!members.empty()) succeeded = ok == "true";
      Status s = trails_.done(*unit, r.name, succeeded);
      reply = s == Status::Ok ? jsonReply(200, json::object{{"ok", true}})
                              : statusReply(s, "the unit is not inside this trail's block");
      result = statusName(s);
      break;
    }
    case Kind::ResultStarted:
    case Kind::ResultFinished:
      reply = handleResult(r.kind == Kind::ResultStarted, *unit, req.body, &op.key, &result);
      break;
    default:
      reply = errorReply(404, "no such endpoint");
  }
  op.status = reply.status;
  op.result = result.empty() ? (reply.status == 200 ? "ok" : "bad_request") : result;
  op.start_ns = t0;
  op.end_ns = monotonicNanos();
  log_.record(std::move(op));
  return reply;
}

Reply Endpoints::handleResult(bool started, const std::string& unit, const std::string& body, std::string* id,
                              std::string* result) {
  std::string error;
  FinishedResult finished;
  bool ok = started ? parseStartedBody(body, id, &error) : parseFinishedBody(body, &finished, &error);
  if (!ok) return errorReply(400, error);
  ResultStatus s = ResultStatus::NoBatch;
  if (results_ && started) {
    s = results_->started(unit, *id);
  } else if (results_) {
    *id = finished.id;
    *result = resultOutcomeName(finished.outcome);
    s = results_->finished(unit, std::move(finished));
  }
  switch (s) {
    case ResultStatus::Ok:
      if (started) *result = "ok";
      return jsonReply(200, json::object{{"ok", true}});
    case ResultStatus::NoBatch:
      *result = "not_found";
      return errorReply(404, "the unit runs no batch process now");
    case ResultStatus::UnknownId:
      *result = "not_found";
      return errorReply(404, "not an id of this batch process: " + *id);
    case ResultStatus::AlreadyFinished:
      *result = "conflict";
      return errorReply(409, "already finished in this batch process: " + *id);
  }
  return errorReply(500, "unknown result status");
}

}  // namespace mpexec::sync
