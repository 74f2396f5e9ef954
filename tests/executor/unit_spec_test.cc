// A unit's commands built from a job: policy, environment, order, logs and timeouts, without a sandbox.

#include "executor/unit_spec.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "tests/support/manifest_builder.h"

namespace mpexec {
namespace {

/// The value of `key` in a KEY=VALUE list; "<unset>" when absent, "<twice>" when it occurs more than once.
std::string valueOf(const std::vector<std::string>& env, const std::string& key) {
  std::string found = "<unset>";
  int n = 0;
  for (const auto& kv : env)
    if (kv.compare(0, key.size() + 1, key + "=") == 0) {
      found = kv.substr(key.size() + 1);
      ++n;
    }
  return n > 1 ? "<twice>" : found;
}

bool hasKeyPrefix(const std::vector<std::string>& env, const std::string& prefix) {
  return std::any_of(env.begin(), env.end(), [&](const std::string& kv) { return kv.starts_with(prefix); });
}

class UnitSpecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    test::addTest(m_, "free");
    test::addTest(m_, "s1", "g", Strategy::Serial);
    test::addTest(m_, "s2", "g", Strategy::Serial);
    m_.tests[1].settings.timeout_s = 2.5;
    m_.tests[2].settings.timeout_s = 0.0001;
    GroupSpec& g = m_.groups["g"];
    g.setup = {"/bin/setup", "x"};
    g.teardown = {"/bin/teardown"};
    g.settings.cwd = "/g";
    g.settings.timeout_s = 3;
    g.settings.env = {{"G", "1"}};
    free_.id = "u1";
    free_.tests = {0};
    serial_.id = "u2";
    serial_.group = "g";
    serial_.strategy = Strategy::Serial;
    serial_.tests = {1, 2};
    job_.unit = 1;
    job_.slot = 3;
    job_.tests = {1, 2};
  }
  UnitLaunch launch(const Unit& unit, const GroupSpec* group) {
    UnitLaunch l{.m = m_, .unit = unit, .group = group, .job = job_, .base_env = base_};
    l.slots = 4;
    l.run_id = "r1";
    l.tmp = "/tmp";
    l.output_dir = "/state/runs/r1/out/" + unit.id;
    return l;
  }
  Manifest m_;
  Unit free_, serial_;
  UnitJob job_;
  std::vector<std::string> base_ = {"PATH=/bin", "HOME=/h", "G=base", "MPEXEC_EXE=/host/mpexec",
                                    "CTEST_RESOURCE_GROUP_COUNT=9"};
};

TEST_F(UnitSpecTest, TheSandboxIsASerialGroupsOrTheTestsOwn) {
  m_.tests[0].settings.sandbox.network = sandbox::Network::Host;
  m_.tests[1].settings.sandbox.pids = 7;
  m_.groups["g"].settings.sandbox.pids = 99;
  EXPECT_EQ(unitPolicy(m_, free_, {0}).network, sandbox::Network::Host);
  EXPECT_EQ(unitPolicy(m_, serial_, {1, 2}).pids, 99u);
  // A free unit of a group that is not serial runs with its test's sandbox.
  Unit grouped_free = serial_;
  grouped_free.strategy = Strategy::IsolatedFree;
  EXPECT_EQ(unitPolicy(m_, grouped_free, {1}).pids, 7u);
}

TEST_F(UnitSpecTest, TheBaseEnvironmentDropsTheRunsOwnVariables) {
  const char* envp[] = {"PATH=/bin",    "MPEXEC_SLOT=2",     "TMPDIR=/old",
                        "TMPDIRS=kept", "MPEXEC_EXE=/stale", nullptr};
  EXPECT_EQ(baseEnvironment(envp, "/usr/bin/mpexec"),
            (std::vector<std::string>{"PATH=/bin", "TMPDIRS=kept", "MPEXEC_EXE=/usr/bin/mpexec"}));
  EXPECT_EQ(baseEnvironment(envp, ""), (std::vector<std::string>{"PATH=/bin", "TMPDIRS=kept"}));
}

TEST_F(UnitSpecTest, APreloadedInterpreterStartsWithTheBatchCommandAndTheGroupsEnvironment) {
  GroupSpec& g = m_.groups["g"];
  g.batch.emplace();
  g.batch->cmd = {"/usr/bin/python3", "-m", "pytest"};
  sandbox::CommandSpec c = preloadCommand(g, base_);
  EXPECT_EQ(c.argv, g.batch->cmd);
  EXPECT_EQ(valueOf(c.env, "G"), "1");
  EXPECT_EQ(valueOf(c.env, "PATH"), "/bin");
  EXPECT_EQ(c.env.back(), "G=1");
}

