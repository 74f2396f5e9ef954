#include "sync-service/sync_cli.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <sstream>
#include <string>
#include <vector>

#include "tests/sync-service/test_service.h"

namespace mpexec::sync {
namespace {

struct CliRun {
  int code = -1;
  std::string out, err;
};

CliRun cli(const Endpoint& e, std::vector<std::string> args) {
  args.insert(args.begin(), "sync");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::ostringstream out, err;
  CliRun r;
  r.code = syncMain(static_cast<int>(args.size()), argv.data(), e, out, err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

class SyncCliTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(service_.ok()); }
  Endpoint unit(const std::string& id) { return service_.endpoint(service_->registerUnit(id)); }
  TestService service_;
};

// Item 3 of issue 18: what the service refuses, the command refuses first, saying why; what it takes comes
// back as the same JSON, in `get` and in `list`, even at the deepest nesting allowed.
TEST_F(SyncCliTest, BoardValuesAreStrictJsonBothWays) {
  Endpoint u = unit("u1");
  for (const char* value : {"1e400", "18446744073709551616", "{\"a\": 1, \"a\": 2}", "Infinity", "[1,]"}) {
    CliRun put = cli(u, {"board", "put", "k", value});
    EXPECT_EQ(put.code, 2) << value;
    EXPECT_NE(put.err.find("not JSON that the service takes"), std::string::npos) << put.err;
  }
  std::string deep = std::string(30, '[') + std::string(30, ']');
  ASSERT_EQ(cli(u, {"board", "put", "deep", deep}).code, 0);
  EXPECT_EQ(cli(u, {"board", "put", "deeper", "[" + deep + "]"}).code, 2);
  CliRun get = cli(u, {"board", "get", "deep"});
  EXPECT_EQ(get.code, 0) << get.err;
  EXPECT_EQ(get.out, deep + "\n");
  CliRun list = cli(u, {"board", "list"});
  EXPECT_EQ(list.code, 0) << list.err;
  EXPECT_NE(list.out.find(deep), std::string::npos) << list.out;
}

TEST_F(SyncCliTest, BoardCommandsAndTheirExitCodes) {
  Endpoint u = unit("u1");
  CliRun put = cli(u, {"board", "put", "cfg/port", "8080", "--if-absent"});
  EXPECT_EQ(put.code, 0) << put.err;
  std::string version = put.out.substr(0, put.out.size() - 1);
  EXPECT_EQ(cli(u, {"board", "put", "cfg/port", "9090", "--if-absent"}).code, 1) << "precondition failed";
  EXPECT_EQ(cli(u, {"board", "put", "cfg/port", "9090", "--if-version", "999"}).code, 1);
  EXPECT_EQ(cli(u, {"board", "put", "cfg/port", "9090", "--if-version", version}).code, 0);
  CliRun get = cli(u, {"board", "get", "cfg/port"});
  EXPECT_EQ(get.code, 0);
  EXPECT_EQ(get.out, "9090\n");
  CliRun with_version = cli(u, {"board", "get", "cfg/port", "--with-version"});
  EXPECT_NE(with_version.out.find("\"version\""), std::string::npos) << with_version.out;
  EXPECT_NE(cli(u, {"board", "list"}).out.find("cfg/port"), std::string::npos);
  EXPECT_EQ(cli(u, {"board", "put", "s", "\"text\""}).code, 0);
  EXPECT_EQ(cli(u, {"board", "get", "s"}).out, "\"text\"\n");
  EXPECT_EQ(cli(u, {"board", "del", "cfg/port"}).code, 0);
  EXPECT_EQ(cli(u, {"board", "del", "cfg/port"}).code, 1) << "not found";
  EXPECT_EQ(cli(u, {"board", "get", "cfg/port"}).code, 1) << "not found";
  CliRun timeout = cli(u, {"board", "wait", "never", "--timeout", "0.1"});
  EXPECT_EQ(timeout.code, 1);
  EXPECT_NE(timeout.err.find("408"), std::string::npos) << timeout.err;
  CliRun wait = cli(u, {"board", "wait", "s", "--after", "0", "--timeout", "5"});
  EXPECT_EQ(wait.code, 0);
  EXPECT_EQ(wait.out, "\"text\"\n");
}

TEST_F(SyncCliTest, UsageAndConnectionErrorsAre2) {
  Endpoint u = unit("u1");
  EXPECT_EQ(cli(u, {}).code, 2);
  EXPECT_EQ(cli(u, {"board"}).code, 2);
  EXPECT_EQ(cli(u, {"board", "frob", "k"}).code, 2);
  EXPECT_EQ(cli(u, {"board", "put", "k", "{not json"}).code, 2);
  EXPECT_EQ(cli(u, {"board", "put", "k", "1", "--if-absent", "--if-version", "3"}).code, 2);
  EXPECT_EQ(cli(u, {"board", "get", "bad key"}).code, 2);
  EXPECT_EQ(cli(u, {"board", "wait", "k", "--timeout", "soon"}).code, 2);
  EXPECT_EQ(cli(u, {"lock", "run", "x"}).code, 2) << "no command";
  EXPECT_EQ(cli(u, {"trail", "start", "x"}).code, 2) << "no command";
  EXPECT_EQ(cli(u, {"nonsense"}).code, 2);
  EXPECT_EQ(cli(u, {"--help"}).code, 0);
  Endpoint wrong = u;
  wrong.token = "nope";
  CliRun unauthorized = cli(wrong, {"board", "list"});
  EXPECT_EQ(unauthorized.code, 2);
  EXPECT_NE(unauthorized.err.find("401"), std::string::npos) << unauthorized.err;
  Endpoint nowhere = u;
  nowhere.socket_path = service_->runDir() + "/missing.sock";
  EXPECT_EQ(cli(nowhere, {"board", "list"}).code, 2);
}

TEST_F(SyncCliTest, LockCommands) {
  Endpoint a = unit("ua"), b = unit("ub");
  EXPECT_EQ(cli(a, {"lock", "acquire", "db"}).code, 0);
  EXPECT_EQ(cli(a, {"lock", "acquire", "db"}).code, 1) << "already held";
  EXPECT_EQ(cli(b, {"lock", "acquire", "db", "--timeout", "0.1"}).code, 1) << "timed out";
  EXPECT_EQ(cli(b, {"lock", "release", "db"}).code, 1) << "not the holder";
  EXPECT_EQ(cli(a, {"lock", "release", "db"}).code, 0);
  EXPECT_EQ(cli(b, {"lock", "run", "db", "--", "sh", "-c", "exit 3"}).code, 3) << "the command's own status";
  EXPECT_EQ(cli(a, {"lock", "acquire", "db", "--timeout", "0"}).code, 0) << "run released the lock";
  EXPECT_EQ(cli(b, {"lock", "run", "other", "--", "/nonexistent/cmd"}).code, 127);
}

TEST_F(SyncCliTest, TrailCommandsSeeFirstAndLast) {
  Endpoint a = unit("ua"), b = unit("ub");
  auto expectEnv = [](const char* name, const char* value) {
    return std::vector<std::string>{"--", "sh", "-c", std::string("test \"$") + name + "\" = " + value};
  };
  auto trail = [&](const Endpoint& e, const char* cmd, const char* var, const char* want) {
    std::vector<std::string> args{"trail", cmd, "db"};
    for (auto& s : expectEnv(var, want)) args.push_back(s);
    return cli(e, args).code;
  };
  EXPECT_EQ(trail(a, "start", "MPEXEC_TRAIL_FIRST", "1"), 0);
  EXPECT_EQ(trail(b, "start", "MPEXEC_TRAIL_FIRST", "0"), 0);
  EXPECT_EQ(trail(a, "finish", "MPEXEC_TRAIL_LAST", "0"), 0);
  EXPECT_EQ(trail(b, "finish", "MPEXEC_TRAIL_LAST", "1"), 0);
  // A failing setup exits with its status and leaves the trail, so the next start is first again.
  EXPECT_EQ(cli(a, {"trail", "start", "db", "--", "sh", "-c", "exit 4"}).code, 4);
  EXPECT_EQ(trail(b, "start", "MPEXEC_TRAIL_FIRST", "1"), 0);
  EXPECT_EQ(cli(a, {"trail", "finish", "db", "--", "true"}).code, 1) << "a no longer consumes db";
}

TEST_F(SyncCliTest, ReadsTheEndpointFromTheEnvironment) {
  std::string token = service_->registerUnit("env");
  setenv("MPEXEC_SYNC_SOCKET", service_->socketPath().c_str(), 1);
  setenv("MPEXEC_SYNC_TOKEN", token.c_str(), 1);
  Endpoint e = Endpoint::fromEnvironment();
  EXPECT_EQ(e.socket_path, service_->socketPath());
  EXPECT_EQ(e.token, token);
  std::vector<std::string> args{"sync", "board", "put", "from-env", "true"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  testing::internal::CaptureStdout();
  int code = syncMain(static_cast<int>(args.size()), argv.data());
  testing::internal::GetCapturedStdout();
  unsetenv("MPEXEC_SYNC_SOCKET");
  unsetenv("MPEXEC_SYNC_TOKEN");
  EXPECT_EQ(code, 0);
  auto entry = service_->endpoints().board().get("from-env");
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->value(), "true");
}

}  // namespace
}  // namespace mpexec::sync
