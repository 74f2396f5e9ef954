// The HTTP/1.1 adapter of the sync service: httplib serving connections from a socket that Service made.
// The only translation unit that includes httplib.h (DESIGN §1, STYLE). mpexec loads it as
// libmpexec-http.so on the first connection (sync-service/http.h); tests link it.
#include "sync-service/http.h"

#include <httplib.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

namespace mpexec::sync {

namespace {

constexpr size_t kMaxBody = 1u << 20;
// How often a connection waiting for bytes looks whether the server is stopping (httplib's own interval).
constexpr timeval kStopCheck = {0, 10000};
// Writes below this size are gathered to go out in one send with the rest of the answer; larger ones (a big
// board list) are sent as they come rather than copied.
constexpr size_t kCopyUpTo = 64u << 10;

timeval toTimeval(time_t sec, time_t usec) {
  return {sec + usec / 1000000, static_cast<suseconds_t>(usec % 1000000)};
}

Clock::duration toDuration(time_t sec, time_t usec) {
  return std::chrono::seconds(sec) + std::chrono::microseconds(usec);
}

void addressOf(const sockaddr_storage& addr, std::string* ip, int* port) {
  char host[NI_MAXHOST];
  char service[NI_MAXSERV];
  if ((addr.ss_family == AF_INET || addr.ss_family == AF_INET6) &&
      getnameinfo(reinterpret_cast<const sockaddr*>(&addr), sizeof addr, host, sizeof host, service,
                  sizeof service, NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
    *ip = host;
    *port = std::atoi(service);
  }
}

// One kept-alive connection, buffered both ways: a response goes out in a single send (httplib's own stream
// sends the head and the body apart, which wakes the client twice), and bytes are read with plain blocking
// recv calls whose SO_RCVTIMEO is the stop-check interval, instead of a poll before every read and write.
class Connection final : public httplib::Stream {
 public:
  Connection(int fd, const std::atomic<socket_t>& listening, Clock::duration read_timeout)
      : fd_(fd), listening_(listening), read_timeout_(read_timeout) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
      addressOf(addr, &remote_ip_, &remote_port_);
    len = sizeof addr;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
      addressOf(addr, &local_ip_, &local_port_);
  }

  // Waits up to `idle` for the first bytes of a request. False when the client left, the wait ran out or
  // the server is stopping.
  bool awaitRequest(Clock::duration idle) {
    // Like httplib, which reads each request through a fresh stream, bytes past the previous request (the
    // unread body of a GET, say) are dropped rather than parsed as a request.
    begin_ = end_ = 0;
    return fill(Clock::now() + idle);
  }

  // Sends what the request wrote. False when the client does not take it.
  bool flush() {
    bool sent = sendAll(out_);
    out_.clear();
    return sent;
  }

  bool is_readable() const override {
    if (begin_ < end_) return true;
    pollfd p{fd_, POLLIN, 0};
    return poll(&p, 1,
                static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(read_timeout_).count())) > 0;
  }
  bool is_writable() const override { return true; }

  ssize_t read(char* ptr, size_t size) override {
    if (begin_ == end_) {
      // The client may wait for something written before it sends more (100 Continue).
      if (!flush()) return -1;
      begin_ = end_ = 0;
      if (!fill(Clock::now() + read_timeout_)) return -1;
    }
    size_t n = std::min(size, end_ - begin_);
    std::memcpy(ptr, in_.data() + begin_, n);
    begin_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (size < kCopyUpTo) {
      out_.append(ptr, size);
    } else if (!flush() || !sendAll({ptr, size})) {
      return -1;
    }
    return static_cast<ssize_t>(size);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = remote_ip_;
    port = remote_port_;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = local_ip_;
    port = local_port_;
  }
  socket_t socket() const override { return fd_; }

 private:
  // Reads into the empty input buffer. Each recv gives up after kStopCheck, to look at the deadline and at
  // whether the server is stopping.
  bool sendAll(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;  // including EAGAIN: SO_SNDTIMEO, the write timeout, ran out
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  bool fill(Deadline deadline) {
    while (listening_ != INVALID_SOCKET) {
      ssize_t n = recv(fd_, in_.data(), in_.size(), 0);
      if (n > 0) {
        end_ = static_cast<size_t>(n);
        return true;
      }
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) return false;
      if (Clock::now() >= deadline) return false;
    }
    return false;
  }

  int fd_;
  const std::atomic<socket_t>& listening_;
  Clock::duration read_timeout_;
  std::array<char, 16384> in_;
  size_t begin_ = 0;
  size_t end_ = 0;
  std::string out_;
  std::string remote_ip_, local_ip_;
  int remote_port_ = 0, local_port_ = 0;
};

// httplib's request parsing and routing over our own connection loop (see Connection): one recv and one
// send per request where httplib's loop makes a dozen syscalls.
class HttpServer final : public httplib::Server {
 public:
  /// Serves connections from `fd`, bound and listening already (Service made it); httplib closes it on
  /// stop(). Returns when stopped.
  bool listenOn(int fd) {
    svr_sock_ = fd;
    return listen_after_bind();
  }

 private:
  bool process_and_close_socket(socket_t sock) override {
    timeval check = kStopCheck;
    timeval write_timeout = toTimeval(write_timeout_sec_, write_timeout_usec_);
    setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &check, sizeof check);
    setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &write_timeout, sizeof write_timeout);
    Connection connection(sock, svr_sock_, toDuration(read_timeout_sec_, read_timeout_usec_));
    bool ok = false;
    for (size_t left = keep_alive_max_count_;
         left > 0 && connection.awaitRequest(std::chrono::seconds(keep_alive_timeout_sec_)); --left) {
      bool closed = false;
      ok = process_request(connection, left == 1, closed, nullptr);
      ok = connection.flush() && ok;
      if (!ok || closed) break;
    }
    shutdown(sock, SHUT_RDWR);
    close(sock);
    return ok;
  }
};