TEST_F(UnitSpecTest, ACommandIsToldWhereAndWhatItRuns) {
  m_.tests[1].settings.env = {{"PATH", "/test/bin"}};
  UnitLaunch l = launch(serial_, &m_.groups["g"]);
  auto env = commandEnv(l, m_.tests[1].settings, &m_.tests[1], {});
  EXPECT_EQ(valueOf(env, "PATH"), "/test/bin");  // the test's own setting wins
  EXPECT_EQ(valueOf(env, "HOME"), "/h");
  EXPECT_EQ(valueOf(env, "MPEXEC_TEST_NAME"), "s1");
  EXPECT_EQ(valueOf(env, "MPEXEC_GROUP"), "g");
  EXPECT_EQ(valueOf(env, "MPEXEC_STRATEGY"), "serial");
  EXPECT_EQ(valueOf(env, "MPEXEC_UNIT"), "u2");
  EXPECT_EQ(valueOf(env, "MPEXEC_SLOT"), "3");
  EXPECT_EQ(valueOf(env, "MPEXEC_WORKER_COUNT"), "4");
  EXPECT_EQ(valueOf(env, "MPEXEC_RUN_ID"), "r1");
  EXPECT_EQ(valueOf(env, "MPEXEC_ATTEMPT"), "1");
  EXPECT_EQ(valueOf(env, "TMPDIR"), "/tmp");
  EXPECT_EQ(valueOf(env, "MPEXEC_TMPDIR"), "/tmp");
  EXPECT_EQ(valueOf(env, "MPEXEC_OUTPUT_DIR"), "/state/runs/r1/out/u2");
  EXPECT_EQ(valueOf(env, "MPEXEC_EXE"), "/host/mpexec");  // not sandboxed: the host's path
  EXPECT_FALSE(hasKeyPrefix(env, "MPEXEC_SYNC_"));
  EXPECT_FALSE(hasKeyPrefix(env, "MPEXEC_FIXTURE="));
  // A fixture names no test.
  EXPECT_EQ(valueOf(commandEnv(l, m_.groups["g"].settings, nullptr, {}), "MPEXEC_TEST_NAME"), "<unset>");
}

TEST_F(UnitSpecTest, InASandboxMpexecIsTheOneBoundInside) {
  UnitLaunch l = launch(free_, nullptr);
  l.sandboxed = true;
  EXPECT_EQ(valueOf(commandEnv(l, m_.tests[0].settings, &m_.tests[0], {}), "MPEXEC_EXE"),
            sandbox::kExeInside);
}

TEST_F(UnitSpecTest, AUnitSetUpAheadLearnsItsSlotLater) {
  UnitLaunch l = launch(free_, nullptr);
  l.hold = true;
  auto env = commandEnv(l, m_.tests[0].settings, &m_.tests[0], {});
  EXPECT_EQ(valueOf(env, "MPEXEC_SLOT"), "");
}

TEST_F(UnitSpecTest, TheSyncServiceIsToldOnlyWithASocketAndItsUrlOnlyWhereReachable) {
  UnitLaunch l = launch(free_, nullptr);
  l.sync_url = "http://127.0.0.1:1";
  EXPECT_FALSE(hasKeyPrefix(commandEnv(l, m_.tests[0].settings, &m_.tests[0], {}), "MPEXEC_SYNC_"));
  l.sync_socket = "/run/mpexec/sync.sock";
  l.sync_token = "tok";
  auto env = commandEnv(l, m_.tests[0].settings, &m_.tests[0], {});
  EXPECT_EQ(valueOf(env, "MPEXEC_SYNC_SOCKET"), "/run/mpexec/sync.sock");
  EXPECT_EQ(valueOf(env, "MPEXEC_SYNC_TOKEN"), "tok");
  EXPECT_EQ(valueOf(env, "MPEXEC_SYNC_URL"), "http://127.0.0.1:1");
  l.sync_url.clear();
  EXPECT_EQ(valueOf(commandEnv(l, m_.tests[0].settings, &m_.tests[0], {}), "MPEXEC_SYNC_URL"), "<unset>");
}

TEST_F(UnitSpecTest, EachCommandIsToldItsShareOfTheUnitsResources) {
  job_.resources = {{"gpu", {4, 5, 6}}, {"db", {0}}};
  UnitLaunch l = launch(serial_, &m_.groups["g"]);
  auto env = commandEnv(l, m_.tests[1].settings, &m_.tests[1], {{"gpu", 2}});
  EXPECT_EQ(valueOf(env, "MPEXEC_RESOURCE_GPU"), "4,5");
  EXPECT_EQ(valueOf(env, "MPEXEC_RESOURCE_DB"), "<unset>");
  // Inherited CTest variables stay for a test without resource groups...
  EXPECT_EQ(valueOf(env, "CTEST_RESOURCE_GROUP_COUNT"), "9");
  // ...and give way to the test's own.
  m_.tests[1].resource_groups = {{{"gpu", 1}}};
  env = commandEnv(l, m_.tests[1].settings, &m_.tests[1], {{"gpu", 1}});
  EXPECT_EQ(valueOf(env, "CTEST_RESOURCE_GROUP_COUNT"), "1");
  EXPECT_EQ(valueOf(env, "CTEST_RESOURCE_GROUP_0_GPU"), "id:4,slots:1");
}

