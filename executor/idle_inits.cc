#include "executor/idle_inits.h"

#include <sys/epoll.h>

namespace mpexec {

IdLease UnitIds::lease() {
  for (size_t i = 0; i < in_use_.size(); ++i)
    if (!in_use_[i]) return IdLease(&in_use_, int(i));
  return IdLease();
}

IdleInits::IdleInits(const sandbox::Context& ctx, sandbox::Spawner& spawner, int epoll_fd, uint64_t tag,
                     size_t max_idle, bool fresh_only)
    : ctx_(ctx),
      spawner_(spawner),
      epoll_fd_(epoll_fd),
      tag_(tag),
      max_idle_(max_idle),
      fresh_only_(fresh_only),
      ids_(ctx.unitIds()) {}

void IdleInits::watch(const sandbox::UnitProcess& p) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = tag_;
  // A retired init's pidfd is in the set already, with its slot's tag (the runner watched its unit): one call
  // re-tags it, where a removal and an addition took two.
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, p.pidFd(), &ev) != 0) epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, p.pidFd(), &ev);
}

void IdleInits::unwatch(const sandbox::UnitProcess& p) {
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, p.pidFd(), nullptr);
}

bool IdleInits::recycles(const sandbox::Policy& policy) const {
  return !fresh_only_ && ctx_.isolation() == sandbox::Isolation::Namespaces && ctx_.privileged() &&
         !ids_.empty() && policy.network == sandbox::Network::None && !policy.nested && policy.seccomp &&
         !ctx_.usesUserNamespace(policy);
}

std::unique_ptr<IdleInits::Idle> IdleInits::takeSandbox(const sandbox::Policy& policy) {
  for (size_t i = 0; i < idle_.size(); ++i) {
    if (!(idle_[i]->policy == policy) || !idle_[i]->process->recyclable()) continue;
    std::unique_ptr<Idle> idle = std::move(idle_[i]);
    idle_.erase(idle_.begin() + ptrdiff_t(i));
    unwatch(*idle->process);
    return idle;
  }
  return nullptr;
}

Result<sandbox::UnitProcess> IdleInits::start(const sandbox::UnitSpec& spec, std::unique_ptr<Idle> reuse,
                                              sandbox::Spawner* preloaded) {
  if (spec.isolation == sandbox::Isolation::Namespaces) {
    ++sandboxes_;
    if (reuse && spawner_.recycle(*reuse->process, spec)) {
      ++recycled_;
      return std::move(*reuse->process);
    }
    // Could not be handed on (gone meanwhile, or its cgroups): the destructor kills and reaps it, before a
    // new sandbox takes its unit id.
    reuse.reset();
    if (preloaded) {
      auto proc = preloaded->spawn(spec);
      if (proc.ok()) return proc;
      // A preloaded spawner that is gone (killed, crashed) leaves its units to the ordinary one, which execs
      // their commands.
    }
    return spawner_.spawn(spec);
  }
  while (!spec.hold && !idle_.empty()) {
    std::unique_ptr<Idle> idle = std::move(idle_.back());
    idle_.pop_back();
    unwatch(*idle->process);
    if (idle->process->runNext(spec)) return std::move(*idle->process);
    // Gone meanwhile: the destructor reaps it; try the next one.
  }
  return spawner_.spawn(spec);
}

Result<sandbox::UnitProcess> IdleInits::startAfresh(const sandbox::UnitSpec& spec) {
  auto proc = spawner_.spawn(spec);
  if (proc.ok()) --recycled_;
  return proc;
}

void IdleInits::retire(sandbox::UnitProcess done, IdLease id, const sandbox::Policy& policy) {
  auto retired = std::make_unique<sandbox::UnitProcess>(std::move(done));
  watch(*retired);
  bool reusable = keep_ && (ctx_.isolation() == sandbox::Isolation::None || retired->recyclable()) &&
                  idle_.size() < max_idle_;
  if (reusable) {
    auto idle = std::make_unique<Idle>();
    idle->id = std::move(id);
    idle->policy = policy;
    idle->process = std::move(retired);
    idle_.push_back(std::move(idle));
  } else {
    // An init that reported Done waits for another unit until its socket closes, whether or not it was
    // found clean: none will come.
    retired->kill();
    retiring_.push_back(std::move(retired));
  }
}

void IdleInits::release() {
  keep_ = false;
  for (auto& idle : idle_) {
    idle->process->kill();
    released_.push_back(std::move(idle));
  }
  idle_.clear();
}

void IdleInits::reap() {
  // Their events are of no interest: one waitid each, not a poll and reads.
  auto exited = [&](const std::unique_ptr<sandbox::UnitProcess>& p) {
    if (!p->reapIfExited()) return false;
    unwatch(*p);
    return true;  // reaped; the destructor removes its cgroup
  };
  std::erase_if(retiring_, exited);
  std::erase_if(idle_, [&](const std::unique_ptr<Idle>& i) { return exited(i->process); });
  std::erase_if(released_, [&](const std::unique_ptr<Idle>& i) { return exited(i->process); });
}

void IdleInits::killRetiring() {
  for (auto& p : retiring_) p->kill();
}

void IdleInits::reapAll() {
  retiring_.clear();
  released_.clear();
}

}  // namespace mpexec
