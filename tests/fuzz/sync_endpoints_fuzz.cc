// The sync service's request handling (sync-service/endpoints.cc) on arbitrary requests, as the HTTP front
// hands them over. The input is up to eight requests separated by lines "===", each four lines (method;
// percent-decoded path; query as k=v&k=v; Authorization, where TOKEN and TOKEN2 stand for the tokens of two
// units) and then the body. Every reply has a status the service documents and a body that is one UTF-8
// JSON object, with "error" when it is not 200 and Allow on a 405; a value a PUT accepted comes back from
// a GET as the same JSON; what the operation log records (the run report prints it) is UTF-8; what the
// results endpoints hand a batch's ResultSink is checked as their bodies' rules say.

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "executor/printable.h"
#include "executor/utf8.h"
#include "sync-service/endpoints.h"
#include "sync-service/results.h"
#include "sync-service/strict_json.h"
#include "tests/fuzz/fuzz_target.h"
#include "tests/fuzz/oracle.h"

namespace mpexec::fuzz {
namespace {

namespace json = boost::json;

std::vector<std::string_view> splitOn(std::string_view input, std::string_view sep, std::size_t most) {
  std::vector<std::string_view> parts;
  while (parts.size() + 1 < most) {
    std::size_t at = input.find(sep);
    if (at == std::string_view::npos) break;
    parts.push_back(input.substr(0, at));
    input.remove_prefix(at + sep.size());
  }
  parts.push_back(input);
  return parts;
}

std::string replaceAll(std::string s, std::string_view from, const std::string& to) {
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

sync::Request requestFrom(std::string_view text, const std::string& token, const std::string& token2) {
  std::vector<std::string_view> lines = splitOn(text, "\n", 5);
  lines.resize(5);
  sync::Request r;
  r.method = std::string(lines[0]);
  r.path = std::string(lines[1]);
  for (std::string_view kv : splitOn(lines[2], "&", 64)) {
    if (kv.empty()) continue;
    std::size_t eq = kv.find('=');
    r.query.emplace(std::string(kv.substr(0, eq)), eq == std::string_view::npos ? "" : std::string(kv.substr(eq + 1)));
  }
  // TOKEN2 first: TOKEN is a prefix of it.
  r.authorization = replaceAll(replaceAll(std::string(lines[3]), "TOKEN2", token2), "TOKEN", token);
  r.body = std::string(lines[4]);
  return r;
}

void checkReply(const sync::Request& req, const sync::Reply& reply) {
  static const int kStatuses[] = {200, 400, 401, 404, 405, 408, 409, 413, 429, 503};
  FUZZ_CHECK(std::find(std::begin(kStatuses), std::end(kStatuses), reply.status) != std::end(kStatuses),
             "{} {}: status {}", printable(req.method), printable(req.path), reply.status);
  std::string body = reply.text();  // a board entry or listing is sent from the board's own text
  FUZZ_CHECK(isValidUtf8(body) && isJsonDocument(body), "{} {}: body is not UTF-8 JSON: {}", printable(req.method),
             printable(req.path), printable(body));
  json::value v;
  std::string error;
  FUZZ_CHECK(sync::parseStrictJson(body, &v, &error) && v.is_object(), "body {} ({})", printable(body), error);
  if (reply.status != 200) {
    const json::value* e = v.as_object().if_contains("error");
    FUZZ_CHECK(e != nullptr && e->is_string(), "{} without \"error\": {}", reply.status, printable(body));
  }
  if (reply.status == 405) FUZZ_CHECK(!reply.allow.empty(), "405 without Allow");
}

// Takes what batch processes report on /v1/results/*, as the executor would: an id starting with "x" is
// none of the process's; an id finishes once. Checks what the service hands over.
class Sink : public sync::ResultSink {
 public:
  sync::ResultStatus started(const std::string&, const std::string& id) override {
    FUZZ_CHECK(!id.empty() && isValidUtf8(id), "started: id {}", printable(id));
    return id.starts_with("x") ? sync::ResultStatus::UnknownId : sync::ResultStatus::Ok;
  }
  sync::ResultStatus finished(const std::string& unit, sync::FinishedResult r) override {
    FUZZ_CHECK(!r.id.empty() && isValidUtf8(r.id), "finished: id {}", printable(r.id));
    FUZZ_CHECK(r.message.size() <= sync::kMaxResultMessage && isValidUtf8(r.message) &&
                   r.message.find('\n') == std::string::npos,
               "message {}", printable(r.message));
    FUZZ_CHECK(r.note.size() <= sync::kMaxResultNote && isValidUtf8(r.note), "note {}", printable(r.note));
    FUZZ_CHECK(isValidUtf8(r.output), "output not UTF-8");
    FUZZ_CHECK(!r.duration_s || (std::isfinite(*r.duration_s) && *r.duration_s >= 0), "duration {}",
               r.duration_s.value_or(-1));
    if (r.id.starts_with("x")) return sync::ResultStatus::UnknownId;
    return finished_.insert(unit + "\n" + r.id).second ? sync::ResultStatus::Ok : sync::ResultStatus::AlreadyFinished;
  }

 private:
  std::set<std::string> finished_;
};

}  // namespace
}  // namespace mpexec::fuzz

using namespace mpexec;
using namespace mpexec::fuzz;
namespace json = boost::json;

MPEXEC_FUZZ_TARGET(sync_endpoints) {
  sync::Limits limits;
  limits.max_wait_seconds = 0.005;  // waits end at once: a fuzz input must not sleep
  Sink sink;
  sync::Endpoints endpoints(limits, R"({"np": 2, "units": 2, "tests": 2, "run_id": "fuzz"})", &sink);
  const std::string token = endpoints.registerUnit("u0"), token2 = endpoints.registerUnit("u1");
  for (std::string_view text : splitOn(input, "\n===\n", 8)) {
    sync::Request req = requestFrom(text, token, token2);
    sync::Reply reply = endpoints.handle(req, nullptr);
    checkReply(req, reply);
    // A value the board took comes back as the same JSON.
    if (req.method == "PUT" && reply.status == 200) {
      json::value sent;
      std::string error;
      FUZZ_CHECK(sync::parseStrictJson(req.body, &sent, &error), "PUT took a body it cannot parse: {}", error);
      sync::Request get = req;
      get.method = "GET";
      get.query.clear();
      get.body.clear();
      sync::Reply got = endpoints.handle(get, nullptr);
      checkReply(get, got);
      FUZZ_CHECK(got.status == 200, "GET after PUT: {}", got.status);
      json::value back = json::parse(got.text());
      FUZZ_CHECK(back.at("value") == sent.at("value"), "PUT {} came back as {}", printable(json::serialize(sent.at("value"))),
                 printable(json::serialize(back.at("value"))));
    }
  }
  endpoints.unitEnded("u0");
  endpoints.unitEnded("u1");
  for (const sync::Operation& op : endpoints.operations()) {
    FUZZ_CHECK(isValidUtf8(op.unit) && isValidUtf8(op.op) && isValidUtf8(op.key) && isValidUtf8(op.result),
               "operation {} {} {} not UTF-8", printable(op.op), printable(op.key), printable(op.result));
  }
  for (const std::string& w : endpoints.warnings()) FUZZ_CHECK(isValidUtf8(w), "warning {}", printable(w));
}
