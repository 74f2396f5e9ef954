// The sync service with the real binary and real sandboxes: a shared fixture through a trail, a lock
// holder killed mid-hold, curl as a client, and ownership that a token cannot borrow.

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "tests/integration/sandbox_modes.h"
#include "tests/support/mpexec_process.h"
#include "tests/support/temp_dir.h"

namespace mpexec {
namespace {

using test::readJson;
using test::runMpexec;
using test::testEntry;

class SyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!test::hostHasSandbox(dir_, &why)) GTEST_SKIP() << "no sandbox on this host: " << why;
  }
  /// A manifest whose tests may write to the temp dir, with `tests` as the "tests" array's contents.
  std::string manifest(const std::string& tests) {
    return dir_.write("m.json", R"({"version": 1, "defaults": {"timeout": 30, "env": {"DIR": ")" + dir_.path() +
                                    R"("}, "sandbox": {"writable": [")" + dir_.path() + R"("]}}, "tests": [)" + tests +
                                    "]}");
  }
  test::Finished run(const std::vector<std::string>& args) {
    std::vector<std::string> all = {"--json", dir_.path() + "/report.json"};
    all.insert(all.end(), args.begin(), args.end());
    return runMpexec(all);
  }
  /// Runs mpexec with `args` (and a JSON report), sampling its VmHWM, mpexec's own peak resident size so far,
  /// until it ends: the last reading is the run's peak, in KiB.
  test::Finished runMeasured(const std::vector<std::string>& args, size_t* peak_kb) {
    std::vector<std::string> all = {"--json", dir_.path() + "/report.json", "--output", "streamed"};
    all.insert(all.end(), args.begin(), args.end());
    std::string out = dir_.path() + "/out.txt";
    pid_t pid = test::startMpexec(all, out);
    std::atomic<size_t> peak{0};
    std::atomic<bool> ended{false};
    std::thread sampler([&] {
      std::string status = "/proc/" + std::to_string(pid) + "/status";
      while (!ended) {
        std::ifstream in(status);
        for (std::string line; std::getline(in, line);)
          if (line.rfind("VmHWM:", 0) == 0) peak = std::max<size_t>(peak, std::strtoul(line.c_str() + 6, nullptr, 10));
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
    test::Finished r = test::waitMpexec(pid, out, 180);
    ended = true;
    sampler.join();
    *peak_kb = peak;
    return r;
  }
  std::string outcome(const std::string& test) {
    auto rep = readJson(dir_.path() + "/report.json");
    return std::string(testEntry(rep, test).at("outcome").as_string());
  }
  test::TempDir dir_;
};

// A test running `script` with sh; `keys` adds keys to the test's object (`"sandbox": {...}, `).
std::string shTest(const std::string& name, const std::string& script, const std::string& keys = "") {
  std::string escaped;
  for (char c : script) {
    if (c == '"' || c == '\\') escaped += '\\';
    escaped += c;
  }
  return R"({"name": ")" + name + R"(", )" + keys + R"("cmd": ["/bin/sh", "-c", ")" + escaped + R"("]})";
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// Eight free tests in eight sandboxes share one expensive fixture through a trail: setup exactly once,
// before any consumer proceeds; teardown exactly once, after the last consumer finished.
TEST_F(SyncTest, TrailSharesOneFixtureAcrossEightSandboxes) {
  const std::string script =
      R"(S="$MPEXEC_EXE sync"; )"
      R"($S trail start fixture -- sh -c '[ "$MPEXEC_TRAIL_FIRST" = 1 ] && { echo setup >> $DIR/log; sleep 0.3; echo setup-done >> $DIR/log; }; true' || exit 1; )"
      // Everyone arrives before anyone finishes, so the trail is one setup and one teardown.
      R"($S board put "arrived/$MPEXEC_TEST_NAME" 1 >/dev/null || exit 1; )"
      R"(for i in $(seq 200); do [ $($S board list | grep -o arrived/ | wc -l) -ge 8 ] && break; sleep 0.05; done; )"
      R"(echo "use $MPEXEC_TEST_NAME" >> $DIR/log; )"
      R"($S trail finish fixture -- sh -c '[ "$MPEXEC_TRAIL_LAST" = 1 ] && echo teardown >> $DIR/log; true')";
  std::string tests;
  for (int i = 0; i < 8; ++i) tests += (i ? "," : "") + shTest("consumer" + std::to_string(i), script);
  auto r = run({"--np", "8", manifest(tests)});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto log = lines(test::readFile(dir_.path() + "/log"));
  ASSERT_EQ(log.size(), 11u) << test::readFile(dir_.path() + "/log");
  EXPECT_EQ(std::count(log.begin(), log.end(), "setup"), 1);
  EXPECT_EQ(std::count(log.begin(), log.end(), "teardown"), 1);
  EXPECT_EQ(log[0], "setup");
  EXPECT_EQ(log[1], "setup-done");
  EXPECT_EQ(log.back(), "teardown");
  // The eight units really were eight sandboxes running at once.
  auto rep = readJson(dir_.path() + "/report.json");
  std::set<std::string> units;
  for (const auto& t : rep.at("tests").as_array()) units.insert(std::string(t.as_object().at("unit").as_string()));
  EXPECT_EQ(units.size(), 8u);
  EXPECT_GT(rep.at("sync").as_object().at("operations").as_array().size(), 8u * 3);
}

// A holder killed with SIGKILL while it holds a lock does not stall the others: its unit ends, and the
// service releases what the unit held.
TEST_F(SyncTest, LockOfAKilledHolderIsReleased) {
  std::string tests =
      shTest("holder", R"("$MPEXEC_EXE" sync lock acquire L && touch $DIR/held && kill -9 $$)") + "," +
      shTest("waiter", R"(for i in $(seq 200); do [ -e $DIR/held ] && break; sleep 0.05; done; )"
                       R"("$MPEXEC_EXE" sync lock acquire L --timeout 20)");
  auto r = run({"--np", "2", manifest(tests)});
  EXPECT_EQ(outcome("holder"), "CRASH") << r.out;
  EXPECT_EQ(outcome("waiter"), "PASS") << r.out;
}

// curl, as a real client of the HTTP API, with the unit's own token.
TEST_F(SyncTest, CurlReadsAndWritesTheBoard) {
  std::string tests = shTest(
      "curl", R"(H="Authorization: Bearer $MPEXEC_SYNC_TOKEN"; )"
              R"(curl -sf --unix-socket "$MPEXEC_SYNC_SOCKET" -H "$H" -X PUT -d '{"value": {"answer": 42}}' http://mpexec/v1/board/q && )"
              R"(curl -sf --unix-socket "$MPEXEC_SYNC_SOCKET" -H "$H" http://mpexec/v1/board/q | grep -q '"answer":42' && )"
              R"X(test "$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$MPEXEC_SYNC_SOCKET" http://mpexec/v1/board/q)" = 401)X");
  auto r = run({manifest(tests)});
  EXPECT_EQ(r.exit_code, 0) << r.out;
}

// Ownership follows the token: another unit cannot release the holder's lock with its own token (409),
// nor with a made-up one (401), and the holder still holds it afterwards.
TEST_F(SyncTest, AnotherUnitCannotReleaseTheLock) {
  std::string tests =
      shTest("holder", R"("$MPEXEC_EXE" sync lock acquire L || exit 1; touch $DIR/held; )"
                       R"(for i in $(seq 400); do [ -e $DIR/done ] && break; sleep 0.05; done; "$MPEXEC_EXE" sync lock release L)") +
      "," +
      shTest("thief", R"(for i in $(seq 200); do [ -e $DIR/held ] && break; sleep 0.05; done; )"
                      R"("$MPEXEC_EXE" sync lock release L; own=$?; )"
                      R"(MPEXEC_SYNC_TOKEN=0123456789abcdef0123456789abcdef "$MPEXEC_EXE" sync lock release L; forged=$?; )"
                      R"("$MPEXEC_EXE" sync lock acquire L --timeout 0; still=$?; touch $DIR/done; )"
                      R"(echo "own=$own forged=$forged still=$still"; [ $own = 1 ] && [ $forged = 2 ] && [ $still = 1 ])");
  auto r = run({"--np", "2", manifest(tests)});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(outcome("thief"), "PASS");
  EXPECT_EQ(outcome("holder"), "PASS");
}

// mpexec copied without libmpexec-http.so: tests that never call the service pass; one that does fails,
// and the run says why.
TEST_F(SyncTest, WithoutItsHttpLibraryOnlyTheTestsThatCallTheServiceFail) {
  std::string alone = dir_.path() + "/alone/mpexec";
  std::filesystem::create_directories(dir_.path() + "/alone");
  std::filesystem::copy_file(test::mpexecBinary(), alone);
  std::string m = manifest(shTest("plain", "true") + "," + shTest("caller", R"("$MPEXEC_EXE" sync lock acquire L)"));
  std::string wrapper = dir_.write("alone.sh", "#!/bin/sh\nexec " + alone + " \"$@\"\n", true);
  test::Finished r;
  {
    test::ScopedEnv through("MPEXEC_BIN", wrapper);
    r = run({m});
  }
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_EQ(outcome("plain"), "PASS");
  EXPECT_EQ(outcome("caller"), "FAIL");
  EXPECT_NE(r.out.find("warning: sync: no libmpexec-http.so beside mpexec"), std::string::npos) << r.out;
}

// The hostile unit of issue 18, in Python, as a test author might write it: a chunked body with its own
// token, bodies without a token over the Unix socket and over TCP, then 500 idle, 40 trickling and 500
// kept-alive connections held until the witness is done.
constexpr const char* kHostilePy = R"PY(
import os, resource, socket, sys, threading, time
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
path, token, d = os.environ["MPEXEC_SYNC_SOCKET"], os.environ["MPEXEC_SYNC_TOKEN"], os.environ["DIR"]
url = os.environ.get("MPEXEC_SYNC_URL", "")
host, port = url[len("http://"):].rsplit(":", 1) if url else ("", "0")

def unix():
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    return s

def tcp():
    return socket.create_connection((host, int(port)))

def flood(connect, head, total, piece):
    what = connect.__name__ + " " + head.split("\r\n")[0] + " " + head.split("\r\n")[-3]
    s = connect()
    try:
        s.sendall(head.encode())
        for _ in range(total // len(piece)):
            s.sendall(piece)
    except OSError:
        pass
    try:
        s.settimeout(10)
        print(what, "->", s.recv(200).split(b"\r\n")[0].decode(), flush=True)
    except OSError as e:
        print(what, "->", e, flush=True)
    s.close()

chunk = b"10000\r\n" + b" " * 0x10000 + b"\r\n"
flood(unix, "PUT /v1/board/big HTTP/1.1\r\nAuthorization: Bearer %s\r\nTransfer-Encoding: chunked\r\n\r\n" % token,
      256 << 20, chunk)
for connect in (unix, tcp) if url else (unix,):
    flood(connect, "PUT /v1/board/big HTTP/1.1\r\nHost: mpexec\r\nContent-Length: %d\r\n\r\n" % (100 << 20), 100 << 20,
          b" " * 0x10000)

held = [unix() for _ in range(500)]
get = ("GET /v1/board/k HTTP/1.1\r\nAuthorization: Bearer %s\r\n\r\n" % token).encode()
for _ in range(500):
    s = unix()
    s.sendall(get)
    held.append(s)
trickling = [unix() for _ in range(40)]
stop = False
def trickle():
    for i in range(len(get) - 2):
        for s in trickling:
            try:
                s.send(get[i:i + 1])
            except OSError:
                pass
        for _ in range(50):
            if stop:
                return
            time.sleep(0.01)
t = threading.Thread(target=trickle)
t.start()
open(d + "/ready", "w").close()
for _ in range(1200):
    if os.path.exists(d + "/done"):
        break
    time.sleep(0.05)
stop = True
t.join()
)PY";

// Issue 18: a hostile unit cannot starve a witness unit's `mpexec sync` calls, nor grow mpexec's memory
// without bound, whatever it sends.
TEST_F(SyncTest, AHostileUnitNeitherStarvesAWitnessNorBloatsMpexec) {
  rlimit files{};
  getrlimit(RLIMIT_NOFILE, &files);
  if (files.rlim_max < 2200) GTEST_SKIP() << "the hostile unit needs 2200 open files; the hard limit is " << files.rlim_max;
  if (access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/python3";
  std::string hostile = dir_.write("hostile.py", kHostilePy);
  std::string tests =
      shTest("hostile", "/usr/bin/python3 " + hostile, R"("sandbox": {"network": "host"}, )") + "," +
      shTest("witness",
             R"(S="$MPEXEC_EXE sync"; for i in $(seq 1200); do [ -e $DIR/ready ] && break; sleep 0.05; done; )"
             R"([ -e $DIR/ready ] || { echo the hostile unit never got ready; touch $DIR/done; exit 1; }; )"
             R"(for i in $(seq 10); do )"
             R"X(timeout 10 $S board put w/$i $i >/dev/null && [ "$(timeout 10 $S board get w/$i)" = $i ] && )X"
             R"(timeout 10 $S lock acquire L --timeout 5 && timeout 10 $S lock release L || { echo round $i failed; touch $DIR/done; exit 1; }; )"
             R"(done; touch $DIR/done)");
  size_t peak_kb = 0;
  test::Finished r = runMeasured({"--np", "2", "--sync-bind", "127.0.0.1:0", manifest(tests)}, &peak_kb);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(outcome("witness"), "PASS") << r.out;
  EXPECT_EQ(outcome("hostile"), "PASS") << r.out;
  EXPECT_NE(r.out.find("Transfer-Encoding: chunked -> HTTP/1.1 413"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("unix PUT /v1/board/big HTTP/1.1 Content-Length: 104857600 -> HTTP/1.1 401"), std::string::npos);
  EXPECT_NE(r.out.find("tcp PUT /v1/board/big HTTP/1.1 Content-Length: 104857600 -> HTTP/1.1 401"), std::string::npos);
  EXPECT_LT(peak_kb / 1024, 32u) << "MiB at mpexec's peak\n" << r.out;
  RecordProperty("mpexec_peak_rss_kb", std::to_string(peak_kb));
}

// A hostile unit that fills the board (64 MiB) and then lists it again and again on connections it reads
// a few bytes a second or not at all, changing a few keys between listings so that they are not all of
// the same board; it then reads what status each listing got.
constexpr const char* kListingsPy = R"PY(
import os, re, socket, threading, time
path, token, d = os.environ["MPEXEC_SYNC_SOCKET"], os.environ["MPEXEC_SYNC_TOKEN"], os.environ["DIR"]
buffers = {}

def connect():
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    return s

def send(s, method, target, body=b""):
    head = "%s %s HTTP/1.1\r\nHost: mpexec\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n"
    s.sendall((head % (method, target, token, len(body))).encode() + body)

def answer(s, with_body=True):
    b = buffers.get(s, b"")
    while b"\r\n\r\n" not in b:
        more = s.recv(65536)
        if not more:
            return "closed"
        b += more
    head, rest = b.split(b"\r\n\r\n", 1)
    length = int(re.search(rb"Content-Length: (\d+)", head).group(1))
    while with_body and len(rest) < length:
        rest += s.recv(65536)
    buffers[s] = rest[length:] if with_body else b""
    return head.split(b" ")[1].decode()

value = b'"' + b"x" * ((1 << 20) - 64) + b'"'
def put(s, i):
    send(s, "PUT", "/v1/board/fill/%02d" % i, b'{"value": ' + value + b'}')
    return answer(s)

w = connect()
stored = 0
while stored < 100 and put(w, stored) == "200":
    stored += 1
print("stored", stored, "values of 1 MiB", flush=True)

slow = connect()
send(slow, "GET", "/v1/board")
unread = []
for i in range(16):
    s = connect()
    send(s, "GET", "/v1/board")
    unread.append(s)
    if i % 4 == 3:
        put(w, i // 4)
stop = False
def read_slowly():
    while not stop:
        try:
            slow.recv(4096)
        except OSError:
            return
        time.sleep(0.1)
t = threading.Thread(target=read_slowly)
t.start()
open(d + "/ready", "w").close()
for _ in range(2400):
    if os.path.exists(d + "/done"):
        break
    time.sleep(0.05)
stop = True
t.join()
seen = {}
for s in unread:
    s.settimeout(10)
    try:
        code = answer(s, False)
    except OSError as e:
        code = type(e).__name__
    seen[code] = seen.get(code, 0) + 1
print("listings:", " ".join("%s x%d" % kv for kv in sorted(seen.items())), flush=True)
)PY";

// A unit that fills the board and lists it many times, reading the answers slowly or not at all, does not
// take mpexec's memory beyond the board plus a fixed margin (docs/sync.md, "Memory"), and a witness unit
// still reads, writes, locks and lists the whole board.
TEST_F(SyncTest, ListingsOfAFullBoardReadSlowlyDoNotBloatMpexec) {
  if (access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/python3";
  std::string hostile = dir_.write("listings.py", kListingsPy);
  std::string tests =
      shTest("hostile", "/usr/bin/python3 " + hostile, R"("timeout": 150, )") + "," +
      shTest("witness",
             R"(S="$MPEXEC_EXE sync"; for i in $(seq 2400); do [ -e $DIR/ready ] && break; sleep 0.05; done; )"
             R"([ -e $DIR/ready ] || { echo the hostile unit never got ready; touch $DIR/done; exit 1; }; )"
             R"(for i in $(seq 10); do )"
             R"X(timeout 20 $S board put w/$i $i >/dev/null && [ "$(timeout 20 $S board get w/$i)" = $i ] && )X"
             R"(timeout 20 $S lock acquire L --timeout 5 && timeout 20 $S lock release L || { echo round $i failed; touch $DIR/done; exit 1; }; )"
             R"(done; timeout 60 $S board list > $DIR/list.json; listed=$?; touch $DIR/done; )"
             R"(echo "witness listed $(wc -c < $DIR/list.json) bytes, exit $listed"; [ $listed = 0 ])",
             R"("timeout": 150, )");
  size_t peak_kb = 0;
  test::Finished r = runMeasured({"--np", "2", manifest(tests)}, &peak_kb);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(outcome("witness"), "PASS") << r.out;
  EXPECT_EQ(outcome("hostile"), "PASS") << r.out;
  EXPECT_NE(r.out.find("stored 64 values of 1 MiB"), std::string::npos) << r.out;
  // The board's 64 MiB, the few values the hostile unit replaced while its first listing still held them,
  // the buffers of the puts that filled the board, and mpexec's own few MiB (97 MiB measured): less than
  // two boards, where a copy per listing took the old service past 1 GiB.
  EXPECT_LT(peak_kb / 1024, 2 * 64u) << "MiB at mpexec's peak\n" << r.out;
  RecordProperty("mpexec_peak_rss_kb", std::to_string(peak_kb));
  std::string listed = test::readFile(dir_.path() + "/list.json");
  ASSERT_GT(listed.size(), 64u * ((1u << 20) - 64)) << "the witness's listing is the whole board";
  EXPECT_EQ(listed.rfind(R"({"fill/00":{"value":"xxx)", 0), 0u) << listed.substr(0, 80);
  EXPECT_EQ(listed.substr(listed.size() - 3), "}}\n") << listed.substr(listed.size() - 80);
}

// The operation log keeps each request's key: board keys, lock and trail names are at most 256 bytes, but a
// result's id is whatever the body says, up to the 1 MiB a body may have. A unit that reported ids of a MiB
// grew mpexec by a MiB per request, for up to 100,000 requests: far past any machine's memory.
TEST_F(SyncTest, LongResultIdsDoNotBloatMpexec) {
  if (access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/python3";
  std::string hostile = dir_.write("ids.py", R"PY(
import json, os, socket
token, path = os.environ["MPEXEC_SYNC_TOKEN"].encode(), os.environ["MPEXEC_SYNC_SOCKET"]
body = json.dumps({"id": "x" * ((1 << 20) - 64)}).encode()
head = b"POST /v1/results/started HTTP/1.1\r\nHost: u\r\nAuthorization: bearer " + token + \
       b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
s = socket.socket(socket.AF_UNIX)
s.connect(path)
f = s.makefile("rb")
statuses = {}
for i in range(300):
    s.sendall(head + body)
    status = f.readline().split()[1]
    length = 0
    while True:
        line = f.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    f.read(length)
    statuses[status] = statuses.get(status, 0) + 1
print("answers", statuses)
)PY");
  std::string tests = shTest("hostile", "/usr/bin/python3 " + hostile, R"("timeout": 150, )");
  size_t peak_kb = 0;
  test::Finished r = runMeasured({manifest(tests)}, &peak_kb);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(outcome("hostile"), "PASS") << r.out;
  EXPECT_NE(r.out.find("answers {b'404': 300}"), std::string::npos) << r.out;
  // 300 MiB of ids went through the service; what it keeps of them is bounded.
  EXPECT_LT(peak_kb / 1024, 128u) << "MiB at mpexec's peak\n" << r.out;
  RecordProperty("mpexec_peak_rss_kb", std::to_string(peak_kb));
}

// --sync-bind: a unit that can reach the TCP listener is told where it is (MPEXEC_SYNC_URL), the run info
// gives it with the run's start, and a bind beyond loopback is warned about.
TEST_F(SyncTest, TestsAreToldTheTcpAddressAndTheRunsStart) {
  const std::string host_network = R"("sandbox": {"network": "host"}, )";
  std::string tests =
      shTest("host", R"(echo "host: $MPEXEC_SYNC_URL" > $DIR/host.txt)", host_network) + "," +
      shTest("none", R"(echo "${MPEXEC_SYNC_URL-unset}" > $DIR/none.txt)") + "," +
      shTest("curl", R"(curl -sf -H "Authorization: bearer $MPEXEC_SYNC_TOKEN" "$MPEXEC_SYNC_URL/v1/run" > $DIR/run.json)",
             host_network);
  auto r = run({"--sync-bind", "0.0.0.0:0", manifest(tests)});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("warning: --sync-bind 0.0.0.0:0 listens beyond this machine"), std::string::npos) << r.out;
  std::string host = test::readFile(dir_.path() + "/host.txt");
  EXPECT_EQ(host.rfind("host: http://127.0.0.1:", 0), 0u) << host;
  EXPECT_EQ(test::readFile(dir_.path() + "/none.txt"), "unset\n") << "a sandbox without the network cannot reach it";
  auto info = test::readJson(dir_.path() + "/run.json");
  EXPECT_EQ("http://" + std::string(info.at("sync_tcp").as_string()) + "\n", host.substr(6));
  EXPECT_EQ(info.at("start").as_string().size(), 27u) << info.at("start");  // 2024-01-02T03:04:05.678901Z
  EXPECT_GT(info.at("start_unix_us").to_number<int64_t>(), 1700000000000000);
  auto loopback = run({"--sync-bind", "127.0.0.1:0", manifest(tests)});
  EXPECT_EQ(loopback.out.find("warning: --sync-bind"), std::string::npos) << loopback.out;
}

// The service's private directory goes under $TMPDIR, and the run removes it.
TEST_F(SyncTest, TheServiceDirectoryGoesUnderTmpdirAndIsRemoved) {
  std::string tmp = dir_.path() + "/tmp";
  std::filesystem::create_directories(tmp);
  std::string m = manifest(shTest("where", R"(echo "$MPEXEC_SYNC_SOCKET" > $DIR/where; "$MPEXEC_EXE" sync board put k 1)"));
  test::Finished r;
  {
    test::ScopedEnv tmpdir("TMPDIR", tmp);
    r = run({"--no-sandbox", m});
  }
  ASSERT_EQ(r.exit_code, 0) << r.out;
  std::string where = test::readFile(dir_.path() + "/where");
  EXPECT_EQ(where.rfind(tmp + "/mpexec-sync.", 0), 0u) << where;
  EXPECT_TRUE(std::filesystem::is_empty(tmp)) << "the service's directory outlived the run";
}

}  // namespace
}  // namespace mpexec
