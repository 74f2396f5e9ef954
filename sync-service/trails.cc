#include "sync-service/trails.h"

namespace mpexec::sync {

void Trails::dropIfUnused(Map::iterator it) {
  const Trail& t = *it->second;
  if (t.consumers.empty() && !t.holder && t.queue.empty()) trails_.erase(it);
}

BlockResult Trails::enter(const std::string& unit, const std::string& name, Block block, Deadline deadline,
                          WaiterLimit* waiters) {
  std::unique_lock lock(mu_);
  if (stopping_) return {Status::Stopping};
  if (ended_.count(unit)) return {Status::Ended};
  auto it = trails_.find(name);
  if (it == trails_.end()) {
    if (block == Block::Finish) return {Status::Conflict};  // nobody consumes an unknown trail
    if (trails_.size() >= limits_.max_trails) return {Status::TooMany};
    it = trails_.emplace(name, std::make_unique<Trail>()).first;
  }
  Trail& t = *it->second;
  // Checked again after every wake-up: another request of the same unit may have moved meanwhile.
  auto refused = [&] {
    bool consumes = t.consumers.count(unit) > 0;
    return t.holder == unit || (block == Block::Start ? consumes : !consumes);
  };
  auto take = [&]() -> BlockResult {
    if (block == Block::Start) {
      t.flag = t.consumers.empty();
      t.consumers.insert(unit);
    } else {
      t.flag = t.consumers.size() == 1;
      t.consumers.erase(unit);
    }
    t.holder = unit;
    t.block = block;
    return {Status::Ok, t.flag};
  };
  if (refused()) {
    BlockResult r{Status::Conflict};
    dropIfUnused(it);
    return r;
  }
  if (!t.holder && t.queue.empty()) return take();
  if (Clock::now() >= deadline) return {Status::Timeout};
  WaiterSlot slot(waiters);
  if (!slot.ok()) return {Status::TooMany};

  uint64_t ticket = ++last_ticket_;
  t.queue.push_back(ticket);
  auto leave = [&](Status s) -> BlockResult {
    t.queue.remove(ticket);
    t.changed.notify_all();  // the head of the queue may have changed
    dropIfUnused(it);
    return {s};
  };
  while (true) {
    if (stopping_) return leave(Status::Stopping);
    if (ended_.count(unit)) return leave(Status::Ended);
    if (refused()) return leave(Status::Conflict);
    if (!t.holder && t.queue.front() == ticket) {
      t.queue.pop_front();
      return take();
    }
    if (Clock::now() >= deadline) return leave(Status::Timeout);
    t.changed.wait_until(lock, deadline);
  }
}

BlockResult Trails::start(const std::string& unit, const std::string& name, Deadline deadline,
                          WaiterLimit* waiters) {
  return enter(unit, name, Block::Start, deadline, waiters);
}

BlockResult Trails::finish(const std::string& unit, const std::string& name, Deadline deadline,
                           WaiterLimit* waiters) {
  return enter(unit, name, Block::Finish, deadline, waiters);
}

Status Trails::done(const std::string& unit, const std::string& name, bool succeeded) {
  std::lock_guard lock(mu_);
  auto it = trails_.find(name);
  if (it == trails_.end() || it->second->holder != unit) return Status::Conflict;
  Trail& t = *it->second;
  if (t.block == Block::Start && !succeeded) t.consumers.erase(unit);
  t.holder.reset();
  t.changed.notify_all();
  dropIfUnused(it);
  return Status::Ok;
}

TrailView Trails::view(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = trails_.find(name);
  if (it == trails_.end()) return {};
  return {it->second->consumers, it->second->holder};
}

std::vector<std::string> Trails::warnings() const {
  std::lock_guard lock(mu_);
  return warnings_;
}

void Trails::unitStarted(const std::string& unit) {
  std::lock_guard lock(mu_);
  ended_.erase(unit);
}

std::vector<std::string> Trails::unitEnded(const std::string& unit) {
  std::lock_guard lock(mu_);
  ended_.insert(unit);
  std::vector<std::string> touched;
  for (auto it = trails_.begin(); it != trails_.end();) {
    auto next = std::next(it);
    Trail& t = *it->second;
    const std::string& name = it->first;
    bool was_holder = t.holder == unit;
    bool died_in_setup = was_holder && t.block == Block::Start && t.flag;
    if (died_in_setup) {
      warnings_.push_back("trail " + name + ": unit " + unit +
                          " ended inside its first start block; the next starter gets first");
    } else if (was_holder && t.block == Block::Finish && t.flag) {
      warnings_.push_back("trail " + name + ": unit " + unit +
                          " ended inside its last finish block; the teardown may be incomplete");
    }
    if (was_holder) t.holder.reset();
    bool consumed = t.consumers.erase(unit) > 0;
    if (consumed && t.consumers.empty() && !died_in_setup) {
      warnings_.push_back("trail " + name + ": the last consumer, unit " + unit +
                          ", ended without finishing it; its teardown never ran");
    }
    if (was_holder || consumed) touched.push_back(name);
    // The block may be free now, and the unit's own waiters must give up.
    t.changed.notify_all();
    dropIfUnused(it);
    it = next;
  }
  return touched;
}

void Trails::stop() {
  std::lock_guard lock(mu_);
  stopping_ = true;
  for (auto& [name, t] : trails_) t->changed.notify_all();
}

}  // namespace mpexec::sync
