#pragma once
// The sync service a benchmark program measures: one for the whole program, on its Unix socket and on
// loopback TCP (an ephemeral port), since starting one per benchmark would only measure set-up noise.

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "sync-service/http.h"
#include "sync-service/server.h"

namespace mpexec::sync {

/// The program's service, started on the first call; the program exits, saying why, if it cannot start.
inline Service& benchService() {
  static std::unique_ptr<Service> s = [] {
    ServiceOptions o;
    o.tcp_bind = "127.0.0.1:0";
    o.start_http = &startHttp;
    std::string error;
    auto started = Service::start(o, &error);
    if (!started) {
      std::fprintf(stderr, "sync service: %s\n", error.c_str());
      std::exit(1);
    }
    return started;
  }();
  return *s;
}

}  // namespace mpexec::sync
