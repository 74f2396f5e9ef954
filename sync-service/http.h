#pragma once
// The sync service's HTTP front (sync-service/http.cc): httplib serving one listening socket that Service
// made, with a pool of threads started as connections need them.
//
// mpexec does not link it: Service loads it from libmpexec-http.so when the first connection arrives, so a
// run whose tests never call the service never loads libcpp-httplib, nor the TLS and compression libraries
// it brings (~2 ms of every mpexec start). Tests and benchmarks link it and pass startHttp directly.

#include <cstddef>
#include <functional>
#include <string>

#include "sync-service/endpoints.h"

namespace mpexec::sync {

using HttpHandler = std::function<Reply(const Request&)>;

struct HttpConfig {
  int listen_fd = -1;  ///< bound and listening; the front owns it from here on and closes it on stop()
  size_t threads = 1;  ///< the most pool threads
  HttpHandler handler;
};

class HttpFront {
 public:
  virtual ~HttpFront() = default;
  /// Ends the accept loop and joins every thread. Idempotent.
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
