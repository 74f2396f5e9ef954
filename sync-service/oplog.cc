#include "sync-service/oplog.h"

#include <time.h>

namespace mpexec::sync {

int64_t monotonicNanos() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

void OperationLog::record(Operation op) {
  // A key is a board key, a lock's or a trail's name (at most 256 bytes), or a result's id, as long as the
  // client made it: up to the 1 MiB a body may have, which kept for each of 100,000 operations took mpexec
  // past any machine's memory. The log keeps the first 256 bytes, cut where a UTF-8 character starts.
  constexpr size_t kKeptKey = 256;
  if (op.key.size() > kKeptKey) {
    size_t n = kKeptKey;
    while (n > 0 && (static_cast<unsigned char>(op.key[n]) & 0xC0) == 0x80) --n;
    op.key = op.key.substr(0, n);
  }
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
