#include "sync-service/waiters.h"

namespace mpexec::sync {

bool WaiterLimit::tryEnter() {
  {
    std::lock_guard lock(mu_);
    if (current_ >= max_) return false;
    ++current_;
  }
  if (blocking_) blocking_(true);
  return true;
}

void WaiterLimit::leave() {
  {
    std::lock_guard lock(mu_);
    if (current_ == 0) return;
    --current_;
  }
  if (blocking_) blocking_(false);
}

size_t WaiterLimit::current() const {
  std::lock_guard lock(mu_);
  return current_;
}

}  // namespace mpexec::sync
