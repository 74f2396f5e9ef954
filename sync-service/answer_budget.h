#pragma once
// What one unit makes the service hold for answers it has not yet read.

#include <cstddef>
#include <mutex>

namespace mpexec::sync {

/// Bytes of a unit's large answers (a board value, a listing of the board) that have not yet been written
/// to its sockets (docs/sync.md, "Memory"). An answer over `small` bytes is taken only when it fits within
/// `max` beside the unit's others, or when the unit holds none (so one answer of any size can always go);
/// else the endpoint answers 429 instead. The HTTP front gives the bytes back once the answer is written,
/// or its connection is gone. Answers of `small` bytes or less take nothing: the unit's requests in
/// progress are capped, and so are they. Thread-safe.
class AnswerBudget {
 public:
  AnswerBudget(size_t max, size_t small) : max_(max), small_(small) {}
  AnswerBudget(const AnswerBudget&) = delete;
  AnswerBudget& operator=(const AnswerBudget&) = delete;

  /// Takes what an answer of `bytes` needs, and says how much that was in `*taken` (0 for a small one);
  /// false when it does not fit.
  bool take(size_t bytes, size_t* taken) {
    *taken = 0;
    if (bytes <= small_) return true;
    std::lock_guard lock(mu_);
    if (held_ > 0 && held_ + bytes > max_) return false;
    held_ += bytes;
    *taken = bytes;
    return true;
  }
  void give(size_t bytes) {
    std::lock_guard lock(mu_);
    held_ -= bytes;
  }
  size_t held() const {
    std::lock_guard lock(mu_);
    return held_;
  }
  size_t max() const { return max_; }

 private:
  const size_t max_;
  const size_t small_;
  mutable std::mutex mu_;
  size_t held_ = 0;
};

}  // namespace mpexec::sync
