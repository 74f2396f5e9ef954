#pragma once
// The sync service (DESIGN §5): the endpoints served over HTTP/1.1 on a Unix socket and, optionally, TCP.
//
// Typical use by the executor:
//   ServiceOptions options;
//   options.run_info_json = info;
//   std::string error;
//   auto sync = Service::start(options, &error);
//   ... for each unit: env MPEXEC_SYNC_TOKEN = sync->registerUnit(id); bind sync->socketPath() into the
//       sandbox at /run/mpexec/sync.sock and set MPEXEC_SYNC_SOCKET to it; when the unit ends, for any
//       reason: sync->unitEnded(id) ...
//   sync->stop(); report sync->operations() and sync->warnings().

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sync-service/endpoints.h"
#include "sync-service/http.h"
#include "sync-service/oplog.h"

namespace mpexec::sync {

struct ServiceOptions {
  /// Where the private run directory (mkdtemp, mode 0700) is made. Its path plus "/sync.sock" must fit in
  /// a sockaddr_un (107 bytes).
  std::string run_dir_parent = "/tmp";
  /// "" for no TCP; otherwise "ADDR" or "ADDR:PORT" ("[V6]:PORT" for IPv6); a missing or 0 port means a
  /// random free one (see tcpPort()).
  std::string tcp_bind;
  /// Answered by GET /v1/run, e.g. {"np": 4, "units": 12, ...}: a JSON object, to which the service adds
  /// "sync_tcp" (the TCP address as HOST:PORT, null without tcp_bind).
  std::string run_info_json = "{}";
  /// Sizes, caps and timeouts of the HTTP front, for each listener (docs/sync.md, "Abuse").
  HttpLimits http;
  Limits limits;
  /// The HTTP front, started when the first connection arrives: `start_http` when set (tests and benchmarks
  /// link sync-service/http.cc and pass startHttp), else the entry point of the shared library at
  /// `http_library` (mpexec: libmpexec-http.so beside it, or in ../lib/mpexec; empty when there is none). A
  /// front that does not start (no library, one that does not load) is reported by warnings(), and the
  /// sockets are closed so that clients are refused at once; a run whose tests never call the service
  /// does not notice.
  StartHttpFn start_http = nullptr;
  std::string http_library;
  /// Takes what batch processes report on /v1/results/* (docs/executor.md, "Batch units"); must outlive
  /// the service. Null: those endpoints answer 404.
  ResultSink* results = nullptr;
};

/// A running service. stop() (or the destructor) ends it: waits answer 503, threads are joined, the socket
/// and the run directory are removed. Not movable: the listener threads point at it.
///
/// start() makes the sockets and one thread that waits for the first connection; only then is the HTTP
/// front started (loaded, for mpexec). Connections made before that wait in the socket's backlog.
class Service {
 public:
  /// Makes the run directory and binds the socket(s); serving starts with the first connection. Null with
  /// `*error` set on failure.
  static std::unique_ptr<Service> start(const ServiceOptions& options, std::string* error);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  /// The Unix socket, mode 0666 inside the 0700 run directory: other host users cannot reach it, while a
  /// sandbox that runs as a mapped uid (or nobody) can still connect through a bind mount of the socket
  /// itself. The bearer token is the authentication.
  const std::string& socketPath() const;
  const std::string& runDir() const;
  /// The bound TCP port, or -1 without tcp_bind.
  int tcpPort() const;
  /// Where a client on this machine reaches the TCP listener, HOST:PORT ("[V6]:PORT"), with a wildcard
  /// bind's host as loopback; "" without tcp_bind.
  const std::string& tcpAddress() const;
  /// Whether the TCP listener takes connections from loopback only (true without tcp_bind).
  bool tcpLoopbackOnly() const;

  /// A fresh 128-bit token (32 hex digits) for the unit, for its MPEXEC_SYNC_TOKEN. Unit ids name units
  /// in the operation log; registering an id again replaces its token and revives an ended id.
  std::string registerUnit(const std::string& unit);
  /// The unit ended, for any reason: its token stops working, its waits are cancelled, its locks released,
  /// its trail blocks left, and it stops consuming every trail.
  void unitEnded(const std::string& unit);

  std::vector<Operation> operations() const;
  uint64_t droppedOperations() const;
  /// Trail problems to report at the end of the run (see Trails::warnings()), and an HTTP front that did
  /// not start.
  std::vector<std::string> warnings() const;

  /// Idempotent; also called by the destructor.
  void stop();

  /// The state, for tests and benchmarks in the same process.
  Endpoints& endpoints();

  struct Impl;

 private:
  explicit Service(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mpexec::sync
