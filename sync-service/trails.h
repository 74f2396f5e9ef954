#pragma once
// Trails (DESIGN §5): reference-counted shared setup/teardown, each trail with its own block.

#include <condition_variable>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#include "sync-service/status.h"
#include "sync-service/waiters.h"

namespace mpexec::sync {

struct TrailLimits {
  size_t max_trails = 1000;  ///< trails with a consumer, a unit in the block or a waiter, at once
};

/// A start's `first` or a finish's `last`, valid when status is Ok.
struct BlockResult {
  Status status = Status::Ok;
  bool flag = false;
};

/// A trail as seen from outside, for tests and diagnostics.
struct TrailView {
  std::set<std::string> consumers;
  std::optional<std::string> in_block;
};

/// Thread-safe. A trail's consumers are the units that started it and have not finished it. Each trail has
/// its own block: a unit inside trail A's block never delays trail B. Waiters enter first come, first served.
class Trails {
 public:
  explicit Trails(TrailLimits limits = {}) : limits_(limits) {}
  Trails(const Trails&) = delete;
  Trails& operator=(const Trails&) = delete;

  /// Waits until no unit is inside the trail's block, enters it and becomes a consumer. `first` is true when
  /// the trail had no consumer. Conflict when the unit already consumes the trail or is inside its block.
  /// Timeout, TooMany (trail limit, or no place in `waiters`; null = unlimited), Ended, Stopping.
  BlockResult start(const std::string& unit, const std::string& name, Deadline deadline,
                    WaiterLimit* waiters);
  /// Waits likewise, enters the block and stops consuming. `last` is true when the unit was the only
  /// consumer left. Conflict when the unit does not consume the trail or is inside its block.
  BlockResult finish(const std::string& unit, const std::string& name, Deadline deadline,
                     WaiterLimit* waiters);
  /// Leaves the block. `succeeded == false` after a start block means the start's command failed: the unit
  /// stops consuming, so the next starter gets `first` again when nobody else consumes the trail.
  /// Conflict when the unit is not inside the block.
  Status done(const std::string& unit, const std::string& name, bool succeeded = true);

  TrailView view(const std::string& name) const;
  /// Problems found so far, one line each: a unit that ended inside a first start or a last finish block,
  /// or a trail whose last consumer ended without finishing it (its teardown never ran).
  std::vector<std::string> warnings() const;

  void unitStarted(const std::string& unit);
  /// Leaves the unit's blocks, drops it from every trail it consumes and cancels its waits. Returns the
  /// names of the trails it touched, sorted.
  std::vector<std::string> unitEnded(const std::string& unit);
  void stop();

 private:
  enum class Block { Start, Finish };
  struct Trail {
    std::set<std::string> consumers;
    std::optional<std::string> holder;  ///< the unit inside the block
    Block block = Block::Start;
    bool flag = false;          ///< the holder's first/last
    std::list<uint64_t> queue;  ///< tickets of the waiters, oldest first
    std::condition_variable changed;
  };
  using Map = std::map<std::string, std::unique_ptr<Trail>>;
  BlockResult enter(const std::string& unit, const std::string& name, Block block, Deadline deadline,
                    WaiterLimit* waiters);
  void dropIfUnused(Map::iterator it);

  const TrailLimits limits_;
  // Guards the bookkeeping only, for microseconds at a time; waiting happens on each trail's own
  // condition variable, so trails never serialize each other.
  mutable std::mutex mu_;
  Map trails_;
  uint64_t last_ticket_ = 0;
  std::unordered_set<std::string> ended_;
  std::vector<std::string> warnings_;
  bool stopping_ = false;
};

}  // namespace mpexec::sync
