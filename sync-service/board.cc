#include "sync-service/board.h"

#include <boost/json/serialize.hpp>

namespace mpexec::sync {

std::optional<BoardEntry> Board::get(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

std::map<std::string, BoardEntry> Board::list() const {
  std::lock_guard lock(mu_);
  return entries_;
}

PutResult Board::put(const std::string& key, boost::json::value value, const PutCondition& cond) {
  // Serialized outside the lock: a large value must not stall every other board call.
  size_t size = boost::json::serialize(value).size();
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  uint64_t current = it == entries_.end() ? 0 : it->second.version;
  if (cond.if_absent && it != entries_.end()) return {Status::Conflict, current};
  if (cond.if_version && *cond.if_version != current) return {Status::Conflict, current};
  size_t old_size = it == entries_.end() ? 0 : sizes_[key];
  if (it == entries_.end() && entries_.size() >= limits_.max_keys) return {Status::TooMany, current};
  if (bytes_ - old_size + size > limits_.max_bytes) return {Status::TooMany, current};
  bytes_ = bytes_ - old_size + size;
  sizes_[key] = size;
  BoardEntry& e = entries_[key];
  e.value = std::move(value);
  e.version = ++last_version_;
  changed_.notify_all();
  return {Status::Ok, e.version};
}

Status Board::erase(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return Status::NotFound;
  bytes_ -= sizes_[key];
  sizes_.erase(key);
  entries_.erase(it);
  return Status::Ok;
}

Status Board::wait(const std::string& unit, const std::string& key, uint64_t after, Deadline deadline,
                   WaiterLimit* waiters, BoardEntry* out) {
  std::unique_lock lock(mu_);
  auto ready = [&] {
    auto it = entries_.find(key);
    if (it == entries_.end() || it->second.version <= after) return false;
    *out = it->second;
    return true;
  };
  auto cancelled = [&] { return stopping_ || ended_.count(unit) > 0; };
  if (cancelled()) return stopping_ ? Status::Stopping : Status::Ended;
  if (ready()) return Status::Ok;
  if (Clock::now() >= deadline) return Status::Timeout;
  WaiterSlot slot(waiters);
  if (!slot.ok()) return Status::TooMany;
  while (true) {
    if (cancelled()) return stopping_ ? Status::Stopping : Status::Ended;
    if (ready()) return Status::Ok;
    if (Clock::now() >= deadline) return Status::Timeout;
    changed_.wait_until(lock, deadline);
  }
}

void Board::unitStarted(const std::string& unit) {
  std::lock_guard lock(mu_);
  ended_.erase(unit);
}

void Board::unitEnded(const std::string& unit) {
  std::lock_guard lock(mu_);
  ended_.insert(unit);
  changed_.notify_all();
}

void Board::stop() {
  std::lock_guard lock(mu_);
  stopping_ = true;
  changed_.notify_all();
}

}  // namespace mpexec::sync
