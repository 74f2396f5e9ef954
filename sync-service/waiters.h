#pragma once
// A budget of threads that may block in long polls at once.

#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>

namespace mpexec::sync {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

/// Counts the requests blocked in a wait (board wait, lock acquire, trail block); one over `max` is refused
/// (Status::TooMany) instead of waiting. The HTTP front keeps one per unit, and learns through `blocking`
/// when a request is about to block its thread (true) and when it is done waiting (false). Thread-safe.
class WaiterLimit {
 public:
  explicit WaiterLimit(size_t max, std::function<void(bool)> blocking = {})
      : max_(max), blocking_(std::move(blocking)) {}
  WaiterLimit(const WaiterLimit&) = delete;
  WaiterLimit& operator=(const WaiterLimit&) = delete;

  /// Takes one place; false when all `max` are taken.
  bool tryEnter();
  /// Gives back a place taken by tryEnter().
  void leave();
  size_t current() const;
  size_t max() const { return max_; }

 private:
  const size_t max_;
  const std::function<void(bool)> blocking_;
  mutable std::mutex mu_;
  size_t current_ = 0;
};

/// Holds one place of a WaiterLimit (or none: `limit` may be null, meaning unlimited) for a scope.
class WaiterSlot {
 public:
  explicit WaiterSlot(WaiterLimit* limit) : limit_(limit) { ok_ = limit_ == nullptr || limit_->tryEnter(); }
  WaiterSlot(const WaiterSlot&) = delete;
  WaiterSlot& operator=(const WaiterSlot&) = delete;
  ~WaiterSlot() {
    if (limit_ != nullptr && ok_) limit_->leave();
  }
  /// False when the limit was full: the caller must not wait.
  bool ok() const { return ok_; }

 private:
  WaiterLimit* limit_;
  bool ok_;
};

}  // namespace mpexec::sync
