// A witness unit's board round trip, alone and while a hostile unit floods the sync service (docs/sync.md,
// "Abuse"): median, p99 and max in microseconds, the p99 of the same witness alone just before and the
// ratio of the two, the service's peak RSS while the flood ran, and how many witness calls ran out of time
// (5 s each) or were not made (after 10 s, the benchmark's budget). One benchmark per flood:
//   idle        500 connections that never send a byte
//   trickle     40 connections that send a request head one byte every half second
//   keepalive   500 connections, each asking for a board key about once a second and kept alive between
//   chunked     bodies sent with Transfer-Encoding: chunked, with the hostile unit's token, without end
//   notoken     100 MiB bodies over TCP without a token
//   all         all of the above at once
//   listing     the board filled to its 64 MiB, then listed on 16 connections of 4 units that read the
//               answers 4 KiB every 100 ms, a value of the board changed every 100 ms so that the listings
//               are of different boards (not part of "all": it leaves the board as it found it, empty)
// The hostile clients are threads of this process, paced (none spins), so what is measured is the service's
// fairness rather than the share of two cores that a busy loop would take. The witness speaks HTTP itself
// (a kept-alive connection with a receive timeout) so that the benchmark ends on a service that starves it.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_service.h"
#include "sync-service/server.h"

namespace mpexec::sync {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

Service& service() {
  static Service& s = []() -> Service& {
    rlimit r{};
    getrlimit(RLIMIT_NOFILE, &r);
    r.rlim_cur = r.rlim_max;  // both ends of every connection live in this process
    setrlimit(RLIMIT_NOFILE, &r);
    return benchService();
  }();
  return s;
}

int connectUnix() {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", service().socketPath().c_str());
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

int connectTcp() {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(service().tcpPort()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool sendAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// Reads one answer with a Content-Length body. False on a closed connection or after the receive timeout.
bool readAnswer(int fd, std::string* buffer, int* status) {
  size_t head_end;
  char chunk[16384];
  while ((head_end = buffer->find("\r\n\r\n")) == std::string::npos) {
    ssize_t n = recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer->append(chunk, static_cast<size_t>(n));
  }
  *status = std::atoi(buffer->c_str() + 9);
  size_t length = 0;
  for (const char* name : {"Content-Length: ", "content-length: "}) {
    size_t at = buffer->find(name);
    if (at != std::string::npos && at < head_end) length = std::strtoul(buffer->c_str() + at + 16, nullptr, 10);
  }
  while (buffer->size() < head_end + 4 + length) {
    ssize_t n = recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer->append(chunk, static_cast<size_t>(n));
  }
  buffer->erase(0, head_end + 4 + length);
  return true;
}

std::string request(const std::string& method, const std::string& path, const std::string& token,
                    const std::string& body = "") {
  std::string r = method + " " + path + " HTTP/1.1\r\nHost: mpexec\r\n";
  if (!token.empty()) r += "Authorization: Bearer " + token + "\r\n";
  if (!body.empty()) r += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  return r + "\r\n" + body;
}

size_t peakRssKb() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::strtoul(line.c_str() + 6, nullptr, 10);
  return 0;
}

size_t threadCount() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("Threads:", 0) == 0) return std::strtoul(line.c_str() + 8, nullptr, 10);
  return 0;
}

void resetPeakRss() { std::ofstream("/proc/self/clear_refs") << "5"; }

// Hostile threads that run until the flood is destroyed.
class Flood {
 public:
  Flood(const std::string& kind, const std::string& token) : token_(token) {
    bool all = kind == "all";
    if (all || kind == "idle") threads_.emplace_back([this] { idle(500); });
    if (all || kind == "trickle") threads_.emplace_back([this] { trickle(40); });
    if (all || kind == "keepalive") threads_.emplace_back([this] { keepAlive(500); });
    if (all || kind == "chunked")
      for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { chunked(); });
    if (all || kind == "notoken")
      for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { noToken(); });
    if (kind == "listing") {
      fill();
      threads_.emplace_back([this] { listing(16, 4); });
    }
    // Let the connections pile up before the witness starts.
    std::this_thread::sleep_for(kind == "alone" ? 0ms : 1500ms);
  }
  ~Flood() {
    stop_ = true;
    for (auto& t : threads_) t.join();
    if (filled_) empty();
  }

 private:
  bool sleepFor(std::chrono::milliseconds d) {
    for (auto end = Clock::now() + d; !stop_ && Clock::now() < end;) std::this_thread::sleep_for(10ms);
    return !stop_;
  }

  // Reopens every connection the service closed, every 100 ms, and sends `first` on new ones.
  void hold(size_t count, const std::string& first, const std::function<void(std::vector<int>&)>& each) {
    std::vector<int> fds(count, -1);
    while (!stop_) {
      for (int& fd : fds) {
        if (fd >= 0) {
          pollfd p{fd, POLLIN, 0};
          char c[4096];
          if (poll(&p, 1, 0) > 0 && recv(fd, c, sizeof c, MSG_DONTWAIT) == 0) {
            close(fd);
            fd = -1;
          }
        }
        if (fd < 0 && (fd = connectUnix()) >= 0 && !first.empty()) sendAll(fd, first);
      }
      if (each) each(fds);
      sleepFor(100ms);
    }
    for (int fd : fds)
      if (fd >= 0) close(fd);
  }

  void idle(size_t n) { hold(n, "", nullptr); }

  void trickle(size_t n) {
    std::string head = "GET /v1/board/k HTTP/1.1\r\nAuthorization: Bearer " + token_ + "\r\nX-Slow: ";
    size_t tick = 0;
    hold(n, head.substr(0, 1), [&](std::vector<int>& fds) {
      if (++tick % 5 != 0) return;  // a byte every half second
      for (int fd : fds)
        if (fd >= 0) send(fd, "a", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    });
  }

  void keepAlive(size_t n) {
    std::string get = request("GET", "/v1/board/k", token_);
    size_t tick = 0;
    hold(n, get, [&](std::vector<int>& fds) {
      if (++tick % 10 != 0) return;  // each connection asks about once a second
      char c[4096];
      for (int fd : fds) {
        if (fd < 0) continue;
        while (recv(fd, c, sizeof c, MSG_DONTWAIT) > 0) {
        }
        send(fd, get.data(), get.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      }
    });
  }

  void chunked() {
    std::string head = "PUT /v1/board/big HTTP/1.1\r\nAuthorization: Bearer " + token_ +
                       "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    std::string chunk = "10000\r\n" + std::string(0x10000, ' ') + "\r\n";
    while (!stop_) {
      int fd = connectUnix();
      if (fd >= 0 && sendAll(fd, head)) {
        for (size_t sent = 0; !stop_ && sent < (400u << 20) && sendAll(fd, chunk); sent += 0x10000) {
        }
      }
      if (fd >= 0) close(fd);
      sleepFor(50ms);
    }
  }

  void noToken() {
    std::string head = "PUT /v1/board/big HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: " +
                       std::to_string(100u << 20) + "\r\n\r\n";
    std::string block(0x10000, ' ');
    while (!stop_) {
      int fd = connectTcp();
      if (fd >= 0 && sendAll(fd, head)) {
        for (size_t sent = 0; !stop_ && sent < (100u << 20) && sendAll(fd, block); sent += block.size()) {
        }
      }
      if (fd >= 0) close(fd);
      sleepFor(50ms);
    }
  }

  // 64 values of 1 MiB less a little: the board's 64 MiB.
  static std::string fillKey(size_t i) { return "/v1/board/fill/" + std::to_string(i); }
  static std::string fillPut(const std::string& token, size_t i) {
    static const std::string body = R"({"value": ")" + std::string((1u << 20) - 64, 'x') + R"("})";
    return request("PUT", fillKey(i), token, body);
  }

  void fill() {
    int fd = connectUnix();
    std::string buffer;
    int status = 200;
    for (size_t i = 0; i < 64 && status == 200; ++i) {
      if (!sendAll(fd, fillPut(token_, i)) || !readAnswer(fd, &buffer, &status)) break;
      filled_ = i + 1;
    }
    close(fd);
  }

  void empty() {
    int fd = connectUnix();
    std::string buffer;
    int status = 0;
    for (size_t i = 0; i < filled_; ++i) {
      if (!sendAll(fd, request("DELETE", fillKey(i), token_)) || !readAnswer(fd, &buffer, &status)) break;
    }
    close(fd);
  }

  // `n` connections of `units` units (the hostile one and others) that each ask for the whole board, read
  // the answer 4 KiB every 100 ms, and ask again once it is in; meanwhile a value changes every 100 ms.
  void listing(size_t n, size_t units) {
    std::vector<std::string> tokens = {token_};
    for (size_t u = 1; u < units; ++u) tokens.push_back(service().registerUnit("lister" + std::to_string(u)));
    struct Lister {
      int fd = -1;
      std::string token;
      size_t want = 0;  // bytes of the answer still to read; 0: ask again
      std::string head;
    };
    std::vector<Lister> listers(n);
    for (size_t i = 0; i < n; ++i) listers[i].token = tokens[i % tokens.size()];
    int writer = connectUnix();
    std::string writer_buffer;
    for (size_t tick = 0; !stop_; ++tick) {
      for (Lister& l : listers) {
        if (l.fd < 0) {
          l.fd = connectUnix();
          l.want = 0;
          l.head.clear();
        }
        if (l.fd < 0) continue;
        if (l.want == 0 && l.head.empty()) {
          sendAll(l.fd, request("GET", "/v1/board", l.token));
          l.head = " ";  // asked; the head is read below
          continue;
        }
        char chunk[4096];
        ssize_t got = recv(l.fd, chunk, l.want > 0 ? std::min(sizeof chunk, l.want) : sizeof chunk, MSG_DONTWAIT);
        if (got == 0 || (got < 0 && errno != EAGAIN)) {
          close(l.fd);
          l.fd = -1;
          continue;
        }
        if (got < 0) continue;
        if (l.want > 0) {
          l.want -= size_t(got);
          if (l.want == 0) l.head.clear();
          continue;
        }
        l.head.append(chunk, size_t(got));
        size_t end = l.head.find("\r\n\r\n");
        if (end == std::string::npos) continue;
        size_t at = l.head.find("Content-Length: ");
        size_t length = at < end ? std::strtoul(l.head.c_str() + at + 16, nullptr, 10) : 0;
        size_t have = l.head.size() - end - 4;
        l.want = length > have ? length - have : 0;
        if (l.want == 0) l.head.clear();  // a small answer (a 429 or 503): ask again next time
      }
      if (writer >= 0) {
        int status = 0;
        if (!sendAll(writer, fillPut(token_, tick % std::max<size_t>(filled_, 1))) || !readAnswer(writer, &writer_buffer, &status)) {
          close(writer);
          writer = -1;
        }
      }
      sleepFor(100ms);
    }
    for (Lister& l : listers)
      if (l.fd >= 0) close(l.fd);
    if (writer >= 0) close(writer);
  }

  std::string token_;
  size_t filled_ = 0;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

const char* const kFloods[] = {"alone", "idle", "trickle", "keepalive", "chunked", "notoken", "all", "listing"};

// The witness's board read on a kept-alive connection, opened again when the service closed it.
class Witness {
 public:
  explicit Witness(const std::string& token) : get_(request("GET", "/v1/board/witness/key", token)) {}
  ~Witness() {
    if (fd_ >= 0) close(fd_);
  }
  /// The round trip in microseconds; false in *ok when no answer came within 5 s.
  double call(bool* ok) {
    auto t0 = Clock::now();
    *ok = false;
    for (int attempt = 0; attempt < 2 && !*ok; ++attempt) {  // once more on a connection the service closed
      if (fd_ < 0) {
        fd_ = connectUnix();
        timeval t{5, 0};
        setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &t, sizeof t);
        buffer_.clear();
      }
      int status = 0;
      *ok = sendAll(fd_, get_) && readAnswer(fd_, &buffer_, &status) && status == 200;
      if (!*ok) {
        close(fd_);
        fd_ = -1;
        if (Clock::now() - t0 > 4s) break;
      }
    }
    return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
  }

 private:
  std::string get_;
  int fd_ = -1;
  std::string buffer_;
};

double percentile(std::vector<double> us, double q) {
  if (us.empty()) return 0;
  std::sort(us.begin(), us.end());
  return us[std::min(us.size() - 1, size_t(q * double(us.size())))];
}

// Each repetition first times the witness alone, then under the flood: on a shared machine the load moves
// between runs, so the ratio of the two taken back to back says more than either alone.
void BM_WitnessBoardGet(benchmark::State& state) {
  std::string flood_kind = kFloods[state.range(0)];
  std::string witness_token = service().registerUnit("witness");
  std::string hostile = service().registerUnit("hostile");
  Witness witness(witness_token);
  {
    int fd = connectUnix();
    std::string buffer;
    int status = 0;
    sendAll(fd, request("PUT", "/v1/board/witness/key", witness_token, R"({"value": {"port": 8080, "host": "db"}})"));
    readAnswer(fd, &buffer, &status);
    close(fd);
  }
  std::vector<double> alone;
  bool ok;
  for (int64_t i = 0; i < state.max_iterations; ++i) alone.push_back(witness.call(&ok));
  resetPeakRss();
  std::vector<double> us;
  int timeouts = 0;
  int unserved = 0;
  {
    Flood flood(flood_kind, hostile);
    state.counters["threads"] = double(threadCount());  // the service's and the flood's
    auto budget = Clock::now() + 10s;  // a starved witness ends the benchmark early
    for (auto _ : state) {
      if (Clock::now() > budget) {  // the calls left are counted, not made
        ++unserved;
        continue;
      }
      us.push_back(witness.call(&ok));
      timeouts += !ok;
    }
  }
  state.counters["p50_us"] = percentile(us, 0.5);
  state.counters["p99_us"] = percentile(us, 0.99);
  state.counters["max_us"] = us.empty() ? 0.0 : *std::max_element(us.begin(), us.end());
  state.counters["p99_alone_us"] = percentile(alone, 0.99);
  state.counters["p99_ratio"] = percentile(us, 0.99) / percentile(alone, 0.99);
  state.counters["timeouts"] = timeouts;
  state.counters["unserved"] = unserved;
  state.counters["peak_rss_mb"] = double(peakRssKb()) / 1024;
  state.SetLabel(flood_kind);
}

BENCHMARK(BM_WitnessBoardGet)->DenseRange(0, 7)->Iterations(40000)->Repetitions(3)->ReportAggregatesOnly(true)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace mpexec::sync

BENCHMARK_MAIN();
