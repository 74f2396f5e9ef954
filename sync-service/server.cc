// The HTTP adapter: the only translation unit that includes httplib.h (DESIGN §1, STYLE).
#include "sync-service/server.h"

#include <httplib.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/json/parse.hpp>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <string_view>
#include <thread>

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

// One listening socket with its own thread pool and its own waiter budget, so that a flood of waits on TCP
// cannot starve the Unix socket, or the reverse.
struct Listener {
  explicit Listener(size_t max_waiters) : waiters(max_waiters) {}
  HttpServer server;
  WaiterLimit waiters;
  std::thread thread;
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

void install(Listener& l, Endpoints& endpoints, size_t threads) {
  httplib::Server& s = l.server;
  s.new_task_queue = [threads] { return new LazyPool(threads); };
  s.set_payload_max_length(kMaxBody);
  // A keep-alive connection holds a pool thread while idle, so idle ones are let go soon.
  s.set_keep_alive_max_count(10000);
  s.set_keep_alive_timeout(2);
  auto handler = [&endpoints, &l](const httplib::Request& req, httplib::Response& res) {
    Request r;
    r.method = req.method;
    r.path = req.path;
    for (const auto& [k, v] : req.params) r.query.emplace(k, v);  // the first of repeated parameters wins
    r.body = req.body;
    r.authorization = req.get_header_value("Authorization");
    Reply reply = endpoints.handle(r, &l.waiters);
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

// Starts serving on an already bound listener and waits until httplib counts it as running, so that a
// stop() right after start() cannot miss it and leave the thread blocked.
bool run(Listener& l) {
  l.thread = std::thread([&l] { l.server.listen_after_bind(); });
  // Polled finely: the thread is up within tens of microseconds, and a run's start waits for it.
  for (int i = 0; i < 100000 && !l.server.is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  return l.server.is_running();
}

// "ADDR", "ADDR:PORT", "[V6]" or "[V6]:PORT". Port -1 when absent.
bool parseBind(const std::string& bind, std::string* host, int* port, std::string* error) {
  std::string port_text;
  if (!bind.empty() && bind[0] == '[') {
    size_t close = bind.find(']');
    if (close == std::string::npos) {
      *error = "unbalanced [ in --sync-bind " + bind;
      return false;
    }
    *host = bind.substr(1, close - 1);
    if (close + 1 < bind.size()) {
      if (bind[close + 1] != ':') {
        *error = "want [ADDR]:PORT in --sync-bind " + bind;
        return false;
      }
      port_text = bind.substr(close + 2);
    }
  } else if (size_t colon = bind.find(':');
             colon != std::string::npos && bind.find(':', colon + 1) == std::string::npos) {
    *host = bind.substr(0, colon);
    port_text = bind.substr(colon + 1);
  } else {
    *host = bind;  // a bare IPv6 address, or a host without port
  }
  if (host->empty()) *host = "127.0.0.1";
  *port = -1;
  if (!port_text.empty()) {
    char* end = nullptr;
    long p = std::strtol(port_text.c_str(), &end, 10);
    if (*end != '\0' || p < 0 || p > 65535) {
      *error = "bad port in --sync-bind " + bind;
      return false;
    }
    *port = static_cast<int>(p);
  }
  return true;
}

}  // namespace

struct Service::Impl {
  Impl(const ServiceOptions& o) : options(o), endpoints(o.limits, o.run_info_json) {}
  ServiceOptions options;
  Endpoints endpoints;
  std::string run_dir;
  std::string socket_path;
  int tcp_port = -1;
  std::vector<std::unique_ptr<Listener>> listeners;
  std::mutex stop_mu;
  bool stopped = false;

  void stop() {
    std::lock_guard lock(stop_mu);
    if (stopped) return;
    stopped = true;
    endpoints.stop();  // wakes every wait first: the pools' threads must be free to be joined
    for (auto& l : listeners) {
      if (l->thread.joinable()) {
        l->server.stop();
        l->thread.join();
      }
    }
    listeners.clear();
    if (!socket_path.empty()) unlink(socket_path.c_str());
    if (!run_dir.empty()) rmdir(run_dir.c_str());
  }
};

Service::Service(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Service::~Service() { stop(); }

std::unique_ptr<Service> Service::start(const ServiceOptions& options, std::string* error) {
  boost::system::error_code ec;
  boost::json::parse(options.run_info_json, ec);
  if (ec) {
    *error = "run info is not JSON: " + ec.message();
    return nullptr;
  }
  auto impl = std::make_unique<Impl>(options);
  // From here on, a failure's cleanup (socket, directory) is the Service destructor's.
  std::unique_ptr<Service> service(new Service(std::move(impl)));
  Impl& s = *service->impl_;

  std::string dir_template = options.run_dir_parent + "/mpexec-sync.XXXXXX";
  if (mkdtemp(dir_template.data()) == nullptr) {
    *error = "mkdtemp " + dir_template + ": " + std::strerror(errno);
    return nullptr;
  }
  s.run_dir = dir_template;
  std::string socket_path = s.run_dir + "/sync.sock";
  if (socket_path.size() >= sizeof(sockaddr_un{}.sun_path)) {
    *error = "socket path too long for a Unix socket: " + socket_path;
    return nullptr;
  }

  size_t threads = options.slots + options.margin;
  size_t max_waiters = options.slots + options.margin / 2;
  auto unix_listener = std::make_unique<Listener>(max_waiters);
  install(*unix_listener, s.endpoints, threads);
  unix_listener->server.set_address_family(AF_UNIX);
  if (!unix_listener->server.bind_to_port(socket_path, 80)) {
    *error = "cannot listen on " + socket_path + ": " + std::strerror(errno);
    return nullptr;
  }
  s.socket_path = socket_path;
  if (chmod(socket_path.c_str(), 0666) != 0) {
    *error = "chmod " + socket_path + ": " + std::strerror(errno);
    return nullptr;
  }
  // Serving at once means that a later failure is cleaned up by stop(), which only ends running listeners.
  Listener& unix_ref = *unix_listener;
  s.listeners.push_back(std::move(unix_listener));
  if (!run(unix_ref)) {
    *error = "the sync service's listener did not start";
    return nullptr;
  }

  if (!options.tcp_bind.empty()) {
    std::string host;
    int port = -1;
    if (!parseBind(options.tcp_bind, &host, &port, error)) return nullptr;
    auto tcp = std::make_unique<Listener>(max_waiters);
    install(*tcp, s.endpoints, threads);
    tcp->server.set_tcp_nodelay(true);  // requests and answers are small and latency-bound
    if (port <= 0) {
      port = tcp->server.bind_to_any_port(host);
    } else if (!tcp->server.bind_to_port(host, port)) {
      port = -1;
    }
    if (port <= 0) {
      *error = "cannot listen on TCP " + options.tcp_bind + ": " + std::strerror(errno);
      return nullptr;
    }
    s.tcp_port = port;
    bool running = run(*tcp);
    s.listeners.push_back(std::move(tcp));
    if (!running) {
      *error = "the sync service's TCP listener did not start";
      return nullptr;
    }
  }
  return service;
}

const std::string& Service::socketPath() const { return impl_->socket_path; }
const std::string& Service::runDir() const { return impl_->run_dir; }
int Service::tcpPort() const { return impl_->tcp_port; }
std::string Service::registerUnit(const std::string& unit) { return impl_->endpoints.registerUnit(unit); }
void Service::unitEnded(const std::string& unit) { impl_->endpoints.unitEnded(unit); }
std::vector<Operation> Service::operations() const { return impl_->endpoints.operations(); }
uint64_t Service::droppedOperations() const { return impl_->endpoints.droppedOperations(); }
std::vector<std::string> Service::warnings() const { return impl_->endpoints.warnings(); }
void Service::stop() { impl_->stop(); }
Endpoints& Service::endpoints() { return impl_->endpoints; }

}  // namespace mpexec::sync
