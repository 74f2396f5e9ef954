#include "executor/batch_board.h"

#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

namespace mpexec {

BatchBoard::BatchBoard(const RunClock& clock) : clock_(clock), wake_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

void BatchBoard::open(const std::string& unit, uint32_t process, std::unordered_map<std::string, size_t> ids,
                      int log_fd) {
  std::lock_guard lock(mu_);
  Process& p = running_[unit];
  p.number = process;
  p.ids = std::move(ids);
  p.finished.clear();
  p.log_fd = log_fd;
}

void BatchBoard::close(const std::string& unit) {
  std::lock_guard lock(mu_);
  running_.erase(unit);
}

std::vector<LiveReport> BatchBoard::take() {
  std::lock_guard lock(mu_);
  // add() queues a report and counts it in the eventfd under the lock, so with none queued the count is 0:
  // the runner asks at every wake, and a read of an empty eventfd would be a system call spent on nothing.
  if (reports_.empty()) return {};
  uint64_t n;
  (void)!read(wake_.get(), &n, sizeof n);
  return std::exchange(reports_, {});
}

sync::ResultStatus BatchBoard::started(const std::string& unit, const std::string& id) {
  std::lock_guard lock(mu_);
  return add(unit, id, true, nullptr);
}

sync::ResultStatus BatchBoard::finished(const std::string& unit, sync::FinishedResult result) {
  std::lock_guard lock(mu_);
  std::string id = result.id;
  return add(unit, id, false, &result);
}

sync::ResultStatus BatchBoard::add(const std::string& unit, const std::string& id, bool started,
                                   sync::FinishedResult* result) {
  auto p = running_.find(unit);
  if (p == running_.end()) return sync::ResultStatus::NoBatch;
  auto t = p->second.ids.find(id);
  if (t == p->second.ids.end()) return sync::ResultStatus::UnknownId;
  if (p->second.finished.count(id)) return sync::ResultStatus::AlreadyFinished;
  if (!started) p->second.finished.insert(id);
  LiveReport r;
  r.unit = unit;
  r.process = p->second.number;
  r.started = started;
  r.test = t->second;
  r.at_us = clock_.nowUs();
  struct stat st;
  if (p->second.log_fd >= 0 && fstat(p->second.log_fd, &st) == 0) r.log_offset = st.st_size;
  if (result) r.result = std::move(*result);
  reports_.push_back(std::move(r));
  uint64_t one = 1;
  (void)!write(wake_.get(), &one, sizeof one);
  return sync::ResultStatus::Ok;
}

}  // namespace mpexec
