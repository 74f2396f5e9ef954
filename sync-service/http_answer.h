#pragma once
// An answer of the sync service's HTTP front (sync-service/http.cc): its head as the front writes it, and
// the answer on its way to a client: its head, then its body, written without blocking from where the
// socket last stopped taking it. A large body is the answer's own string, moved in, or a SharedBody that
// many connections send at once (a listing of the board): neither is copied.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "sync-service/endpoints.h"
#include "sync-service/shared_body.h"

namespace mpexec::sync {

/// The reason phrase of `status` ("Not Found"); "Status" for one the front never sends.
const char* reasonPhrase(int status);

/// {"error": message}. A message may quote what a client sent (a field's value, a chunk size): bytes outside
/// printable ASCII are written %XX, so that the body is UTF-8 JSON whatever came in.
std::string errorBody(std::string_view message);

/// What the head says of the connection: nothing (HTTP/1.1 keeps it), "keep-alive" (to an HTTP/1.0 client
/// that asked for it), or "close".
enum class Connection { KeepAlive, KeepAliveHttp10, Close };

/// The head of `reply`'s answer: status line, Content-Type (JSON), Content-Length (of `shared` when set,
/// else of `body`), Allow, Retry-After and Connection when they apply, and the empty line.
std::string answerHead(const Reply& reply, Connection connection);

class OutgoingAnswer {
 public:
  /// Starts a new answer: `head` (status line and fields, and a small body after them), then `body`, then
  /// `shared` (either may be empty).
  void start(std::string head, std::string body, std::shared_ptr<const SharedBody> shared);
  /// Writes what the socket takes now. False when the connection failed; true when all went, or the rest
  /// must wait for the socket to drain.
  bool send(int fd);
  bool done() const { return item_ >= items(); }
  /// Bytes written so far: progress, for the write deadline.
  size_t sent() const { return sent_; }
  /// Drops the answer, keeping a small buffer for the next.
  void clear();

 private:
  size_t items() const { return 2 + (shared_ ? shared_->pieces() : 0); }
  std::string_view item(size_t i) const;
  /// Moves past written and empty items.
  void skip();

  std::string head_;
  std::string body_;
  std::shared_ptr<const SharedBody> shared_;
  size_t item_ = 2;  ///< 0: head_, 1: body_, 2 + i: piece i of shared_; done when past the last
  size_t offset_ = 0;
  size_t sent_ = 0;
};

}  // namespace mpexec::sync
