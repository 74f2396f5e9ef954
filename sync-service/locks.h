#pragma once
// Named locks owned by units (DESIGN §5). Waiters are served first come, first served.

#include <condition_variable>
#include <cstdint>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "sync-service/status.h"
#include "sync-service/waiters.h"

namespace mpexec::sync {

struct LockLimits {
  size_t max_locks = 10000;  ///< names that are held or waited for at once
};

/// Thread-safe. The owner of a lock is a unit id, never a thread: any request of the unit may release it.
class Locks {
 public:
  explicit Locks(LockLimits limits = {}) : limits_(limits) {}
  Locks(const Locks&) = delete;
  Locks& operator=(const Locks&) = delete;

  /// Takes `name` for `unit`, waiting until `deadline` behind earlier waiters. Returns Ok; Conflict when the
  /// unit already holds it; Timeout; TooMany (a new name over the limit, or no place in `waiters`, which
  /// may be null for unlimited and is taken only when it must wait); Ended; Stopping.
  Status acquire(const std::string& unit, const std::string& name, Deadline deadline, WaiterLimit* waiters);
  /// Ok, or Conflict when `unit` is not the holder.
  Status release(const std::string& unit, const std::string& name);
  std::optional<std::string> holder(const std::string& name) const;

  void unitStarted(const std::string& unit);
  /// Releases every lock the unit holds (returned, sorted) and cancels its waits.
  std::vector<std::string> unitEnded(const std::string& unit);
  void stop();

 private:
  struct Lock {
    std::optional<std::string> holder;
    std::list<uint64_t> queue;  ///< tickets of the waiters, oldest first
  };
  void dropIfUnused(std::map<std::string, Lock>::iterator it);

  const LockLimits limits_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::map<std::string, Lock> locks_;
  uint64_t last_ticket_ = 0;
  std::unordered_set<std::string> ended_;
  bool stopping_ = false;
};

}  // namespace mpexec::sync
