#pragma once
// Where a shard comes from when --shard is absent (DESIGN §8): the variables CI systems set, and the
// durations file that --shard-by-durations balances by.

#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "executor/config.h"
#include "executor/history.h"
#include "sandbox/result.h"

namespace mpexec {

/// getenv, or a fake in tests.
using EnvLookup = std::function<const char*(const char*)>;

struct EnvShard {
  std::pair<int, int> shard;  ///< K/N, 1-based, as --shard
  std::string source;         ///< the variables it came from, for messages
  std::string status_file;    ///< TEST_SHARD_STATUS_FILE, to touch; empty when not set
};

/// The shard the environment asks for, checked in this order:
/// 1. JOB_COMPLETION_INDEX (0-based) when `shard_total` (--shard-total) is given — a Kubernetes Indexed
///    Job; --shard-total without JOB_COMPLETION_INDEX is an error;
/// 2. TEST_SHARD_INDEX (0-based) / TEST_TOTAL_SHARDS — Bazel, with TEST_SHARD_STATUS_FILE;
/// 3. GTEST_SHARD_INDEX (0-based) / GTEST_TOTAL_SHARDS.
/// None when no variable is set. An error names the variable when a value is not an integer, an index
/// is out of range, or only one of a pair is set.
Result<std::optional<EnvShard>> shardFromEnvironment(const EnvLookup& env, std::optional<int> shard_total);

/// For the command line: when `c.shard` is unset, fills it from shardFromEnvironment(getenv) and touches
/// TEST_SHARD_STATUS_FILE (Bazel's sign that the runner shards). Always removes GTEST_SHARD_INDEX,
/// GTEST_TOTAL_SHARDS and GTEST_SHARD_STATUS_FILE from mpexec's environment: a gtest case run with
/// --gtest_filter would otherwise shard its one test away and pass without running. Returns an error
/// message, or an empty string.
std::string applyShardEnvironment(Config& c);

/// The durations --shard-by-durations balances by: a state file (.mpexec/state.json) or a JSON report
/// (as `mpexec merge --json` writes), whose tests' end_us - start_us are taken.
Result<History> loadShardDurations(const std::string& path);

}  // namespace mpexec
