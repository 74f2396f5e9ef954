#pragma once
// A small HTTP/1.1 client for the sync service, over its Unix socket or TCP, with keep-alive. It speaks
// only what the service answers (Content-Length bodies), so it needs no HTTP library.

#include <memory>
#include <string>
#include <string_view>

namespace mpexec::sync {

struct HttpResponse {
  int status = 0;
  std::string body;
  int retry_after = 0;  ///< seconds, from a Retry-After field (a 429 or 503 that will pass); 0: none
};

/// A response, or why there is none (a connection or protocol error).
struct ClientResult {
  HttpResponse response;
  std::string error;  ///< empty on success
  bool ok() const { return error.empty(); }
};

/// Where the service is and the calling unit's token.
struct Endpoint {
  std::string socket_path;  ///< used when tcp_host is empty
  std::string tcp_host;
  int tcp_port = 0;
  std::string token;

  /// From the environment: MPEXEC_SYNC_TOKEN, and MPEXEC_SYNC_TCP=HOST:PORT if set, else
  /// MPEXEC_SYNC_SOCKET, else /run/mpexec/sync.sock.
  static Endpoint fromEnvironment();
};

/// One connection, kept alive across requests and reopened when the server has closed it. Move-only; not
/// thread-safe (use one per thread).
class SyncClient {
 public:
  explicit SyncClient(Endpoint endpoint);
  ~SyncClient();
  SyncClient(SyncClient&&) noexcept;
  SyncClient& operator=(SyncClient&&) noexcept;

  /// Sends `method target` (target = path plus query, already safe for a URL) with a JSON body when
  /// non-empty, and reads the answer. A request on a reused connection that the server had already closed
  /// is sent once more on a new one (the server never saw it).
  ClientResult request(std::string_view method, std::string_view target, std::string_view body = {});

 private:
  Endpoint endpoint_;
  int fd_ = -1;
  std::string buffer_;  ///< bytes read past the last response
};

}  // namespace mpexec::sync