// httplib's ThreadPool starts all its threads up front, and most runs never call the service: threads are
// started as connections need them, up to `max`, and then kept for later connections.
class LazyPool final : public httplib::TaskQueue {
 public:
  explicit LazyPool(size_t max) : max_(std::max<size_t>(max, 1)) {}
  ~LazyPool() override { shutdown(); }

  void enqueue(std::function<void()> fn) override {
    std::lock_guard lock(mu_);
    jobs_.push_back(std::move(fn));
    if (jobs_.size() > idle_ && threads_.size() < max_) threads_.emplace_back([this] { work(); });
    wake_.notify_one();
  }

  /// Runs what is queued, then joins every thread. httplib calls it once its accept loop has ended, so
  /// nothing is enqueued meanwhile.
  void shutdown() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

 private:
  void work() {
    std::unique_lock lock(mu_);
    for (;;) {
      ++idle_;
      wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      --idle_;
      if (jobs_.empty()) return;
      std::function<void()> fn = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      fn();
      lock.lock();
    }
  }

  const size_t max_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
  size_t idle_ = 0;
  bool stopping_ = false;
};

void jsonError(httplib::Response& res, const std::string& message) {
  std::string body = "{\"error\":\"";
  for (char c : message) {
    if (c == '"' || c == '\\') body += '\\';
    body += (static_cast<unsigned char>(c) < 0x20) ? ' ' : c;
  }
  body += "\"}";
  res.set_content(body, "application/json");
}

void install(httplib::Server& s, const HttpHandler& handle, size_t threads) {
  s.new_task_queue = [threads] { return new LazyPool(threads); };
  s.set_payload_max_length(kMaxBody);
  // A keep-alive connection holds a pool thread while idle, so idle ones are let go soon.
  s.set_keep_alive_max_count(10000);
  s.set_keep_alive_timeout(2);
  auto handler = [handle](const httplib::Request& req, httplib::Response& res) {
    Request r;
    r.method = req.method;
    r.path = req.path;
    for (const auto& [k, v] : req.params) r.query.emplace(k, v);  // the first of repeated parameters wins
    r.body = req.body;
    r.authorization = req.get_header_value("Authorization");
    Reply reply = handle(r);
    res.status = reply.status;
    res.set_content(reply.body, "application/json");
    if (!reply.allow.empty()) res.set_header("Allow", reply.allow);
  };
  // httplib answers 400 to a POST without Content-Length before any route runs, but `curl -X POST URL`
  // sends none: such bodiless requests are served here, ahead of its body reading.
  s.set_pre_routing_handler([handler](const httplib::Request& req, httplib::Response& res) {
    if (req.has_header("Content-Length") || req.has_header("Transfer-Encoding")) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    handler(req, res);
    return httplib::Server::HandlerResponse::Handled;
  });
  // Catch-all routes: keys hold '/', and a known path with the wrong method must answer 405, not 404.
  s.Get(".*", handler);
  s.Post(".*", handler);
  s.Put(".*", handler);
  s.Delete(".*", handler);
  s.Patch(".*", handler);
  s.Options(".*", handler);
  // Errors httplib answers by itself (413, unparsable requests) get the same JSON shape as ours.
  s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    // httplib caps a body sent as a form (curl -d's default type) at 8 KiB, whatever our own limit is.
    bool form = req.get_header_value("Content-Type").rfind("application/x-www-form-urlencoded", 0) == 0;
    std::string too_big = form ? "body over 8 KiB sent as application/x-www-form-urlencoded (curl -d's default): "
                                 "send it with Content-Type: application/json (up to 1 MiB)"
                               : "body over 1 MiB";
    jsonError(res, res.status == 413 ? too_big : "bad request (HTTP " + std::to_string(res.status) + ")");
  });
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    res.status = 500;
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      jsonError(res, std::string("internal error: ") + e.what());
    } catch (...) {
      jsonError(res, "internal error");
    }
  });
}

// One listener's HTTP front: httplib's accept loop on its own thread, and the pool it hands connections to.
class Front final : public HttpFront {
 public:
  ~Front() override { stop(); }

  // Serves `fd` and waits until httplib counts itself as running, so that a stop() right after cannot
  // miss it and leave the thread blocked.
  bool start(const HttpConfig& config) {
    install(server_, config.handler, config.threads);
    int fd = config.listen_fd;
    thread_ = std::thread([this, fd] { server_.listenOn(fd); });
    // Polled finely: the thread is up within tens of microseconds, and the first request waits for it.
    for (int i = 0; i < 100000 && !server_.is_running(); ++i)
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    return server_.is_running();
  }

  void stop() override {
    if (!thread_.joinable()) return;
    server_.stop();
    thread_.join();
  }

 private:
  HttpServer server_;
  std::thread thread_;
};

}  // namespace

HttpFront* startHttp(const HttpConfig& config, std::string* error) {
  auto front = std::make_unique<Front>();
  if (!front->start(config)) {
    *error = "the sync service's HTTP listener did not start";
    return nullptr;
  }
  return front.release();
}

}  // namespace mpexec::sync

extern "C" mpexec::sync::HttpFront* mpexec_start_http(const mpexec::sync::HttpConfig& config, std::string* error) {
  return mpexec::sync::startHttp(config, error);
}
