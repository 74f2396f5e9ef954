#include "sync-service/server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "sandbox/unique_fd.h"
#include "tests/sync-service/test_service.h"

namespace mpexec::sync {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

json::value body(const ClientResult& r) {
  boost::system::error_code ec;
  json::value v = json::parse(r.response.body, ec);
  EXPECT_FALSE(ec) << "not JSON: " << r.response.body;
  return v;
}

int status(const ClientResult& r) {
  EXPECT_TRUE(r.ok()) << r.error;
  return r.response.status;
}

// Every error answer is {"error": "..."}.
void expectError(const ClientResult& r, int want) {
  EXPECT_EQ(status(r), want) << r.response.body;
  json::value v = body(r);
  ASSERT_TRUE(v.is_object()) << r.response.body;
  EXPECT_TRUE(v.as_object().contains("error")) << r.response.body;
}

void expectHealthy(TestService& s) {
  SyncClient anyone(s.endpoint(""));
  ClientResult r = anyone.request("GET", "/v1/health");
  EXPECT_EQ(status(r), 200) << "the server stopped answering";
}

std::string shellRun(const std::string& command) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

bool haveCurl() { return system("curl --version >/dev/null 2>&1") == 0; }

TEST(ServiceTest, SocketIsPrivateDirectoryAndReachableSocket) {
  TestService s;
  ASSERT_TRUE(s.ok());
  struct stat st {};
  ASSERT_EQ(stat(s->runDir().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(stat(s->socketPath().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0666u);
  EXPECT_EQ(s->tcpPort(), -1);
  expectHealthy(s);
}

TEST(ServiceTest, StopRemovesSocketAndDirectoryAndEndsWaits) {
  TestService s;
  ASSERT_TRUE(s.ok());
  std::string dir = s->runDir(), sock = s->socketPath();
  SyncClient c = s.client("u1");
  int waited = 0;
  std::thread waiter([&] { waited = c.request("GET", "/v1/board/k?after=0&wait=60").response.status; });
  std::this_thread::sleep_for(100ms);
  auto t0 = std::chrono::steady_clock::now();
  s->stop();
  waiter.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 30s) << "stop() must not wait for the long poll";
  EXPECT_EQ(waited, 503);
  EXPECT_NE(access(sock.c_str(), F_OK), 0);
  EXPECT_NE(access(dir.c_str(), F_OK), 0);
  s->stop();  // idempotent
}

TEST(ServiceTest, RunInfoIsServedWithTheTcpAddress) {
  ServiceOptions o;
  o.run_info_json = R"({"np":4,"units":12,"start_us":0})";
  {
    TestService s(o);
    ASSERT_TRUE(s.ok());
    SyncClient c = s.client("u1");
    ClientResult r = c.request("GET", "/v1/run");
    EXPECT_EQ(status(r), 200);
    EXPECT_EQ(r.response.body, R"({"np":4,"units":12,"start_us":0,"sync_tcp":null})");
  }
  o.tcp_bind = "0.0.0.0:0";
  TestService s(o);
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(s->tcpLoopbackOnly());
  EXPECT_EQ(s->tcpAddress(), "127.0.0.1:" + std::to_string(s->tcpPort())) << "a wildcard bind is reached on loopback";
  SyncClient c = s.client("u1");
  EXPECT_EQ(body(c.request("GET", "/v1/run")).at("sync_tcp"), json::value(s->tcpAddress()));
}

TEST(ServiceTest, StartRejectsBadRunInfoAndBadBind) {
  std::string error;
  ServiceOptions o;
  o.run_info_json = "{nope";
  EXPECT_EQ(Service::start(o, &error), nullptr);
  EXPECT_NE(error.find("run info"), std::string::npos) << error;
  o.run_info_json = "{}";
  test::TempDir dir;
  o.run_dir_parent = dir.path();
  o.start_http = &startHttp;
  o.tcp_bind = "127.0.0.1:notaport";
  EXPECT_EQ(Service::start(o, &error), nullptr);
  EXPECT_NE(error.find("port"), std::string::npos) << error;
  o.tcp_bind = "192.0.2.1:1";  // TEST-NET-1: not an address of this machine, so bind fails
  EXPECT_EQ(Service::start(o, &error), nullptr);
  EXPECT_NE(error.find("TCP"), std::string::npos) << error;
  std::string leftovers = shellRun("ls -A " + dir.path());
  EXPECT_EQ(leftovers, "") << "a failed start removes its run directory and socket";
}

TEST(ServiceTest, AuthenticationFailuresAre401) {
  TestService s;
  ASSERT_TRUE(s.ok());
  SyncClient none(s.endpoint(""));
  expectError(none.request("GET", "/v1/board"), 401);
  expectHealthy(s);
  SyncClient wrong(s.endpoint("00000000000000000000000000000000"));
  expectError(wrong.request("GET", "/v1/board"), 401);
  expectHealthy(s);
  std::string token = s->registerUnit("u1");
  EXPECT_EQ(token.size(), 32u);
  EXPECT_EQ(token.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(token, s->registerUnit("u2"));
  SyncClient good(s.endpoint(token));
  EXPECT_EQ(status(good.request("GET", "/v1/board")), 200);
  s->unitEnded("u1");
  expectError(good.request("GET", "/v1/board"), 401);
  expectHealthy(s);
}

TEST(ServiceTest, MalformedRequestsAre400And404And405And413) {
  TestService s;
  ASSERT_TRUE(s.ok());
  SyncClient c = s.client("u1");
  expectError(c.request("PUT", "/v1/board/k", "{not json"), 400);
  expectHealthy(s);
  expectError(c.request("PUT", "/v1/board/k", "[1,2]"), 400);
  expectError(c.request("PUT", "/v1/board/k", R"({"valeu": 1})"), 400);
  expectError(c.request("PUT", "/v1/board/k", R"({"value": 1, "if_absent": true, "if_version": 3})"), 400);
  expectError(c.request("GET", "/v1/board/k?after=x&wait=1"), 400);
  expectError(c.request("GET", "/v1/board/k?after=0&wait=-1"), 400);
  expectError(c.request("GET", "/v1/board/a%20b"), 400);
  expectError(c.request("GET", "/v1/board/" + std::string(257, 'k')), 400);
  expectError(c.request("POST", "/v1/lock/bad*name/acquire"), 400);
  expectHealthy(s);
  expectError(c.request("GET", "/v1/nothing"), 404);
  expectError(c.request("POST", "/v1/lock/x/steal"), 404);
  expectHealthy(s);
  expectError(c.request("POST", "/v1/board/k"), 405);
  expectError(c.request("GET", "/v1/lock/x/acquire"), 405);
  expectError(c.request("DELETE", "/v1/health"), 405);
  expectHealthy(s);
  std::string big = R"({"value": ")" + std::string((1u << 20) + 10, 'x') + R"("})";
  ClientResult r = c.request("PUT", "/v1/board/k", big);
  expectError(r, 413);
  expectHealthy(s);
  SyncClient again = s.client("u2");
  EXPECT_EQ(status(again.request("PUT", "/v1/board/k", R"({"value": "small"})")), 200);
}

TEST(ServiceTest, BoardOverHttp) {
  TestService s;
  ASSERT_TRUE(s.ok());
  SyncClient c = s.client("u1");
  expectError(c.request("GET", "/v1/board/a/b"), 404);
  ClientResult put = c.request("PUT", "/v1/board/a/b", R"({"value": {"x": [1, 2]}, "if_absent": true})");
  ASSERT_EQ(status(put), 200) << put.response.body;
  uint64_t v1 = body(put).at("version").to_number<uint64_t>();
  ClientResult get = c.request("GET", "/v1/board/a/b");
  ASSERT_EQ(status(get), 200);
  EXPECT_EQ(body(get), json::parse(R"({"value": {"x": [1, 2]}, "version": )" + std::to_string(v1) + "}"));
  ClientResult conflict = c.request("PUT", "/v1/board/a/b", R"({"value": 2, "if_absent": true})");
  expectError(conflict, 409);
  EXPECT_EQ(body(conflict).at("version").to_number<uint64_t>(), v1) << "a 409 tells the current version";
  expectError(c.request("PUT", "/v1/board/a/b", R"({"value": 2, "if_version": 999})"), 409);
  EXPECT_EQ(
      status(c.request("PUT", "/v1/board/a/b", R"({"value": 2, "if_version": )" + std::to_string(v1) + "}")),
      200);
  ClientResult list = c.request("GET", "/v1/board");
  EXPECT_EQ(body(list).at("a/b").at("value"), json::value(2));
  EXPECT_EQ(status(c.request("DELETE", "/v1/board/a/b")), 200);
  expectError(c.request("DELETE", "/v1/board/a/b"), 404);
}

TEST(ServiceTest, BoardWaitLongPollsAndTimesOutWith408) {
  TestService s;
  ASSERT_TRUE(s.ok());
  SyncClient waiter = s.client("u1");
  SyncClient writer = s.client("u2");
  expectError(waiter.request("GET", "/v1/board/k?after=0&wait=0.1"), 408);
  expectHealthy(s);
  std::thread t([&] {
    std::this_thread::sleep_for(50ms);
    writer.request("PUT", "/v1/board/k", R"({"value": "ready"})");
  });
  ClientResult r = waiter.request("GET", "/v1/board/k?after=0&wait=30");
  t.join();
  ASSERT_EQ(status(r), 200);
  EXPECT_EQ(body(r).at("value"), json::value("ready"));
}

// Waits are capped per unit: a unit over its cap gets 429, and another unit's long polls and short
// requests go on.
TEST(ServiceTest, AUnitOverItsWaitsGets429AndOthersStillWait) {
  ServiceOptions o;
  o.http.max_unit_waits = 2;
  TestService s(o);
  ASSERT_TRUE(s.ok());
  std::string greedy = s->registerUnit("greedy");
  std::vector<std::thread> waiters;
  std::atomic<int> ok{0};
  for (int i = 0; i < 2; ++i) {
    waiters.emplace_back([&] {
      SyncClient c(s.endpoint(greedy));
      // The probe below holds a place for a moment, so a waiter may be refused once: it asks again.
      int code = 429;
      for (int tries = 0; tries < 5000 && code == 429; ++tries) {
        code = c.request("GET", "/v1/board/go?after=0&wait=30").response.status;
        if (code == 429) std::this_thread::sleep_for(1ms);
      }
      if (code == 200) ++ok;
    });
  }
  // Once both are parked, a third wait of the same unit is refused at once; before that it only times out.
  {
    SyncClient third(s.endpoint(greedy));
    ClientResult r;
    for (int i = 0; i < 500; ++i) {
      r = third.request("GET", "/v1/board/go?after=0&wait=0.02");
      if (r.response.status == 429) break;
      std::this_thread::sleep_for(10ms);
    }
    expectError(r, 429);
  }
  // Another unit waits as usual.
  SyncClient other = s.client("other");
  std::thread writer([&] {
    std::this_thread::sleep_for(50ms);
    SyncClient w = s.client("writer");
    EXPECT_EQ(status(w.request("PUT", "/v1/board/go", R"({"value": 1})")), 200);
  });
  EXPECT_EQ(status(other.request("GET", "/v1/board/go?after=0&wait=30")), 200);
  writer.join();
  for (auto& t : waiters) t.join();
  EXPECT_EQ(ok, 2);
  expectHealthy(s);
}

size_t threadCount() {
  size_t n = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) n += entry.is_directory();
  return n;
}

// Threads follow the requests in progress, not the connections: idle connections start none, each wait
// holds one, up to the cap.
TEST(ServiceTest, ThreadsFollowRequestsNotConnections) {
  ServiceOptions o;
  o.http.max_threads = 6;
  size_t before = threadCount();
  TestService s(o);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(threadCount(), before + 1) << "only the accepting thread while no one has connected";
  expectHealthy(s);
  // The thread that waited for the first connection ends once the front is up.
  for (int i = 0; i < 1000 && threadCount() > before + 3; ++i) std::this_thread::sleep_for(1ms);
  size_t serving = threadCount();
  EXPECT_LE(serving, before + 3) << "a front serving one request at a time needs at most three threads";
  std::vector<UniqueFd> idle;
  for (int i = 0; i < 100; ++i) {
    idle.emplace_back(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", s->socketPath().c_str());
    ASSERT_EQ(connect(idle.back().get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  }
  expectHealthy(s);
  EXPECT_LE(threadCount(), serving + 1) << "100 idle connections started threads";
  // Ten long polls at once: more than the cap, so some wait for a thread; all are answered.
  std::vector<std::thread> clients;
  std::atomic<int> served{0};
  for (int i = 0; i < 10; ++i) {
    clients.emplace_back([&, i] {
      SyncClient c = s.client("w" + std::to_string(i));
      if (c.request("GET", "/v1/board/go?after=0&wait=30").response.status == 200) ++served;
    });
  }
  std::this_thread::sleep_for(200ms);
  EXPECT_LE(threadCount(), before + 10 + 6) << "more threads than max_threads (beside the ten clients')";
  s->endpoints().board().put("go", "1");
  for (auto& t : clients) t.join();
  EXPECT_EQ(served, 10);
  expectHealthy(s);
}

std::atomic<int> fronts_started{0};
HttpFront* countingStart(const HttpConfig& config, std::string* error) {
  ++fronts_started;
  return startHttp(config, error);
}

TEST(ServiceTest, TheHttpFrontStartsWithTheFirstConnection) {
  fronts_started = 0;
  ServiceOptions o;
  o.start_http = &countingStart;
  o.tcp_bind = "127.0.0.1:0";
  TestService s(o);
  ASSERT_TRUE(s.ok());
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(fronts_started, 0) << "started before anyone connected";
  expectHealthy(s);
  // The first connection starts every listener's front, one after the other: the Unix one may answer
  // before the TCP one has started.
  for (int i = 0; i < 1000 && fronts_started < 2; ++i) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(fronts_started, 2) << "one front for each listener, Unix and TCP";
  expectHealthy(s);
  EXPECT_EQ(fronts_started, 2);
  EXPECT_TRUE(s->warnings().empty());
}

TEST(ServiceTest, AnHttpLibraryThatDoesNotLoadIsAWarningAndClientsAreRefused) {
  test::TempDir dir;
  std::string not_elf = dir.write("libmpexec-http.so", "not a shared library");
  std::string missing = dir.path() + "/missing/libmpexec-http.so";
  for (const std::string& library : {not_elf, missing}) {
    ServiceOptions o;
    o.http_library = library;
    TestService s(o);
    ASSERT_TRUE(s.ok()) << "only a client that calls the service needs the library";
    EXPECT_TRUE(s->warnings().empty());
    SyncClient c(s.endpoint(""));
    ClientResult r = c.request("GET", "/v1/health");
    EXPECT_FALSE(r.ok()) << "served without a front: " << r.response.status;
    std::vector<std::string> w = s->warnings();
    ASSERT_EQ(w.size(), 1u);
    EXPECT_NE(w[0].find("cannot load " + library), std::string::npos) << w[0];
    // Later clients are refused at once rather than left waiting in the backlog.
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_FALSE(c.request("GET", "/v1/health").ok());
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  }
}

TEST(ServiceTest, LocksOverHttpAndReleaseWhenTheUnitEnds) {
  TestService s;
  ASSERT_TRUE(s.ok());
  SyncClient a = s.client("ua");
  SyncClient b = s.client("ub");
  ASSERT_EQ(status(a.request("POST", "/v1/lock/db/acquire")), 200);
  expectError(a.request("POST", "/v1/lock/db/acquire"), 409);
  expectError(b.request("POST", "/v1/lock/db/acquire?wait=0.1"), 408);
  expectError(b.request("POST", "/v1/lock/db/release"), 409);
  expectHealthy(s);
  std::thread ender([&] {
    std::this_thread::sleep_for(50ms);
    s->unitEnded("ua");
  });
  ClientResult r = b.request("POST", "/v1/lock/db/acquire?wait=30");
  ender.join();
  EXPECT_EQ(status(r), 200) << "ua's lock is released when it ends";
  EXPECT_EQ(status(b.request("POST", "/v1/lock/db/release")), 200);
  bool logged = false;
  for (const Operation& op : s->operations()) {
    if (op.op == "unit.ended" && op.unit == "ua") {
      logged = true;
      EXPECT_NE(op.result.find("released_locks=db"), std::string::npos) << op.result;
    }
  }
  EXPECT_TRUE(logged);
}

TEST(ServiceTest, TrailsOverHttp) {
  TestService s;
  ASSERT_TRUE(s.ok());
  SyncClient a = s.client("ua");
  SyncClient b = s.client("ub");
  ClientResult r = a.request("POST", "/v1/trail/db/start");
  ASSERT_EQ(status(r), 200);
  EXPECT_EQ(body(r), json::parse(R"({"first": true})"));
  expectError(b.request("POST", "/v1/trail/db/start?wait=0.1"), 408);
  expectError(a.request("POST", "/v1/trail/db/done", R"({"ok": "maybe"})"), 400);
  EXPECT_EQ(status(a.request("POST", "/v1/trail/db/done")), 200);
  expectError(a.request("POST", "/v1/trail/db/done"), 409);
  EXPECT_EQ(body(b.request("POST", "/v1/trail/db/start")), json::parse(R"({"first": false})"));
  b.request("POST", "/v1/trail/db/done");
  EXPECT_EQ(body(a.request("POST", "/v1/trail/db/finish")), json::parse(R"({"last": false})"));
  a.request("POST", "/v1/trail/db/done");
  s->unitEnded("ub");
  ASSERT_EQ(s->warnings().size(), 1u) << "ub never finished the trail";
}

TEST(ServiceTest, AUnitDyingInsideItsFirstStartBlockHandsFirstToTheNextStarter) {
  TestService s;
  ASSERT_TRUE(s.ok());
  SyncClient a = s.client("ua");
  SyncClient b = s.client("ub");
  SyncClient c = s.client("uc");
  ASSERT_EQ(body(a.request("POST", "/v1/trail/db/start")), json::parse(R"({"first": true})"));
  ASSERT_EQ(status(c.request("POST", "/v1/lock/l/acquire")), 200);
  ClientResult next, cancelled;
  std::thread starter([&] { next = b.request("POST", "/v1/trail/db/start?wait=30"); });
  std::thread waiter([&] { cancelled = a.request("POST", "/v1/lock/l/acquire?wait=30"); });
  std::this_thread::sleep_for(100ms);
  s->unitEnded("ua");  // e.g. its sandbox was killed while setting up
  starter.join();
  waiter.join();
  ASSERT_EQ(status(next), 200);
  EXPECT_EQ(body(next), json::parse(R"({"first": true})"));
  expectError(cancelled, 401);
  expectError(a.request("POST", "/v1/trail/db/done"), 401);
  EXPECT_EQ(status(b.request("POST", "/v1/trail/db/done")), 200);
  ASSERT_EQ(s->warnings().size(), 1u);
  EXPECT_NE(s->warnings()[0].find("ua"), std::string::npos);
  expectHealthy(s);
}

TEST(ServiceTest, OperationsAreLoggedWithUnitsAndMonotonicTimes) {
  TestService s;
  ASSERT_TRUE(s.ok());
  int64_t before = monotonicNanos();
  SyncClient c = s.client("u7");
  c.request("PUT", "/v1/board/k", R"({"value": 1})");
  c.request("GET", "/v1/board/nope");
  std::vector<Operation> ops = s->operations();
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(ops[0].unit, "u7");
  EXPECT_EQ(ops[0].op, "board.put");
  EXPECT_EQ(ops[0].key, "k");
  EXPECT_EQ(ops[0].status, 200);
  EXPECT_EQ(ops[1].op, "board.get");
  EXPECT_EQ(ops[1].result, "not_found");
  EXPECT_EQ(ops[1].status, 404);
  EXPECT_GE(ops[0].start_ns, before);
  EXPECT_LE(ops[0].start_ns, ops[0].end_ns);
  EXPECT_LE(ops[0].end_ns, ops[1].start_ns);
  EXPECT_EQ(s->droppedOperations(), 0u);
}

TEST(ServiceTest, AlsoListensOnTcp) {
  ServiceOptions o;
  o.tcp_bind = "127.0.0.1";
  TestService s(o);
  ASSERT_TRUE(s.ok());
  ASSERT_GT(s->tcpPort(), 0);
  Endpoint e;
  e.tcp_host = "127.0.0.1";
  e.tcp_port = s->tcpPort();
  e.token = s->registerUnit("u1");
  SyncClient c(e);
  EXPECT_EQ(status(c.request("PUT", "/v1/board/k", R"({"value": 5})")), 200);
  ClientResult r = c.request("GET", "/v1/board/k");
  EXPECT_EQ(body(r).at("value"), json::value(5));
  e.token = "bad";
  SyncClient stranger(e);
  expectError(stranger.request("GET", "/v1/board/k"), 401);
}

TEST(ServiceTest, CurlIsARealClient) {
  if (!haveCurl()) GTEST_SKIP() << "curl is not installed";
  TestService s;
  ASSERT_TRUE(s.ok());
  std::string token = s->registerUnit("u1");
  std::string base =
      "curl -s --unix-socket " + s->socketPath() + " -H 'Authorization: Bearer " + token + "' ";
  std::string put = shellRun(base + "-X PUT -d '{\"value\": [1, \"two\"]}' http://mpexec/v1/board/curl/key");
  EXPECT_NE(put.find("\"version\""), std::string::npos) << put;
  std::string get = shellRun(base + "http://mpexec/v1/board/curl/key");
  EXPECT_EQ(json::parse(get).at("value"), json::parse(R"([1, "two"])")) << get;
  std::string head = shellRun(base + "-i -X PATCH http://mpexec/v1/board/curl/key");
  EXPECT_NE(head.find("405"), std::string::npos) << head;
  EXPECT_NE(head.find("Allow: GET, PUT, DELETE"), std::string::npos) << head;
  std::string acquire = shellRun(base + "-X POST http://mpexec/v1/lock/curl/acquire");
  EXPECT_EQ(acquire, R"({"held":true})") << "a POST without a body or Content-Length";
  std::string anon = shellRun("curl -s -o /dev/null -w '%{http_code}' --unix-socket " + s->socketPath() +
                              " http://mpexec/v1/board");
  EXPECT_EQ(anon, "401");
  std::string big =
      shellRun("head -c 2000000 /dev/zero | tr '\\0' x | " + base +
               "-o /dev/null -w '%{http_code}' -X PUT --data-binary @- http://mpexec/v1/board/big");
  EXPECT_EQ(big, "413");
  // 20 KB with curl -d's default type (a form): the body is JSON whatever the Content-Type says.
  std::string value = "{\"value\": \"" + std::string(20000, 'x') + "\"}";
  std::string form = shellRun(base + "-X PUT -d '" + value + "' http://mpexec/v1/board/form");
  EXPECT_NE(form.find("\"version\""), std::string::npos) << form;
  expectHealthy(s);
}

}  // namespace
}  // namespace mpexec::sync
