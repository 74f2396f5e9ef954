#pragma once
// The message board (DESIGN §5): key -> {JSON value, version}, with compare-and-set and long-poll waits.
//
// Each entry is kept as the text the service answers with, serialized once when it is put: a read copies
// nothing but a reference, and a listing of the whole board is the entries' texts one after the other,
// shared by every connection that sends it (docs/sync.md, "Memory").

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "sync-service/shared_body.h"
#include "sync-service/status.h"
#include "sync-service/waiters.h"

namespace mpexec::sync {

/// One key's entry as a listing holds it, `"KEY":{"value":V,"version":N}`; GET answers the part after
/// `"KEY":`. Immutable once on the board.
class BoardEntry final : public SharedBody {
 public:
  /// `key` is a valid name (validName: nothing to escape); `value` is compact JSON (compactStrictJson).
  BoardEntry(std::string_view key, std::string_view value);
  /// Completes the text with the version; before the entry is shared.
  void seal(uint64_t version);

  std::string_view key() const { return std::string_view(text_).substr(1, key_size_); }
  std::string_view value() const { return std::string_view(text_).substr(key_size_ + 12, value_size_); }
  /// Board-wide and strictly increasing: every put gets a version greater than any before it, so a key that
  /// is deleted and put again never goes back to an old version (a waiter's `after` stays meaningful).
  uint64_t version() const { return version_; }
  /// `"KEY":{"value":V,"version":N}`
  std::string_view member() const { return text_; }
  /// `{"value":V,"version":N}`
  std::string_view answer() const { return std::string_view(text_).substr(key_size_ + 3); }

  size_t pieces() const override { return 1; }
  std::string_view piece(size_t) const override { return answer(); }
  size_t size() const override { return text_.size() - key_size_ - 3; }

 private:
  std::string text_;
  size_t key_size_;
  size_t value_size_;
  uint64_t version_ = 0;
};

/// The whole board at one moment, as GET /v1/board answers it: `{"KEY":{...},...}` in key order. It shares
/// its entries with the board, so what it keeps alive beyond the board is only what has been replaced or
/// deleted since it was made.
class BoardListing final : public SharedBody {
 public:
  BoardListing(std::vector<std::shared_ptr<const BoardEntry>> entries, size_t bytes,
               std::shared_ptr<std::atomic<size_t>> held);
  ~BoardListing() override { held_->fetch_sub(bytes_); }
  BoardListing(const BoardListing&) = delete;
  BoardListing& operator=(const BoardListing&) = delete;

  const std::vector<std::shared_ptr<const BoardEntry>>& entries() const { return entries_; }
  size_t pieces() const override { return entries_.empty() ? 1 : 2 * entries_.size() + 1; }
  std::string_view piece(size_t i) const override;
  size_t size() const override { return bytes_; }

 private:
  const std::vector<std::shared_ptr<const BoardEntry>> entries_;
  const size_t bytes_;
  const std::shared_ptr<std::atomic<size_t>> held_;
};

struct BoardLimits {
  size_t max_keys = 10000;
  size_t max_bytes = 64u << 20;  ///< sum of the values' JSON texts
  /// Listings alive at once (being sent, or cached for the next), by the size of their answers; 0: twice
  /// the largest listing the limits above allow, so that a listing that a slow reader holds never keeps
  /// another unit from listing the board. Over it, list() says Busy, unless no other listing is alive.
  size_t max_listing_bytes = 0;
};

/// The largest answer to GET /v1/board under `limits`: every value, and every key at its longest.
size_t largestListing(const BoardLimits& limits);

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
  explicit Board(BoardLimits limits = {});
  Board(const Board&) = delete;
  Board& operator=(const Board&) = delete;

  std::shared_ptr<const BoardEntry> get(const std::string& key) const;
  /// The board as it is now: the listing made for it already when the board has not changed since, else a
  /// new one. Busy (and `*out` untouched) when a new one would take the listings alive past
  /// max_listing_bytes.
  Status list(std::shared_ptr<const BoardListing>* out);
  /// Stores `value` (compact JSON, as compactStrictJson writes it) under `key` (a valid name) if `cond`
  /// holds; TooMany when a new key or the size would pass the limits.
  PutResult put(const std::string& key, std::string_view value, const PutCondition& cond = {});
  /// Ok or NotFound.
  Status erase(const std::string& key);
  /// Waits until `key` exists with a version > `after`, then gives its entry in `*out`. Returns Ok, Timeout,
  /// TooMany (no place in `waiters`; null means unlimited; taken only when it really has to wait), Ended
  /// or Stopping.
  Status wait(const std::string& unit, const std::string& key, uint64_t after, Deadline deadline,
              WaiterLimit* waiters, std::shared_ptr<const BoardEntry>* out);

  /// Bytes of the listings alive now (see BoardLimits::max_listing_bytes).
  size_t listingBytes() const { return *listing_bytes_; }

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
  std::map<std::string, std::shared_ptr<const BoardEntry>> entries_;
  size_t bytes_ = 0;          ///< the values' texts, for max_bytes
  size_t member_bytes_ = 0;   ///< the entries' members, for a listing's size
  uint64_t last_version_ = 0;
  uint64_t changes_ = 0;      ///< puts and erases so far: a listing made at the same count is current
  std::weak_ptr<const BoardListing> listing_;
  uint64_t listing_at_ = 0;
  const std::shared_ptr<std::atomic<size_t>> listing_bytes_ = std::make_shared<std::atomic<size_t>>(0);
  std::unordered_set<std::string> ended_;
  bool stopping_ = false;
};

}  // namespace mpexec::sync
