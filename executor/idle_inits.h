#pragma once
// Where a unit's init comes from and where it goes once the unit reported Done: the unit ids of a run, and
// the inits that wait for another unit (docs/sandbox.md, "Recycled sandboxes"). An init that reported Done
// is kept for the next unit when it may take one (--no-sandbox's, UnitProcess::runNext; a sandbox checked
// clean, UnitProcess::recycle), and killed otherwise; either way it is reaped once its pidfd says it exited.

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "sandbox/context.h"
#include "sandbox/result.h"
#include "sandbox/spawner.h"
#include "sandbox/unit_process.h"

namespace mpexec {

/// A unit id (Context::unitIds()) held by a unit: given back when the lease goes. Its holder declares it
/// before its process, so that the id is given back after the process has been reaped or has reported Done.
class IdLease {
 public:
  IdLease() = default;
  IdLease(std::vector<bool>* pool, int id) : pool_(pool), id_(id) { (*pool_)[size_t(id_)] = true; }
  IdLease(IdLease&& o) noexcept : pool_(std::exchange(o.pool_, nullptr)), id_(o.id_) {}
  IdLease& operator=(IdLease&& o) noexcept {
    if (this != &o) {
      release();
      pool_ = std::exchange(o.pool_, nullptr);
      id_ = o.id_;
    }
    return *this;
  }
  ~IdLease() { release(); }
  /// The id held; -1 for none.
  int id() const { return pool_ ? id_ : -1; }

 private:
  void release() {
    if (pool_) (*pool_)[size_t(id_)] = false;
    pool_ = nullptr;
  }
  std::vector<bool>* pool_ = nullptr;
  int id_ = -1;
};

/// The unit ids of a run, each held by at most one unit alive. Outlives every lease it gave.
class UnitIds {
 public:
  explicit UnitIds(size_t count) : in_use_(count, false) {}
  UnitIds(const UnitIds&) = delete;
  UnitIds& operator=(const UnitIds&) = delete;
  /// Whether the run has no unit ids (then units run without ids of their own).
  bool empty() const { return in_use_.empty(); }
  /// The lowest id nobody holds; a lease of none (id() -1) when every one is taken.
  IdLease lease();

 private:
  std::vector<bool> in_use_;
};

class IdleInits {
 public:
  /// An init waiting for another unit.
  struct Idle {
    IdLease id;  ///< a recycled sandbox keeps its unit id (its owner view is that id's): given back last
    sandbox::Policy policy;
    std::unique_ptr<sandbox::UnitProcess> process;
  };

  /// Inits that reported Done have their pidfds watched in `epoll_fd` with `tag`; wait for that tag and call
  /// reap(). At most `max_idle` are kept waiting. `fresh_only`: no sandbox is recycled (not
  /// MPEXEC_RECYCLE_SANDBOXES=1, or MPEXEC_FRESH_SANDBOXES=1).
  IdleInits(const sandbox::Context& ctx, sandbox::Spawner& spawner, int epoll_fd, uint64_t tag,
            size_t max_idle, bool fresh_only);
  IdleInits(const IdleInits&) = delete;
  IdleInits& operator=(const IdleInits&) = delete;

  UnitIds& ids() { return ids_; }

  /// Whether units of `policy` may take a sandbox another unit left clean: asked for (not fresh_only),
  /// namespaces, root with unit ids, network "none", not nested, seccomp on, no user namespace.
  bool recycles(const sandbox::Policy& policy) const;
  /// An idle sandbox for a unit of `policy`, no longer watched; null when there is none.
  std::unique_ptr<Idle> takeSandbox(const sandbox::Policy& policy);

  /// Starts the unit of `spec`: in namespaces, in `reuse`'s sandbox when it can be handed on (it is killed
  /// otherwise, before a new one takes its unit id), else in a new one from `preloaded` (a preloaded
  /// interpreter's spawner; null: none), and from the run's spawner where there is none or it is gone.
  /// Without namespaces, an idle init runs it unless `spec.hold`; the run's spawner starts a new one
  /// otherwise.
  Result<sandbox::UnitProcess> start(const sandbox::UnitSpec& spec, std::unique_ptr<Idle> reuse,
                                     sandbox::Spawner* preloaded);
  /// For a unit whose recycled sandbox reported SetupFailed: a new sandbox for `spec` (given a unit id of its
  /// own by the caller); the unit is no longer counted as recycled once it has one.
  Result<sandbox::UnitProcess> startAfresh(const sandbox::UnitSpec& spec);

  /// Takes the init of a unit that reported Done and has not exited, with the unit's id and `policy`: kept
  /// for the next unit when keeping() and it may take one and fewer than max_idle wait, killed otherwise.
  /// Its pidfd may be in the epoll set already (under another tag): it is re-tagged.
  void retire(sandbox::UnitProcess done, IdLease id, const sandbox::Policy& policy);
  /// Whether retire() keeps inits; true again after release().
  void keep() { keep_ = true; }
  /// Kills every idle init, and retire() kills those that come, until keep(): no unit is left to take one.
  /// The kernel tears them down meanwhile; reap() reaps them, and their unit ids go back after that.
  void release();
  /// Reaps the inits that have exited (their cgroups are removed); the others stay watched.
  void reap();
  /// Kills every init that retire() killed or release() let go, then reapAll() reaps them: the caller
  /// kills its own units in between, so that all the teardowns overlap.
  void killRetiring();
  void reapAll();

  /// Of the units started in a sandbox, how many took one that an earlier unit left clean.
  size_t recycledUnits() const { return recycled_; }
  size_t sandboxedUnits() const { return sandboxes_; }

 private:
  void watch(const sandbox::UnitProcess& p);
  void unwatch(const sandbox::UnitProcess& p);

  const sandbox::Context& ctx_;
  sandbox::Spawner& spawner_;
  int epoll_fd_;
  uint64_t tag_;
  size_t max_idle_;
  bool fresh_only_;
  bool keep_ = true;
  size_t recycled_ = 0;   ///< units that ran in a recycled sandbox
  size_t sandboxes_ = 0;  ///< units that ran in a sandbox (new or recycled)
  UnitIds ids_;           ///< before every lease below
  /// Units that reported Done and freed their slot, until their init has exited.
  std::vector<std::unique_ptr<sandbox::UnitProcess>> retiring_;
  /// At most one per slot. Their pidfds are watched too, in case one dies.
  std::vector<std::unique_ptr<Idle>> idle_;
  /// Idle inits killed by release(), until reaped.
  std::vector<std::unique_ptr<Idle>> released_;
};

}  // namespace mpexec
