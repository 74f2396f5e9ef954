// The HTTP front against clients that misbehave (docs/sync.md, "Abuse"): floods, slow and idle connections,
// framing that could be read two ways, JSON that would not come back out the same.
#include "sync-service/http.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/resource.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <fstream>
#include <memory>
#include <thread>
#include <vector>

#include "sync-service/strict_json.h"
#include "tests/sync-service/raw_http.h"
#include "tests/sync-service/test_service.h"

namespace mpexec::sync {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using namespace std::string_literals;

size_t statusKb(const char* field) {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind(field, 0) == 0) return std::strtoul(line.c_str() + std::strlen(field), nullptr, 10);
  return 0;
}

// The peak resident size of this process (service and clients) from now on, in MiB: VmHWM after
// resetting it, else the highest VmRSS sampled every few milliseconds.
class PeakRss {
 public:
  PeakRss() {
    std::ofstream("/proc/self/clear_refs") << "5";
    base_ = statusKb("VmRSS:");
    sampler_ = std::thread([this] {
      while (!stop_) {
        max_ = std::max<size_t>(max_, statusKb("VmRSS:"));
        std::this_thread::sleep_for(2ms);
      }
    });
  }
  ~PeakRss() { end(); }
  /// Growth over the resident size at the start, in MiB.
  double growthMb() {
    end();
    return double(std::max<size_t>(max_, statusKb("VmHWM:")) - base_) / 1024;
  }

 private:
  void end() {
    stop_ = true;
    if (sampler_.joinable()) sampler_.join();
  }
  size_t base_ = 0;
  std::atomic<size_t> max_{0};
  std::atomic<bool> stop_{false};
  std::thread sampler_;
};

// Every answer is a JSON object, valid UTF-8, with "error" unless it is a 2xx.
void expectJsonAnswer(const RawAnswer& a, const std::string& what) {
  ASSERT_TRUE(a.ok) << what << ": no answer";
  EXPECT_EQ(utf8Safe(a.body), a.body) << what << ": not UTF-8: " << a.body;
  json::value v;
  std::string error;
  ASSERT_TRUE(parseStrictJson(a.body, &v, &error)) << what << ": " << error << ": " << a.body;
  ASSERT_TRUE(v.is_object()) << what << ": " << a.body;
  if (a.status >= 300) {
    EXPECT_TRUE(v.as_object().contains("error")) << what << ": " << a.body;
  }
}

std::string errorOf(const RawAnswer& a) {
  boost::system::error_code ec;
  json::value v = json::parse(a.body, ec);
  if (ec || !v.is_object() || !v.as_object().contains("error")) return "(no error in " + a.body + ")";
  return std::string(v.at("error").as_string());
}

// Sends `total` bytes of body, in 64 KiB pieces, until the service stops taking them; returns how many went.
size_t sendBody(RawConnection& c, size_t total, const std::string& piece_head = "", const std::string& piece_tail = "") {
  std::string piece = piece_head + std::string(64 << 10, ' ') + piece_tail;
  size_t sent = 0;
  while (sent < total && c.send(piece)) sent += 64 << 10;
  return sent;
}

bool raiseFileLimit(rlim_t want) {
  rlimit r{};
  getrlimit(RLIMIT_NOFILE, &r);
  if (r.rlim_cur >= want) return true;
  if (r.rlim_max < want) return false;
  r.rlim_cur = want;
  return setrlimit(RLIMIT_NOFILE, &r) == 0;
}

constexpr double kMaxGrowthMb = 48;

// Item 1: a chunked body does not get past the 1 MiB limit, and what is refused is never stored.
TEST(HttpFrontTest, AChunkedFloodIs413AndMemoryStaysBounded) {
  TestService s;
  ASSERT_TRUE(s.ok());
  std::string token = s->registerUnit("flood");
  PeakRss peak;
  RawConnection c(s->socketPath());
  ASSERT_TRUE(c.send("PUT /v1/board/big HTTP/1.1\r\nAuthorization: Bearer " + token +
                     "\r\nTransfer-Encoding: chunked\r\n\r\n"));
  std::thread sender([&] { sendBody(c, 256u << 20, "10000\r\n", "\r\n"); });
  RawAnswer a = c.read();
  sender.join();
  EXPECT_EQ(a.status, 413) << a.head << a.body;
  EXPECT_NE(errorOf(a).find("1 MiB"), std::string::npos) << a.body;
  double growth = peak.growthMb();
  EXPECT_LT(growth, kMaxGrowthMb) << "256 MiB sent chunked";
  RecordProperty("rss_growth_kb", std::to_string(int(growth * 1024)));
  EXPECT_FALSE(s->endpoints().board().get("big")) << "a refused body was stored";
  EXPECT_EQ(RawConnection(s->socketPath()).exchange(rawRequest("GET", "/v1/health", "")).status, 200);
}

