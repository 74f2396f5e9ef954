#pragma once
// The plan (DESIGN §3): units, the isolated windows and the pool, and the order inside each.

#include <cstdint>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "executor/manifest.h"

namespace mpexec {

class History;

/// One sandbox lifetime: a free test, or a whole serial group (setup → tests → teardown).
struct Unit {
  std::string id;    ///< "u<k>", in manifest order
  std::string name;  ///< the test's name for a one-test unit, the group's for a serial one; sharding key
  std::string group;  ///< empty for a test without a group
  Strategy strategy = Strategy::Free;
  std::vector<size_t> tests;  ///< indices into Manifest::tests, in manifest order
  /// What it holds from its start to its end: for each resource, the most that one of its commands needs
  /// (its group's setup and teardown need the group's "resources"). Counts above 0 only.
  ResourceCounts resources = {};
};

/// A stretch of the run behind a barrier: an isolated group's exclusive window, or the pool.
struct Phase {
  std::string group;         ///< the isolated group; empty for the pool
  bool one_at_a_time = false;  ///< an isolated_serial window runs exactly one unit
  std::vector<size_t> units;   ///< indices into Plan::units, in start order
};

struct Plan {
  std::vector<Unit> units;
  std::vector<Phase> phases;    ///< windows first (manifest order of their groups), then the pool
  std::vector<size_t> tests;    ///< the selected tests, manifest order
  std::vector<size_t> unsharded_tests;  ///< with a shard: the tests every shard together covers, manifest order
  ResourceCounts resources;  ///< how many of each exist (Manifest::resources)
};

struct Selection {
  std::optional<std::regex> filter;   ///< keep tests whose name matches (search)
  std::optional<std::regex> exclude;  ///< then drop those that match
  /// Keep tests that have, for every one of these, a label it matches (search), as `ctest -L` does.
  std::vector<std::regex> labels;
  /// Then drop tests that have, for every one of these, a label it matches, as `ctest -LE` does.
  std::vector<std::regex> exclude_labels;
  bool only_failed = false;           ///< --rerun-failed: keep tests the history marks failed
  std::optional<uint64_t> shuffle_seed;  ///< replaces the history order with a seeded random one
  std::optional<std::pair<int, int>> shard;  ///< K/N, 1-based: keep units whose name hashes to K
  /// With `shard`: assign units to shards by these durations instead (greedy LPT, longest unit to the
  /// least loaded shard; units never measured cost the mean), so every shard given the same file agrees.
  const History* shard_durations = nullptr;
};

/// Builds the plan for the selected tests. The pool order (and an isolated_free window's) is: tests that
/// failed last, then tests never measured, then longest first; or a seeded shuffle.
Plan makePlan(const Manifest& m, const History& history, const Selection& sel);

/// How many tests each step of the selection leaves, in the order makePlan() applies them: for saying
/// which step left none.
struct SelectionFunnel {
  size_t manifest = 0;      ///< every test of the manifest
  size_t filtered = 0;      ///< that --filter keeps
  size_t not_excluded = 0;  ///< and --exclude does not drop
  size_t labelled = 0;      ///< and --label keeps
  size_t not_label_excluded = 0;  ///< and --exclude-label does not drop
  size_t failed_last = 0;   ///< and (with --rerun-failed) failed when they last ran
};
SelectionFunnel countSelection(const Manifest& m, const History& history, const Selection& sel);

/// A stable 64-bit hash (FNV-1a) used for sharding.
uint64_t stableHash(const std::string& s);

}  // namespace mpexec
