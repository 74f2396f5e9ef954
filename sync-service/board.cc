#include "sync-service/board.h"

namespace mpexec::sync {

namespace {

// `"KEY":{"value":` ... `,"version":N}` around the key and the value, with N at its longest.
constexpr size_t kMemberFrame = 24 + 20;
constexpr size_t kMaxKey = 256;  // validName

}  // namespace

BoardEntry::BoardEntry(std::string_view key, std::string_view value) : key_size_(key.size()), value_size_(value.size()) {
  text_.reserve(key.size() + value.size() + kMemberFrame);
  text_.append("\"").append(key).append("\":{\"value\":").append(value);
}

void BoardEntry::seal(uint64_t version) {
  version_ = version;
  text_.append(",\"version\":").append(std::to_string(version)).append("}");
}

BoardListing::BoardListing(std::vector<std::shared_ptr<const BoardEntry>> entries, size_t bytes,
                           std::shared_ptr<std::atomic<size_t>> held)
    : entries_(std::move(entries)), bytes_(bytes), held_(std::move(held)) {}

std::string_view BoardListing::piece(size_t i) const {
  if (entries_.empty()) return "{}";
  if (i == 0) return "{";
  if (i == 2 * entries_.size()) return "}";
  return i % 2 ? entries_[i / 2]->member() : ",";
}

size_t largestListing(const BoardLimits& limits) {
  return 2 + limits.max_bytes + limits.max_keys * (kMaxKey + kMemberFrame + 1);
}

namespace {

BoardLimits withDefaults(BoardLimits limits) {
  if (limits.max_listing_bytes == 0) limits.max_listing_bytes = 2 * largestListing(limits);
  return limits;
}

}  // namespace

Board::Board(BoardLimits limits) : limits_(withDefaults(limits)) {}

std::shared_ptr<const BoardEntry> Board::get(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  return it == entries_.end() ? nullptr : it->second;
}

Status Board::list(std::shared_ptr<const BoardListing>* out) {
  std::lock_guard lock(mu_);
  if (listing_at_ == changes_) {
    if (auto current = listing_.lock()) {
      *out = std::move(current);
      return Status::Ok;
    }
  }
  size_t bytes = entries_.empty() ? 2 : 1 + member_bytes_ + entries_.size();
  size_t held = *listing_bytes_;
  if (held > 0 && held + bytes > limits_.max_listing_bytes) return Status::Busy;
  std::vector<std::shared_ptr<const BoardEntry>> entries;
  entries.reserve(entries_.size());
  for (const auto& [key, e] : entries_) entries.push_back(e);
  *listing_bytes_ += bytes;
  auto listing = std::make_shared<const BoardListing>(std::move(entries), bytes, listing_bytes_);
  listing_ = listing;
  listing_at_ = changes_;
  *out = std::move(listing);
  return Status::Ok;
}

PutResult Board::put(const std::string& key, std::string_view value, const PutCondition& cond) {
  // The entry's text is written outside the lock: a large value must not stall every other board call.
  auto entry = std::make_shared<BoardEntry>(key, value);
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  uint64_t current = it == entries_.end() ? 0 : it->second->version();
  if (cond.if_absent && it != entries_.end()) return {Status::Conflict, current};
  if (cond.if_version && *cond.if_version != current) return {Status::Conflict, current};
  size_t old_size = it == entries_.end() ? 0 : it->second->value().size();
  if (it == entries_.end() && entries_.size() >= limits_.max_keys) return {Status::TooMany, current};
  if (bytes_ - old_size + value.size() > limits_.max_bytes) return {Status::TooMany, current};
  entry->seal(++last_version_);
  bytes_ = bytes_ - old_size + value.size();
  member_bytes_ += entry->member().size();
  if (it == entries_.end()) {
    entries_.emplace(key, std::move(entry));
  } else {
    member_bytes_ -= it->second->member().size();
    it->second = std::move(entry);
  }
  ++changes_;
  changed_.notify_all();
  return {Status::Ok, last_version_};
}

Status Board::erase(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return Status::NotFound;
  bytes_ -= it->second->value().size();
  member_bytes_ -= it->second->member().size();
  entries_.erase(it);
  ++changes_;
  return Status::Ok;
}

Status Board::wait(const std::string& unit, const std::string& key, uint64_t after, Deadline deadline,
                   WaiterLimit* waiters, std::shared_ptr<const BoardEntry>* out) {
  std::unique_lock lock(mu_);
  auto ready = [&] {
    auto it = entries_.find(key);
    if (it == entries_.end() || it->second->version() <= after) return false;
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