// Item 1: without a token, nothing of the body is read: the 401 comes before the body is sent; a client that
// sends a body of a size the service takes before reading gets its 401 afterwards; one that floods is cut
// off; memory stays where it was. Over TCP and the Unix socket.
TEST(HttpFrontTest, ABodyWithoutATokenIsRefusedBeforeItIsRead) {
  ServiceOptions o;
  o.tcp_bind = "127.0.0.1:0";
  TestService s(o);
  ASSERT_TRUE(s.ok());
  std::string head = "PUT /v1/board/k HTTP/1.1\r\nContent-Length: " + std::to_string(100u << 20) + "\r\n\r\n";
  for (int port : {s->tcpPort(), 0}) {
    RawConnection early(s->socketPath(), port);
    RawAnswer a = early.exchange(head);
    EXPECT_EQ(a.status, 401) << "port " << port << ": the service waited for the body";
    EXPECT_NE(a.head.find("Connection: close"), std::string::npos) << a.head;
    RawConnection late(s->socketPath(), port);
    ASSERT_TRUE(late.send("PUT /v1/board/k HTTP/1.1\r\nContent-Length: 1048576\r\n\r\n"));
    sendBody(late, 1u << 20);
    a = late.read();
    EXPECT_EQ(a.status, 401) << "port " << port << ": a client that sent all of its body lost the answer";
    PeakRss peak;
    RawConnection flood(s->socketPath(), port);
    ASSERT_TRUE(flood.send(head));
    EXPECT_LT(sendBody(flood, 100u << 20), 100u << 20) << "port " << port << ": the service read a flood to its end";
    double growth = peak.growthMb();
    EXPECT_LT(growth, kMaxGrowthMb);
    RecordProperty(port ? "tcp_rss_growth_kb" : "unix_rss_growth_kb", std::to_string(int(growth * 1024)));
  }
  // Nor of a chunked body, whose size is not known ahead.
  RawConnection chunked(s->socketPath());
  RawAnswer a = chunked.exchange("PUT /v1/board/k HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_EQ(a.status, 401) << "the service waited for a chunked body";
  // A token does not buy a body over the limit: 413 at once, whatever the Content-Length says.
  std::string token = s->registerUnit("u");
  for (const char* length : {"1048577", "1000000000000", "99999999999999999999999"}) {
    RawConnection c(s->socketPath());
    a = c.exchange("PUT /v1/board/k HTTP/1.1\r\nAuthorization: Bearer " + token + "\r\nContent-Length: " + length +
                   "\r\n\r\n");
    EXPECT_EQ(a.status, 413) << length;
  }
}

// Item 2: one unit holds 500 idle, 40 trickling and 500 kept-alive connections; another unit's calls, on
// a kept-alive connection and on a new connection each (as `mpexec sync` makes them), go on.
TEST(HttpFrontTest, AWitnessKeepsWorkingWhileAnotherUnitHoldsHundredsOfConnections) {
  if (!raiseFileLimit(4096)) GTEST_SKIP() << "needs 4096 open files (both ends of 1040 connections)";
  TestService s;
  ASSERT_TRUE(s.ok());
  std::string hostile = s->registerUnit("hostile");
  std::string witness = s->registerUnit("witness");
  std::vector<std::unique_ptr<RawConnection>> held;
  for (int i = 0; i < 500; ++i) held.push_back(std::make_unique<RawConnection>(s->socketPath()));
  std::vector<std::unique_ptr<RawConnection>> trickling;
  for (int i = 0; i < 40; ++i) trickling.push_back(std::make_unique<RawConnection>(s->socketPath()));
  std::vector<std::unique_ptr<RawConnection>> kept_alive;
  for (int i = 0; i < 500; ++i) {
    kept_alive.push_back(std::make_unique<RawConnection>(s->socketPath()));
    kept_alive.back()->send(rawRequest("GET", "/v1/board/k", hostile));  // answered, then kept alive idle
  }
  std::atomic<bool> stop{false};
  std::thread reader([&] {  // takes the answers, so that the hostile side never waits on the service
    std::vector<pollfd> fds;
    for (auto& c : kept_alive) fds.push_back({c->fd(), POLLIN, 0});
    char sink[4096];
    while (!stop) {
      if (poll(fds.data(), fds.size(), 50) <= 0) continue;
      for (auto& p : fds)
        if (p.revents && recv(p.fd, sink, sizeof sink, MSG_DONTWAIT) == 0) p.fd = -1;  // closed by the service
    }
  });
  std::thread trickler([&] {
    std::string head = rawRequest("GET", "/v1/board/k", hostile);
    for (size_t i = 0; !stop && i < head.size() - 2; ++i) {
      for (auto& c : trickling) c->send(head.substr(i, 1));
      for (int t = 0; !stop && t < 50; ++t) std::this_thread::sleep_for(10ms);  // a byte every half second
    }
  });
  RawConnection kept(s->socketPath());
  int failures = 0;
  for (int i = 0; i < 20; ++i) {
    std::string value = R"({"value": )" + std::to_string(i) + "}";
    RawAnswer put = kept.exchange(rawRequest("PUT", "/v1/board/w", witness, value));
    RawAnswer get = RawConnection(s->socketPath()).exchange(rawRequest("GET", "/v1/board/w", witness));
    RawAnswer lock = RawConnection(s->socketPath()).exchange(rawRequest("POST", "/v1/lock/l/acquire", witness));
    RawAnswer unlock = kept.exchange(rawRequest("POST", "/v1/lock/l/release", witness));
    failures += put.status != 200 || get.status != 200 || lock.status != 200 || unlock.status != 200;
    if (failures > 0) break;  // a starved witness waits out every call's timeout
  }
  // A long poll, woken by a put of the witness's own from another connection.
  std::thread poke([&] {
    std::this_thread::sleep_for(100ms);
    RawConnection(s->socketPath()).exchange(rawRequest("PUT", "/v1/board/go", witness, R"({"value": 1})"));
  });
  RawAnswer poll = RawConnection(s->socketPath()).exchange(rawRequest("GET", "/v1/board/go?after=0&wait=30", witness));
  poke.join();
  stop = true;
  trickler.join();
  reader.join();
  EXPECT_EQ(failures, 0) << "of 20 rounds of witness calls";
  EXPECT_EQ(poll.status, 200) << poll.body;
}

// Item 2: waits are capped per unit, so another unit's long polls keep working.
TEST(HttpFrontTest, LongPollsOfOneUnitDoNotTakeAnothersPlace) {
  TestService s;
  ASSERT_TRUE(s.ok());
  std::string hostile = s->registerUnit("hostile");
  std::string witness = s->registerUnit("witness");
  std::vector<std::unique_ptr<RawConnection>> polls;
  for (int i = 0; i < 40; ++i) {
    polls.push_back(std::make_unique<RawConnection>(s->socketPath(), 0, 1));
    polls.back()->send(rawRequest("GET", "/v1/board/never?after=0&wait=30", hostile));
  }
  std::this_thread::sleep_for(200ms);
  std::thread poke([&] {
    std::this_thread::sleep_for(200ms);
    RawConnection(s->socketPath()).exchange(rawRequest("PUT", "/v1/board/go", witness, R"({"value": 1})"));
  });
  RawAnswer a = RawConnection(s->socketPath()).exchange(rawRequest("GET", "/v1/board/go?after=0&wait=10", witness));
  poke.join();
  EXPECT_EQ(a.status, 200) << a.body;
}

// Item 2: a head or body that trickles gets 408 at the deadline, and an idle connection is closed.
TEST(HttpFrontTest, SlowRequestsGet408AndIdleConnectionsAreClosed) {
  ServiceOptions o;
  o.http.request_timeout = 300ms;
  o.http.idle_timeout = 500ms;
  o.http.tick = 50ms;
  TestService s(o);
  ASSERT_TRUE(s.ok());
  std::string token = s->registerUnit("u");
  RawConnection slow(s->socketPath());
  std::string head = rawRequest("GET", "/v1/health", "");
  for (size_t i = 0; i < head.size() - 1; ++i) {  // never the last byte
    pollfd p{slow.fd(), POLLIN, 0};
    if (poll(&p, 1, 0) > 0 || !slow.send(head.substr(i, 1))) break;
    std::this_thread::sleep_for(50ms);
  }
  RawAnswer a = slow.read();
  EXPECT_EQ(a.status, 408) << a.head;
  EXPECT_TRUE(slow.closedByService());
  RawConnection stalled(s->socketPath());
  a = stalled.exchange("PUT /v1/board/k HTTP/1.1\r\nAuthorization: Bearer " + token + "\r\nContent-Length: 10\r\n\r\nabc");
  EXPECT_EQ(a.status, 408) << "a body that stops half way: " << a.head;
  RawConnection idle(s->socketPath());
  EXPECT_EQ(idle.exchange(rawRequest("GET", "/v1/health", "")).status, 200);
  EXPECT_TRUE(idle.closedByService()) << "an idle connection was kept past idle_timeout";
}

// Item 4: requests sent before the answers to earlier ones are answered, in order (RFC 9112 §9.3.2).
TEST(HttpFrontTest, PipelinedRequestsAreAnsweredInOrder) {
  TestService s;
  ASSERT_TRUE(s.ok());
  std::string token = s->registerUnit("u");
  RawConnection c(s->socketPath());
  ASSERT_TRUE(c.send(rawRequest("PUT", "/v1/board/k", token, R"({"value": "first"})") +
                     rawRequest("GET", "/v1/board/k", token) + rawRequest("DELETE", "/v1/board/k", token) +
                     rawRequest("GET", "/v1/board/k", token) + rawRequest("GET", "/v1/health", "")));
  std::vector<int> statuses;
  for (int i = 0; i < 5; ++i) {
    RawAnswer a = c.read();
    statuses.push_back(a.ok ? a.status : -1);
    if (i == 1) {
      EXPECT_NE(a.body.find("\"first\""), std::string::npos) << a.body;
    }
  }
  EXPECT_EQ(statuses, (std::vector<int>{200, 200, 200, 404, 200}));
  // A request after one that asks to close is not answered.
  RawConnection closing(s->socketPath());
  closing.send(rawRequest("GET", "/v1/health", "", "", "Connection: close\r\n") + rawRequest("GET", "/v1/health", ""));
  EXPECT_EQ(closing.read().status, 200);
  EXPECT_TRUE(closing.closedByService());
}

// Item 3: numbers that would not come back out as JSON are refused, naming the field, and the board stays
// valid JSON for every strict client.
TEST(HttpFrontTest, NumbersThatDoNotSurviveAre400AndTheBoardStaysValidJson) {
  TestService s;
  ASSERT_TRUE(s.ok());
  std::string token = s->registerUnit("u");
  RawConnection c(s->socketPath());
  EXPECT_EQ(c.exchange(rawRequest("PUT", "/v1/board/ok", token, R"({"value": [1.5, 1e300]})")).status, 200);
  struct Case {
    std::string body, message;
  };
  for (const Case& k : {Case{R"({"value": 1e400})", "at value: the number 1e400"},
                        Case{R"({"value": {"x": [-1e400]}})", "at value.x[0]: the number -1e400"},
                        Case{R"({"value": 18446744073709551616})", "at value: the integer 18446744073709551616 does not fit in 64 bits"},
                        Case{R"({"value": 1, "if_version": 99999999999999999999})", "at if_version: the integer"},
                        Case{R"({"value": 1, "value": 2})", "at value: the key appears twice"},
                        Case{"{\"value\": \"\xff\"}", "invalid UTF-8"}}) {
    RawAnswer a = c.exchange(rawRequest("PUT", "/v1/board/bad", token, k.body));
    EXPECT_EQ(a.status, 400) << k.body;
    expectJsonAnswer(a, k.body);
    EXPECT_NE(errorOf(a).find(k.message), std::string::npos) << errorOf(a);
  }
  // A value nests at most 30 levels, 31 with the body's object: GET /v1/board wraps it in two objects, and
  // stays within the 32 levels that strict parsers take.
  std::string deep = R"({"value": )" + std::string(30, '[') + std::string(30, ']') + "}";
  EXPECT_EQ(c.exchange(rawRequest("PUT", "/v1/board/deep", token, deep)).status, 200);
  deep = R"({"value": )" + std::string(31, '[') + std::string(31, ']') + "}";
  RawAnswer too_deep = c.exchange(rawRequest("PUT", "/v1/board/deeper", token, deep));
  EXPECT_EQ(too_deep.status, 400);
  EXPECT_NE(errorOf(too_deep).find("deeper than 31 levels"), std::string::npos) << too_deep.body;
  RawAnswer board = c.exchange(rawRequest("GET", "/v1/board", token));
  expectJsonAnswer(board, "GET /v1/board");
  EXPECT_EQ(board.body.find("bad"), std::string::npos) << board.body;
}

// Item 5: every body mpexec sends is UTF-8 JSON, including errors that echo what the client sent.
TEST(HttpFrontTest, EveryAnswerIsUtf8Json) {
  TestService s;
  ASSERT_TRUE(s.ok());
  std::string token = s->registerUnit("u");
  for (const std::string& target : {"/v1/board/%FF%FE"s, "/v1/board/%C0%AF"s, "/v1/lock/%ED%A0%80/acquire"s,
                                    "/v1/%FFnothing"s, "/v1/board/a%00b"s, "/v1/board/\xff\xfe"s,
                                    "/v1/board/%"s, "/v1/board/" + std::string(300, 'k')}) {
    for (const char* method : {"GET", "PUT", "POST", "BREW"}) {
      RawConnection c(s->socketPath());
      std::string body = method == "PUT"s ? R"({"value": 1})" : "";
      RawAnswer a = c.exchange(rawRequest(method, target, token, body));
      expectJsonAnswer(a, std::string(method) + " " + utf8Safe(target));
      EXPECT_GE(a.status, 400) << method << " " << utf8Safe(target);
    }
  }
  for (const std::string& request :
       {"\xff\xfe / HTTP/1.1\r\n\r\n"s, "PUT /v1/board/k HTTP/1.1\r\nContent-Length: \xff\xfe\r\n\r\n"s,
        "PUT /v1/board/k HTTP/1.1\r\nTransfer-Encoding: \xc3\x28, chunked\r\n\r\n"s,
        "PUT /v1/board/k HTTP/1.1\r\nAuthorization: Bearer " + token + "\r\nTransfer-Encoding: chunked\r\n\r\n\xff\r\n"}) {
    RawConnection c(s->socketPath());
    RawAnswer a = c.exchange(request);
    expectJsonAnswer(a, utf8Safe(request));
    EXPECT_GE(a.status, 400) << utf8Safe(request);
  }
}

// Item 6: the loose edges.
TEST(HttpFrontTest, NegativeLengthsAre400AndTheBearerSchemeIsCaseInsensitive) {
  TestService s;
  ASSERT_TRUE(s.ok());
  std::string token = s->registerUnit("u");
  RawConnection c(s->socketPath());
  RawAnswer a = c.exchange("PUT /v1/board/k HTTP/1.1\r\nAuthorization: Bearer " + token + "\r\nContent-Length: -1\r\n\r\n");
  EXPECT_EQ(a.status, 400) << a.body;
  expectJsonAnswer(a, "Content-Length: -1");
  for (std::string scheme : {"bearer ", "BEARER ", "BeArEr   "}) {
    RawConnection k(s->socketPath());
    EXPECT_EQ(k.exchange("GET /v1/board HTTP/1.1\r\nAuthorization: " + scheme + token + "\r\n\r\n").status, 200)
        << scheme;
  }
  for (const std::string& wrong : {"Bearer" + token, "Basic " + token, "Bearer " + token + "x", token}) {
    RawConnection k(s->socketPath());
    EXPECT_EQ(k.exchange("GET /v1/board HTTP/1.1\r\nAuthorization: " + wrong + "\r\n\r\n").status, 401) << wrong;
  }
}

// Request smuggling shapes: framing that two readers could read two ways is refused, the connection
// closed, and nothing hidden in the body runs.
TEST(HttpFrontTest, AmbiguousFramingIsRefusedAndTheConnectionClosed) {
  TestService s;
  ASSERT_TRUE(s.ok());
  std::string token = s->registerUnit("u");
  std::string auth = "Authorization: Bearer " + token + "\r\n";
  std::string hidden = rawRequest("DELETE", "/v1/board/k", token);
  struct Case {
    std::string request;
    int status;
  };
  for (const Case& k :
       {Case{"POST /v1/lock/l/release HTTP/1.1\r\n" + auth + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + hidden, 400},
        Case{"POST /v1/lock/l/release HTTP/1.1\r\n" + auth + "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n" + hidden, 400},
        Case{"POST /v1/lock/l/release HTTP/1.1\r\n" + auth + "Content-Length: 0\r\nContent-Length: 70\r\n\r\n" + hidden, 400},
        Case{"POST /v1/lock/l/release HTTP/1.1\r\n" + auth + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n" + hidden, 501},
        Case{"POST /v1/lock/l/release HTTP/1.1\r\n" + auth + "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n" + hidden, 400},
        Case{"POST /v1/lock/l/release HTTP/1.1\r\n" + auth + "X: y\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + hidden, 400},
        Case{"POST /v1/lock/l/release HTTP/1.1\r\n" + auth + "Transfer-Encoding: chunked\r\n\r\nz\r\n\r\n" + hidden, 400},
        Case{"POST /v1/lock/l/release HTTP/1.1\r\n" + auth + "Transfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n" + hidden, 400},
        Case{"POST /v1/lock/l/release HTTP/1.0\r\n" + auth + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + hidden, 400}}) {
    ASSERT_EQ(RawConnection(s->socketPath()).exchange(rawRequest("PUT", "/v1/board/k", token, R"({"value": 1})")).status, 200);
    RawConnection c(s->socketPath());
    RawAnswer a = c.exchange(k.request);
    EXPECT_EQ(a.status, k.status) << k.request;
    expectJsonAnswer(a, k.request);
    EXPECT_NE(a.head.find("Connection: close"), std::string::npos) << a.head;
    EXPECT_TRUE(c.closedByService()) << k.request;
    EXPECT_TRUE(s->endpoints().board().get("k")) << "the hidden DELETE ran: " << k.request;
  }
}

TEST(HttpFrontTest, OversizedHeadsAre414And431) {
  TestService s;
  ASSERT_TRUE(s.ok());
  struct Case {
    std::string request;
    int status;
  };
  std::string many;
  for (int i = 0; i < 200; ++i) many += "X-" + std::to_string(i) + ": y\r\n";
  for (const Case& k : {Case{"GET /v1/" + std::string(9000, 'a') + " HTTP/1.1\r\n\r\n", 414},
                        Case{"GET /v1/health HTTP/1.1\r\nX: " + std::string(20000, 'a') + "\r\n\r\n", 431},
                        Case{"GET /v1/health HTTP/1.1\r\n" + many + "\r\n", 431},
                        Case{std::string(20000, 'A'), 414}}) {
    RawConnection c(s->socketPath());
    RawAnswer a = c.exchange(k.request);
    EXPECT_EQ(a.status, k.status) << k.request.substr(0, 60);
    expectJsonAnswer(a, k.request.substr(0, 60));
    EXPECT_TRUE(c.closedByService());
  }
  EXPECT_EQ(RawConnection(s->socketPath()).exchange(rawRequest("GET", "/v1/health", "")).status, 200);
}

TEST(HttpFrontTest, Http10AndExpectContinue) {
  TestService s;
  ASSERT_TRUE(s.ok());
  std::string token = s->registerUnit("u");
  RawConnection old(s->socketPath());
  RawAnswer a = old.exchange("GET /v1/health HTTP/1.0\r\n\r\n");
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.head.rfind("HTTP/1.1 200", 0), 0u) << a.head;
  EXPECT_TRUE(old.closedByService()) << "HTTP/1.0 without keep-alive";
  RawConnection kept(s->socketPath());
  EXPECT_EQ(kept.exchange("GET /v1/health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").status, 200);
  EXPECT_EQ(kept.exchange("GET /v1/health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").status, 200);

  RawConnection expect(s->socketPath());
  std::string body = R"({"value": 7})";
  ASSERT_TRUE(expect.send("PUT /v1/board/e HTTP/1.1\r\nAuthorization: Bearer " + token + "\r\nContent-Length: " +
                          std::to_string(body.size()) + "\r\nExpect: 100-continue\r\n\r\n"));
  EXPECT_EQ(expect.read().status, 100);
  EXPECT_EQ(expect.exchange(body).status, 200);
  RawConnection refused(s->socketPath());
  a = refused.exchange("PUT /v1/board/e HTTP/1.1\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_EQ(a.status, 401) << "no 100 Continue without a token";
  RawConnection odd(s->socketPath());
  EXPECT_EQ(odd.exchange("PUT /v1/board/e HTTP/1.1\r\nContent-Length: 5\r\nExpect: 200-ok\r\n\r\n").status, 417);
}

// What a client sees over the connection caps (docs/sync.md).
TEST(HttpFrontTest, OverItsConnectionCapAUnitLosesItsLeastRecentlyUsedIdleConnection) {
  ServiceOptions o;
  o.http.max_unit_connections = 3;
  TestService s(o);
  ASSERT_TRUE(s.ok());
  std::string token = s->registerUnit("u");
  std::vector<std::unique_ptr<RawConnection>> c;
  for (int i = 0; i < 4; ++i) {
    c.push_back(std::make_unique<RawConnection>(s->socketPath(), 0, 2));
    EXPECT_EQ(c.back()->exchange(rawRequest("GET", "/v1/board", token)).status, 200) << i;
  }
  EXPECT_TRUE(c[0]->closedByService()) << "the least recently used";
  EXPECT_EQ(c[1]->exchange(rawRequest("GET", "/v1/board", token)).status, 200);
  EXPECT_EQ(c[3]->exchange(rawRequest("GET", "/v1/board", token)).status, 200);
}

TEST(HttpFrontTest, ATcpAddressHoldsFewConnectionsWithoutAToken) {
  ServiceOptions o;
  o.tcp_bind = "127.0.0.1:0";
  o.http.max_anonymous_per_peer = 2;
  TestService s(o);
  ASSERT_TRUE(s.ok());
  std::string token = s->registerUnit("u");
  RawConnection unit(s->socketPath(), s->tcpPort(), 2);
  EXPECT_EQ(unit.exchange(rawRequest("GET", "/v1/board", token)).status, 200);
  std::vector<std::unique_ptr<RawConnection>> anonymous;
  for (int i = 0; i < 3; ++i) {
    anonymous.push_back(std::make_unique<RawConnection>(s->socketPath(), s->tcpPort(), 2));
    std::this_thread::sleep_for(20ms);  // accepted in this order
  }
  EXPECT_EQ(anonymous[2]->exchange(rawRequest("GET", "/v1/health", "")).status, 200);
  EXPECT_TRUE(anonymous[0]->closedByService()) << "the oldest connection without a token";
  EXPECT_EQ(anonymous[1]->exchange(rawRequest("GET", "/v1/health", "")).status, 200);
  EXPECT_EQ(unit.exchange(rawRequest("GET", "/v1/board", token)).status, 200) << "a unit's connection is not counted";
  RawConnection head(s->socketPath());
  ASSERT_TRUE(head.send(rawRequest("HEAD", "/v1/board", token) + rawRequest("GET", "/v1/health", "")));
  RawAnswer a = head.read(true);
  EXPECT_EQ(a.status, 200);
  EXPECT_NE(a.head.find("Content-Length: 2"), std::string::npos) << a.head;
  EXPECT_EQ(head.read().body, R"({"ok":true})") << "HEAD has no body: the next answer follows its head";
}

TEST(HttpFrontTest, AFullListenerClosesIdleConnectionsFirstThenTurnsNewOnesAway) {
  ServiceOptions o;
  o.http.max_connections = 4;
  TestService s(o);
  ASSERT_TRUE(s.ok());
  // Four connections that sent nothing: a fifth takes the place of the oldest.
  std::vector<std::unique_ptr<RawConnection>> idle;
  for (int i = 0; i < 4; ++i) idle.push_back(std::make_unique<RawConnection>(s->socketPath(), 0, 2));
  EXPECT_EQ(RawConnection(s->socketPath()).exchange(rawRequest("GET", "/v1/health", "")).status, 200);
  EXPECT_TRUE(idle[0]->closedByService());
  // Four units each blocked in a wait: nothing can make room, and a new connection is told so.
  std::vector<std::unique_ptr<RawConnection>> busy;
  for (int i = 0; i < 4; ++i) {
    busy.push_back(std::make_unique<RawConnection>(s->socketPath(), 0, 5));
    busy.back()->send(rawRequest("GET", "/v1/board/go?after=0&wait=30", s->registerUnit("w" + std::to_string(i))));
  }
  // Time for the four requests to be read and blocked: a connection whose request is not read yet still
  // counts as idle, and the fifth would take its place. Nothing outside the service can tell when all four
  // are read, so the wait is long enough for a loaded machine (300 ms was not, at a load average of 10).
  std::this_thread::sleep_for(1500ms);
  RawAnswer a = RawConnection(s->socketPath()).read();
  EXPECT_EQ(a.status, 503) << a.head;
  expectJsonAnswer(a, "turned away");
  s->endpoints().board().put("go", "1");
  for (auto& b : busy) EXPECT_EQ(b->read().status, 200);
}

// Listing a full board (64 MiB) on many connections of several units that do not read the answers: every
// listing of one board version is the same shared text, a unit holds at most one large answer unread (the
// next is 429 with Retry-After), and memory grows by far less than one copy of the board.
TEST(HttpFrontTest, ListingsOfAFullBoardAreSharedAndEachUnitHoldsOneUnread) {
  TestService s;
  ASSERT_TRUE(s.ok());
  std::string value = "\"" + std::string((1u << 20) - 64, 'x') + "\"";
  for (int i = 0; i < 64; ++i) ASSERT_EQ(s->endpoints().board().put("fill/" + std::to_string(i), value).status, Status::Ok);
  std::vector<std::string> tokens;
  for (int u = 0; u < 4; ++u) tokens.push_back(s->registerUnit("lister" + std::to_string(u)));
  PeakRss peak;
  // Each unit's first listing is answered (and left unread); its next three are 429.
  std::vector<std::unique_ptr<RawConnection>> unread;
  int refused = 0;
  for (int round = 0; round < 4; ++round) {
    for (const std::string& token : tokens) {
      unread.push_back(std::make_unique<RawConnection>(s->socketPath()));
      ASSERT_TRUE(unread.back()->send(rawRequest("GET", "/v1/board", token)));
      if (round == 0) {  // answered before the board changes: the four share one listing
        RawAnswer a = unread.back()->read(true);
        EXPECT_EQ(a.status, 200) << a.head;
      } else {
        RawAnswer a = unread.back()->read();
        EXPECT_EQ(a.status, 429) << a.head;
        EXPECT_NE(a.head.find("Retry-After: 1\r\n"), std::string::npos) << a.head;
        expectJsonAnswer(a, "a second listing of the same unit");
        ++refused;
      }
    }
    // A changed board: the next listings are of another version, and the first ones keep theirs.
    ASSERT_EQ(s->endpoints().board().put("fill/" + std::to_string(round), value).status, Status::Ok);
  }
  EXPECT_EQ(refused, 12);
  std::this_thread::sleep_for(200ms);
  double growth = peak.growthMb();
  EXPECT_LT(growth, 32) << "four listings of a 64 MiB board, sixteen requests";
  RecordProperty("rss_growth_kb", std::to_string(int(growth * 1024)));
  // The unit whose unread listing's connection closes may list again, and a listing read in full is the
  // whole board as JSON.
  unread[0].reset();
  RawAnswer again;
  for (int i = 0; i < 50 && again.status != 200; ++i) {
    if (i > 0) std::this_thread::sleep_for(100ms);
    again = RawConnection(s->socketPath()).exchange(rawRequest("GET", "/v1/board", tokens[0]));
  }
  ASSERT_EQ(again.status, 200) << again.head;
  json::value listed = json::parse(again.body);
  EXPECT_EQ(listed.as_object().size(), 64u);
  EXPECT_EQ(listed.at("fill/7").at("value").as_string().size(), value.size() - 2);
}

}  // namespace
}  // namespace mpexec::sync
