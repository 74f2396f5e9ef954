#include "executor/shard_env.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "executor/input_file.h"
#include "sandbox/unique_fd.h"

namespace mpexec {

namespace json = boost::json;

namespace {

std::optional<int> parseCount(const char* s) {
  if (s == nullptr || *s == 0) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  long v = strtol(s, &end, 10);
  if (errno != 0 || *end != 0 || v < 0 || v > INT_MAX) return std::nullopt;
  return int(v);
}

// A 0-based index and a total from two variables; none when neither is set.
Result<std::optional<EnvShard>> fromPair(const EnvLookup& env, const char* index_var, const char* total_var) {
  const char* index = env(index_var);
  const char* total = env(total_var);
  if (!index && !total) return std::optional<EnvShard>{};
  if (!index || !total)
    return Error{{}, 0, fmt::format("{} and {} go together; only {} is set", index_var, total_var, index ? index_var : total_var)};
  auto k = parseCount(index), n = parseCount(total);
  if (!n || *n < 1) return Error{{}, 0, fmt::format("{}: expected a positive integer, got '{}'", total_var, total)};
  if (!k || *k >= *n)
    return Error{{}, 0, fmt::format("{}: expected an integer 0..{} ({} is {}), got '{}'", index_var, *n - 1, total_var, *n, index)};
  return std::optional<EnvShard>{EnvShard{{*k + 1, *n}, fmt::format("{}/{}", index_var, total_var), {}}};
}

}  // namespace

Result<std::optional<EnvShard>> shardFromEnvironment(const EnvLookup& env, std::optional<int> shard_total) {
  if (shard_total) {
    const char* index = env("JOB_COMPLETION_INDEX");
    if (index == nullptr) return Error{{}, 0, "--shard-total needs JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) or use --shard K/N"};
    auto k = parseCount(index);
    if (*shard_total < 1) return Error{{}, 0, fmt::format("--shard-total: expected a positive integer, got {}", *shard_total)};
    if (!k || *k >= *shard_total)
      return Error{{}, 0, fmt::format("JOB_COMPLETION_INDEX: expected an integer 0..{} (--shard-total {}), got '{}'",
                                      *shard_total - 1, *shard_total, index)};
    return std::optional<EnvShard>{EnvShard{{*k + 1, *shard_total}, "JOB_COMPLETION_INDEX and --shard-total", {}}};
  }
  auto bazel = fromPair(env, "TEST_SHARD_INDEX", "TEST_TOTAL_SHARDS");
  if (!bazel.ok() || bazel.value()) {
    if (bazel.ok()) {
      const char* status = env("TEST_SHARD_STATUS_FILE");
      (*bazel)->status_file = status ? status : "";
    }
    return bazel;
  }
  return fromPair(env, "GTEST_SHARD_INDEX", "GTEST_TOTAL_SHARDS");
}

std::string applyShardEnvironment(Config& c) {
  std::string error;
  if (!c.shard) {
    auto found = shardFromEnvironment([](const char* name) { return static_cast<const char*>(getenv(name)); }, c.shard_total);
    if (!found.ok()) {
      error = found.error().message();
    } else if (found.value()) {
      c.shard = found.value()->shard;
      if (const std::string& f = found.value()->status_file; !f.empty()) {
        UniqueFd fd(open(f.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
        if (!fd) error = fmt::format("TEST_SHARD_STATUS_FILE: cannot create {}: {}", f, strerror(errno));
      }
    }
  } else if (c.shard_total) {
    error = "--shard-total goes with JOB_COMPLETION_INDEX, not with --shard";
  }
  for (const char* v : {"GTEST_SHARD_INDEX", "GTEST_TOTAL_SHARDS", "GTEST_SHARD_STATUS_FILE"}) unsetenv(v);
  if (error.empty() && !c.shard_by_durations.empty() && !c.shard)
    error = "--shard-by-durations balances shards: it needs --shard K/N (or a shard from the environment)";
  return error;
}

Result<History> loadShardDurations(const std::string& path) {
  auto text = readInputFile(path);
  if (!text.ok()) return Error{{}, 0, "--shard-by-durations: " + text.error().message()};
  boost::system::error_code ec;
  json::value v = json::parse(*text, ec);
  const json::object* root = ec ? nullptr : v.if_object();
  const json::value* tests = root ? root->if_contains("tests") : nullptr;
  if (tests && tests->is_object()) {
    auto h = History::load(path);
    if (!h.ok()) return Error{{}, 0, "--shard-by-durations: " + h.error().message()};
    return h;
  }
  if (!tests || !tests->is_array())
    return Error{{}, 0, fmt::format("--shard-by-durations: {} is neither a state file nor a JSON report", path)};
  History h;
  for (const json::value& tv : tests->as_array()) {
    const json::object* t = tv.if_object();
    if (!t || !t->contains("name") || !t->at("name").is_string()) continue;
    const json::value* s = t->if_contains("start_us");
    const json::value* e = t->if_contains("end_us");
    int64_t duration = 0;  // unmeasured when it is negative or does not fit
    if (!s || !e || !s->is_int64() || !e->is_int64() || e->as_int64() < s->as_int64() ||
        __builtin_sub_overflow(e->as_int64(), s->as_int64(), &duration))
      continue;
    h.record(std::string(t->at("name").as_string()), TestHistory{duration, false});
  }
  return h;
}

}  // namespace mpexec
