#include "sync-service/locks.h"

#include <algorithm>

namespace mpexec::sync {

void Locks::dropIfUnused(std::map<std::string, Lock>::iterator it) {
  if (!it->second.holder && it->second.queue.empty()) locks_.erase(it);
}

Status Locks::acquire(const std::string& unit, const std::string& name, Deadline deadline,
                      WaiterLimit* waiters) {
  std::unique_lock lock(mu_);
  if (stopping_) return Status::Stopping;
  if (ended_.count(unit)) return Status::Ended;
  auto it = locks_.find(name);
  if (it == locks_.end()) {
    if (locks_.size() >= limits_.max_locks) return Status::TooMany;
    it = locks_.emplace(name, Lock{}).first;
  }
  Lock& l = it->second;
  if (l.holder == unit) return Status::Conflict;
  if (!l.holder && l.queue.empty()) {
    l.holder = unit;
    return Status::Ok;
  }
  if (Clock::now() >= deadline) return Status::Timeout;
  WaiterSlot slot(waiters);
  if (!slot.ok()) return Status::TooMany;

  uint64_t ticket = ++last_ticket_;
  l.queue.push_back(ticket);
  // `it` stays valid: the entry cannot be erased while our ticket is queued.
  auto leave = [&](Status s) {
    it->second.queue.remove(ticket);
    dropIfUnused(it);
    changed_.notify_all();  // the head of the queue may have changed
    return s;
  };
  while (true) {
    if (stopping_) return leave(Status::Stopping);
    if (ended_.count(unit)) return leave(Status::Ended);
    Lock& cur = it->second;
    if (cur.holder == unit) return leave(Status::Conflict);  // another request of this unit got it first
    if (!cur.holder && cur.queue.front() == ticket) {
      cur.queue.pop_front();
      cur.holder = unit;
      changed_.notify_all();
      return Status::Ok;
    }
    if (Clock::now() >= deadline) return leave(Status::Timeout);
    changed_.wait_until(lock, deadline);
  }
}

Status Locks::release(const std::string& unit, const std::string& name) {
  std::lock_guard lock(mu_);
  auto it = locks_.find(name);
  if (it == locks_.end() || it->second.holder != unit) return Status::Conflict;
  it->second.holder.reset();
  dropIfUnused(it);
  changed_.notify_all();
  return Status::Ok;
}

std::optional<std::string> Locks::holder(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = locks_.find(name);
  if (it == locks_.end()) return std::nullopt;
  return it->second.holder;
}

void Locks::unitStarted(const std::string& unit) {
  std::lock_guard lock(mu_);
  ended_.erase(unit);
}

std::vector<std::string> Locks::unitEnded(const std::string& unit) {
  std::lock_guard lock(mu_);
  ended_.insert(unit);
  std::vector<std::string> released;
  for (auto it = locks_.begin(); it != locks_.end();) {
    auto next = std::next(it);
    if (it->second.holder == unit) {
      released.push_back(it->first);
      it->second.holder.reset();
      dropIfUnused(it);
    }
    it = next;
  }
  changed_.notify_all();
  return released;  // already sorted: std::map order
}

void Locks::stop() {
  std::lock_guard lock(mu_);
  stopping_ = true;
  changed_.notify_all();
}

}  // namespace mpexec::sync
