#include "executor/unit_spec.h"

#include <fmt/format.h>

#include <algorithm>

#include "executor/resources.h"

namespace mpexec {

sandbox::Policy unitPolicy(const Manifest& m, const Unit& unit, const std::vector<size_t>& tests) {
  const Settings& first = m.tests[tests[0]].settings;
  const Settings& unit_settings = unit.group.empty() ? first : m.groups.at(unit.group).settings;
  return isSerial(unit.strategy) ? unit_settings.sandbox : first.sandbox;
}

std::vector<std::string> baseEnvironment(const char* const* envp, const std::string& exe) {
  std::vector<std::string> env;
  for (const char* const* e = envp; *e; ++e) {
    std::string kv = *e;
    if (kv.rfind("MPEXEC_", 0) == 0 || kv.rfind("TMPDIR=", 0) == 0) continue;
    env.push_back(std::move(kv));
  }
  if (!exe.empty()) env.push_back("MPEXEC_EXE=" + exe);
  return env;
}

sandbox::CommandSpec preloadCommand(const GroupSpec& group, const std::vector<std::string>& base_env) {
  sandbox::CommandSpec c;
  c.argv = group.batch->cmd;
  for (const auto& kv : base_env)
    if (!group.settings.env.count(kv.substr(0, kv.find('=')))) c.env.push_back(kv);
  for (const auto& [k, v] : group.settings.env) c.env.push_back(k + "=" + v);
  return c;
}

std::vector<std::string> commandEnv(const UnitLaunch& l, const Settings& s, const TestSpec* test,
                                    const ResourceCounts& need) {
  const bool ctest_groups = test && !test->resource_groups.empty();
  std::vector<std::string> e;
  e.reserve(l.base_env.size() + s.env.size() + 14);
  for (const auto& kv : l.base_env) {
    auto eq = kv.find('=');
    if (s.env.count(kv.substr(0, eq)) || (l.sandboxed && kv.rfind("MPEXEC_EXE=", 0) == 0)) continue;
    if (ctest_groups && kv.starts_with("CTEST_RESOURCE_GROUP_")) continue;
    e.push_back(kv);
  }
  for (const auto& [k, v] : s.env) e.push_back(k + "=" + v);
  if (test) e.push_back("MPEXEC_TEST_NAME=" + test->name);
  e.push_back("MPEXEC_GROUP=" + l.unit.group);
  e.push_back(std::string("MPEXEC_STRATEGY=") + strategyName(l.unit.strategy));
  e.push_back("MPEXEC_UNIT=" + l.unit.id);
  e.push_back(l.hold ? std::string("MPEXEC_SLOT=")
                     : "MPEXEC_SLOT=" + std::to_string(l.job.slot));  // go() fills it
  e.push_back("MPEXEC_WORKER_COUNT=" + std::to_string(l.slots));
  e.push_back("MPEXEC_RUN_ID=" + l.run_id);
  e.push_back("MPEXEC_ATTEMPT=" + std::to_string(l.job.attempt));
  e.push_back("MPEXEC_TMPDIR=" + l.tmp);
  e.push_back("TMPDIR=" + l.tmp);
  e.push_back("MPEXEC_OUTPUT_DIR=" + l.output_dir);
  if (l.sandboxed) e.push_back(std::string("MPEXEC_EXE=") + sandbox::kExeInside);
  if (!l.sync_socket.empty()) {
    e.push_back("MPEXEC_SYNC_SOCKET=" + l.sync_socket);
    e.push_back("MPEXEC_SYNC_TOKEN=" + l.sync_token);
    if (!l.sync_url.empty()) e.push_back("MPEXEC_SYNC_URL=" + l.sync_url);
  }
  const ResourceInstances share = shareOf(l.job.resources, need);
  for (const auto& [name, instances] : share)
    e.push_back(resourceVariable(name) + "=" + instanceList(instances));
  if (ctest_groups)
    for (std::string& v : ctestGroupVariables(test->resource_groups, share)) e.push_back(std::move(v));
  return e;
}

sandbox::CommandSpec batchBaseCommand(const UnitLaunch& l) {
  sandbox::CommandSpec base;
  base.role = sandbox::Role::Batch;
  base.env = commandEnv(l, l.group->settings, nullptr, l.unit.resources);  // runs all of the unit's tests
  base.cwd = l.group->settings.cwd;
  base.preload = !l.group->batch->preload.empty();
  return base;
}

namespace {

sandbox::CommandSpec fixtureCommand(const UnitLaunch& l, sandbox::Role role,
                                    const std::vector<std::string>& argv, const char* what) {
  const GroupSpec& group = *l.group;
  sandbox::CommandSpec c;
  c.role = role;
  c.argv = argv;
  c.env = commandEnv(l, group.settings, nullptr, group.resources);
  c.env.push_back(std::string("MPEXEC_FIXTURE=") + what);
  c.cwd = group.settings.cwd;
  c.timeout_ms = int64_t(group.settings.timeout_s * 1000);
  c.log_name = l.job.attempt > 1 ? fmt::format("{}~{}~attempt{}.log", l.unit.id, what, l.job.attempt)
                                 : l.unit.id + "~" + what + ".log";
  return c;
}

sandbox::CommandSpec testCommand(const UnitLaunch& l, const TestSpec& test, std::string log_name) {
  sandbox::CommandSpec c;
  c.role = sandbox::Role::Test;
  c.argv = test.cmd;
  c.env = commandEnv(l, test.settings, &test, test.resources);
  c.cwd = test.settings.cwd;
  c.timeout_ms = std::max<int64_t>(1, int64_t(test.settings.timeout_s * 1000));
  c.log_name = std::move(log_name);
  return c;
}

}  // namespace

UnitCommands unitCommands(const UnitLaunch& l, const LogNames& logs,
                          std::optional<sandbox::CommandSpec> batch) {
  UnitCommands out;
  auto add = [&](sandbox::CommandSpec c, size_t test) {
    out.commands.push_back(std::move(c));
    out.tests.push_back(test);
  };
  if (l.group && !l.group->setup.empty())
    add(fixtureCommand(l, sandbox::Role::Setup, l.group->setup, "setup"), 0);
  if (batch)
    add(std::move(*batch), 0);
  else
    for (size_t t : l.job.tests) add(testCommand(l, l.m.tests[t], logs.name(t, l.job.attempt)), t);
  if (l.group && !l.group->teardown.empty())
    add(fixtureCommand(l, sandbox::Role::Teardown, l.group->teardown, "teardown"), 0);
  return out;
}

}  // namespace mpexec