TEST_F(UnitSpecTest, AGroupsCommandsRunSetupTestsTeardownEachWithItsLog) {
  LogNames logs(m_);
  UnitLaunch l = launch(serial_, &m_.groups["g"]);
  UnitCommands u = unitCommands(l, logs, std::nullopt);
  ASSERT_EQ(u.commands.size(), 4u);
  std::vector<sandbox::Role> roles;
  for (const auto& c : u.commands) roles.push_back(c.role);
  EXPECT_EQ(roles, (std::vector<sandbox::Role>{sandbox::Role::Setup, sandbox::Role::Test, sandbox::Role::Test,
                                               sandbox::Role::Teardown}));
  EXPECT_EQ(u.tests, (std::vector<size_t>{0, 1, 2, 0}));
  const auto& setup = u.commands[0];
  EXPECT_EQ(setup.argv, (std::vector<std::string>{"/bin/setup", "x"}));
  EXPECT_EQ(setup.cwd, "/g");
  EXPECT_EQ(setup.timeout_ms, 3000);
  EXPECT_EQ(setup.log_name, "u2~setup.log");
  EXPECT_EQ(valueOf(setup.env, "MPEXEC_FIXTURE"), "setup");
  EXPECT_EQ(valueOf(setup.env, "G"), "1");
  EXPECT_EQ(u.commands[3].log_name, "u2~teardown.log");
  EXPECT_EQ(valueOf(u.commands[3].env, "MPEXEC_FIXTURE"), "teardown");
  EXPECT_EQ(u.commands[1].argv, m_.tests[1].cmd);
  EXPECT_EQ(u.commands[1].log_name, "s1.log");
  EXPECT_EQ(u.commands[1].timeout_ms, 2500);
  EXPECT_EQ(u.commands[2].timeout_ms, 1);  // never 0
  EXPECT_EQ(valueOf(u.commands[2].env, "MPEXEC_TEST_NAME"), "s2");
}

TEST_F(UnitSpecTest, ARetrysLogsAreItsOwn) {
  LogNames logs(m_);
  job_.attempt = 2;
  job_.tests = {2};
  UnitCommands u = unitCommands(launch(serial_, &m_.groups["g"]), logs, std::nullopt);
  ASSERT_EQ(u.commands.size(), 3u);
  EXPECT_EQ(u.commands[0].log_name, "u2~setup~attempt2.log");
  EXPECT_EQ(u.commands[1].log_name, "s2~attempt2.log");
  EXPECT_EQ(valueOf(u.commands[1].env, "MPEXEC_ATTEMPT"), "2");
  EXPECT_EQ(u.commands[2].log_name, "u2~teardown~attempt2.log");
}

TEST_F(UnitSpecTest, ABatchGroupRunsItsBatchCommandInsteadOfTheTests) {
  GroupSpec& g = m_.groups["g"];
  g.batch.emplace();
  g.batch->cmd = {"/bin/runner", "{ids}"};
  g.batch->preload = "pytest";
  serial_.resources = {{"gpu", 1}};
  job_.resources = {{"gpu", {2}}};
  LogNames logs(m_);
  UnitLaunch l = launch(serial_, &g);
  sandbox::CommandSpec base = batchBaseCommand(l);
  EXPECT_EQ(base.role, sandbox::Role::Batch);
  EXPECT_EQ(base.cwd, "/g");
  EXPECT_TRUE(base.preload);
  EXPECT_EQ(valueOf(base.env, "MPEXEC_RESOURCE_GPU"), "2");  // runs all of the unit's tests
  EXPECT_EQ(valueOf(base.env, "MPEXEC_TEST_NAME"), "<unset>");
  base.log_name = "u2.batch.1.log";
  UnitCommands u = unitCommands(l, logs, base);
  ASSERT_EQ(u.commands.size(), 3u);
  EXPECT_EQ(u.commands[1].role, sandbox::Role::Batch);
  EXPECT_EQ(u.commands[1].log_name, "u2.batch.1.log");
  EXPECT_EQ(u.tests, (std::vector<size_t>{0, 0, 0}));
}

TEST_F(UnitSpecTest, AFreeTestIsOneCommand) {
  job_.unit = 0;
  job_.tests = {0};
  LogNames logs(m_);
  UnitCommands u = unitCommands(launch(free_, nullptr), logs, std::nullopt);
  ASSERT_EQ(u.commands.size(), 1u);
  EXPECT_EQ(u.commands[0].role, sandbox::Role::Test);
  EXPECT_EQ(u.commands[0].log_name, "free.log");
  EXPECT_EQ(u.tests, (std::vector<size_t>{0}));
  EXPECT_EQ(valueOf(u.commands[0].env, "MPEXEC_GROUP"), "");
  EXPECT_EQ(valueOf(u.commands[0].env, "MPEXEC_STRATEGY"), "free");
}

}  // namespace
}  // namespace mpexec
