#pragma once
// A sync service of its own for each test, in a fresh temporary directory, stopped by the destructor.

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "sync-service/client.h"
#include "sync-service/server.h"
#include "tests/support/temp_dir.h"

namespace mpexec::sync {

class TestService {
 public:
  explicit TestService(ServiceOptions options = {}) {
    options.run_dir_parent = dir_.path();
    if (!options.start_http && options.http_library.empty()) options.start_http = &startHttp;
    std::string error;
    service_ = Service::start(options, &error);
    if (!service_) ADD_FAILURE() << "the sync service did not start: " << error;
  }
  ~TestService() {
    if (service_) service_->stop();
  }
  TestService(const TestService&) = delete;
  TestService& operator=(const TestService&) = delete;

  bool ok() const { return service_ != nullptr; }
  Service& operator*() { return *service_; }
  Service* operator->() { return service_.get(); }

  Endpoint endpoint(const std::string& token) const {
    Endpoint e;
    e.socket_path = service_->socketPath();
    e.token = token;
    return e;
  }
  /// A client of a freshly registered unit.
  SyncClient client(const std::string& unit) { return SyncClient(endpoint(service_->registerUnit(unit))); }

 private:
  test::TempDir dir_;
  std::unique_ptr<Service> service_;
};

}  // namespace mpexec::sync
