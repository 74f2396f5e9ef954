#include "sync-service/oplog.h"

#include <time.h>

namespace mpexec::sync {

int64_t monotonicNanos() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

void OperationLog::record(Operation op) {
  std::lock_guard lock(mu_);
  if (ops_.size() >= capacity_) {
    ++dropped_;
    return;
  }
  ops_.push_back(std::move(op));
}

std::vector<Operation> OperationLog::snapshot() const {
  std::lock_guard lock(mu_);
  return ops_;
}

uint64_t OperationLog::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

}  // namespace mpexec::sync
