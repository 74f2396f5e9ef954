#pragma once
// The message board (DESIGN §5): key -> {JSON value, version}, with compare-and-set and long-poll waits.

#include <boost/json/value.hpp>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>

#include "sync-service/status.h"
#include "sync-service/waiters.h"

namespace mpexec::sync {

struct BoardEntry {
  boost::json::value value;
  /// Board-wide and strictly increasing: every put gets a version greater than any before it, so a key that
  /// is deleted and put again never goes back to an old version (a waiter's `after` stays meaningful).
  uint64_t version = 0;
};

struct BoardLimits {
  size_t max_keys = 10000;
  size_t max_bytes = 64u << 20;  ///< sum of the serialized values
};

/// A put's precondition: none, the key's current version, or the key's absence.
struct PutCondition {
  std::optional<uint64_t> if_version;
  bool if_absent = false;
};

struct PutResult {
  Status status = Status::Ok;  ///< Ok, Conflict or TooMany
  /// Ok: the new version. Conflict: the key's current version, 0 when absent.
  uint64_t version = 0;
};

/// Thread-safe. Waits block only the calling thread and end at their deadline, on unitEnded() of the waiting
/// unit (Status::Ended) or on stop() (Status::Stopping).
class Board {
 public:
  explicit Board(BoardLimits limits = {}) : limits_(limits) {}
  Board(const Board&) = delete;
  Board& operator=(const Board&) = delete;

  std::optional<BoardEntry> get(const std::string& key) const;
  std::map<std::string, BoardEntry> list() const;
  /// Stores `value` under `key` if `cond` holds; TooMany when a new key or the size would pass the limits.
  PutResult put(const std::string& key, boost::json::value value, const PutCondition& cond = {});
  /// Ok or NotFound.
  Status erase(const std::string& key);
  /// Waits until `key` exists with a version > `after`, then copies it to `*out`. Returns Ok, Timeout,
  /// TooMany (no place in `waiters`; null means unlimited; taken only when it really has to wait), Ended
  /// or Stopping.
  Status wait(const std::string& unit, const std::string& key, uint64_t after, Deadline deadline,
              WaiterLimit* waiters, BoardEntry* out);

  /// Clears an earlier unitEnded() mark of `unit` (ids may be reused by a later registration).
  void unitStarted(const std::string& unit);
  /// Cancels the unit's waits; its later waits return Ended at once.
  void unitEnded(const std::string& unit);
  /// Cancels every wait, now and later.
  void stop();

 private:
  const BoardLimits limits_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::map<std::string, BoardEntry> entries_;
  std::map<std::string, size_t> sizes_;
  size_t bytes_ = 0;
  uint64_t last_version_ = 0;
  std::unordered_set<std::string> ended_;
  bool stopping_ = false;
};

}  // namespace mpexec::sync
