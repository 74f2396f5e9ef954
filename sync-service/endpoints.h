#pragma once
// The DESIGN §5 endpoints over the sync state, without any transport: the HTTP server is a thin adapter that
// turns each request into a Request and writes the Reply back.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>
#include <utility>

#include "sync-service/answer_budget.h"
#include "sync-service/board.h"
#include "sync-service/locks.h"
#include "sync-service/oplog.h"
#include "sync-service/results.h"
#include "sync-service/tokens.h"
#include "sync-service/trails.h"
#include "sync-service/waiters.h"

namespace mpexec::sync {

struct Request {
  std::string method;  ///< "GET", "PUT", ...
  std::string path;    ///< percent-decoded, without the query
  std::map<std::string, std::string> query;
  std::string body;
  std::string authorization;  ///< the Authorization header, "" when absent
};

struct Reply {
  Reply() = default;
  Reply(int status, std::string body, std::string allow = "", std::shared_ptr<const SharedBody> shared = nullptr)
      : status(status), body(std::move(body)), allow(std::move(allow)), shared(std::move(shared)) {}

  int status = 200;
  std::string body;   ///< JSON; errors are {"error": "..."}
  std::string allow;  ///< for 405: the methods the path accepts
  /// When set, the body is this instead of `body`: text the service holds anyway (a board entry, a
  /// listing), sent without a copy.
  std::shared_ptr<const SharedBody> shared;
  int retry_after = 0;  ///< seconds, for a Retry-After field (a 429 or 503 that will pass); 0: none
  size_t charged = 0;   ///< bytes taken from the unit's AnswerBudget, to give back once the answer is sent

  /// The body as it is sent, `shared` or `body`: a copy, for tests and callers without a socket.
  std::string text() const {
    if (!shared) return body;
    std::string out;
    out.reserve(shared->size());
    for (size_t i = 0; i < shared->pieces(); ++i) out += shared->piece(i);
    return out;
  }
};

struct Limits {
  BoardLimits board;
  LockLimits locks;
  TrailLimits trails;
  size_t operations = 100000;     ///< operation log capacity
  double max_wait_seconds = 300;  ///< longer `wait` parameters are cut to this
};

/// True for a valid key, lock or trail name: [A-Za-z0-9._/-]{1,256}.
bool validName(std::string_view name);

/// Thread-safe. handle() may block in a wait for up to Limits::max_wait_seconds.
class Endpoints {
 public:
  /// `run_info_json` is answered verbatim by GET /v1/run. `results` takes what batch processes report on
  /// /v1/results/* (null: those answer 404, no unit runs a batch).
  Endpoints(const Limits& limits, std::string run_info_json, ResultSink* results = nullptr);
  Endpoints(const Endpoints&) = delete;
  Endpoints& operator=(const Endpoints&) = delete;

  /// Answers one request. `waiters` bounds the requests blocked at once (null: unlimited); `answers` is the
  /// calling unit's budget for large answers (null: unlimited), which the caller gives `Reply::charged` back
  /// to once the answer has been sent.
  Reply handle(const Request& req, WaiterLimit* waiters, AnswerBudget* answers = nullptr);
  /// The unit whose live token an Authorization header carries ("Bearer TOKEN", the scheme in any case).
  std::optional<std::string> unitOf(std::string_view authorization) const;

  /// A fresh token for the unit; clears an earlier unitEnded() of the same id.
  std::string registerUnit(const std::string& unit);
  /// Invalidates the unit's token, cancels its waits, releases its locks, leaves its trail blocks and drops
  /// it from every trail it consumes. Recorded as a "unit.ended" operation.
  void unitEnded(const std::string& unit);
  /// Makes every wait, now and later, answer 503.
  void stop();

  std::vector<Operation> operations() const { return log_.snapshot(); }
  uint64_t droppedOperations() const { return log_.dropped(); }
  std::vector<std::string> warnings() const { return trails_.warnings(); }

  Board& board() { return board_; }
  Locks& locks() { return locks_; }
  Trails& trails() { return trails_; }

 private:
  /// POST /v1/results/started or /finished for `unit`; sets the operation's key (the id) and result.
  Reply handleResult(bool started, const std::string& unit, const std::string& body, std::string* id,
                     std::string* result);

  const Limits limits_;
  const std::string run_info_json_;
  ResultSink* const results_;
  Board board_;
  Locks locks_;
  Trails trails_;
  Tokens tokens_;
  OperationLog log_;
};

}  // namespace mpexec::sync
