#pragma once
// The sync service's HTTP/1.1 front (sync-service/http.cc): one listening socket that Service made, served by
// an epoll loop shared by a few threads. A connection costs a file descriptor and a small buffer while it
// waits, never a thread; every request is bounded in size and time, and the requests, waits and
// connections of each unit (known by its token) are capped, so that no unit and no unauthenticated peer
// can starve another. docs/sync.md, "Abuse", gives the limits and what a client sees over them.
//
// mpexec does not link it: Service loads it from libmpexec-http.so when the first connection arrives, so a
// run whose tests never call the service starts none of its threads. Tests and benchmarks link it and pass
// startHttp directly.

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "sync-service/endpoints.h"
#include "sync-service/http_request.h"
#include "sync-service/waiters.h"

namespace mpexec::sync {

/// Answers one complete request; `waits` is the calling unit's budget of blocked requests and `answers` its
/// budget for large answers, whose Reply::charged the front gives back once the answer is sent (both null
/// for a request without a valid token).
using HttpHandler = std::function<Reply(const Request&, WaiterLimit* waits, AnswerBudget* answers)>;
/// The unit that an Authorization header's token belongs to, if it is live.
using HttpAuthorizer = std::function<std::optional<std::string>(std::string_view authorization)>;

struct HttpLimits {
  RequestLimits request;
  /// Open connections on this listener; 0: a quarter of RLIMIT_NOFILE's soft limit, at least 64 and at most
  /// 4096. Over it, the oldest connection without a token is closed first, then the least recently used
  /// idle connection of the unit holding the most.
  size_t max_connections = 0;
  /// Connections that have not yet carried a valid token, from one TCP address (Unix peers are one).
  size_t max_anonymous_per_peer = 64;
  /// Connections of one unit (those that last carried its token); over it the unit's least recently used
  /// idle connection is closed, or the request gets 429 when none is idle.
  size_t max_unit_connections = 64;
  /// Requests of one unit being read, handled or answered at once; more wait their turn, unread.
  size_t max_unit_requests = 32;
  /// Requests of one unit blocked in a wait at once; more get 429.
  size_t max_unit_waits = 16;
  /// Bytes of request bodies of one unit being read or handled at once, as their Content-Length says (a
  /// chunked body counts as max_body); a request over it waits its turn, unread, unless the unit has none.
  size_t max_unit_body_bytes = 4u << 20;
  /// Bytes of answers over `small_answer` that one unit has not yet read (AnswerBudget); an answer over it
  /// is 429 with Retry-After, unless the unit holds none.
  size_t max_unit_answer_bytes = 4u << 20;
  size_t small_answer = 64u << 10;
  /// Threads: one per request blocked in a wait, plus as many as there are CPUs for the rest. The
  /// per-unit caps keep them far below this.
  size_t max_threads = 4096;
  /// Between requests, and before the first: a connection idle this long is closed.
  std::chrono::milliseconds idle_timeout{60000};
  /// A request's head and body must have arrived this long after its first byte: 408.
  std::chrono::milliseconds request_timeout{10000};
  /// An answer the client does not take for this long closes the connection.
  std::chrono::milliseconds write_timeout{10000};
  /// After refusing a request whose body was not read, what the client still sends is read and dropped,
  /// for at most this long and this many bytes, before the connection is closed: a client that sends a
  /// body the service would have taken before reading the answer gets the answer rather than a reset.
  std::chrono::milliseconds linger{2000};
  size_t linger_bytes = (1u << 20) + (64u << 10);
  /// How often deadlines are checked.
  std::chrono::milliseconds tick{250};
};

struct HttpConfig {
  int listen_fd = -1;  ///< bound and listening; a front that starts owns it and closes it on stop()
  HttpLimits limits;
  HttpHandler handler;
  HttpAuthorizer authorize;
};

class HttpFront {
 public:
  virtual ~HttpFront() = default;
  /// Ends every thread and closes every connection. Requests still being handled must return first (the
  /// caller makes their waits end). Idempotent.
  virtual void stop() = 0;
};

/// Starts serving `config.listen_fd`. Null, with `*error` set, when it did not start.
HttpFront* startHttp(const HttpConfig& config, std::string* error);
using StartHttpFn = HttpFront* (*)(const HttpConfig& config, std::string* error);
/// The library's entry point, looked up by this name.
inline constexpr const char* kStartHttpSymbol = "mpexec_start_http";
inline constexpr const char* kHttpLibraryName = "libmpexec-http.so";

}  // namespace mpexec::sync

extern "C" mpexec::sync::HttpFront* mpexec_start_http(const mpexec::sync::HttpConfig& config, std::string* error);
