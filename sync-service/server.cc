// The service: its sockets, made here, and its HTTP front (sync-service/http.h), started on the first
// connection.
#include "sync-service/server.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include "sync-service/http.h"
#include "sync-service/waiters.h"

namespace mpexec::sync {

namespace {

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

// A Unix socket at `path`, listening, mode 0666. -1 with `*error` set on failure.
int listenUnix(const std::string& path, std::string* error) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);  // the caller checked the length
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd, SOMAXCONN) != 0) {
    *error = "cannot listen on " + path + ": " + std::strerror(errno);
    if (fd >= 0) close(fd);
    return -1;
  }
  if (chmod(path.c_str(), 0666) != 0) {
    *error = "chmod " + path + ": " + std::strerror(errno);
    close(fd);
    return -1;
  }
  return fd;
}

// A TCP socket bound to `host` and `port` (a free one when port <= 0), listening, with TCP_NODELAY for the
// connections it accepts (requests and answers are small and latency-bound). -1 on failure.
int listenTcp(const std::string& host, int port, int* bound_port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(std::max(port, 0)).c_str(), &hints, &found) != 0) {
    errno = EADDRNOTAVAIL;
    return -1;
  }
  int fd = -1;
  for (addrinfo* a = found; a && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
      int err = errno;
      close(fd);
      fd = -1;
      errno = err;
    }
  }
  freeaddrinfo(found);
  if (fd < 0) return -1;
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *bound_port = addr.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port)
                                           : ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  return fd;
}

// HOST:PORT where a client on this machine reaches the TCP socket `fd` (a wildcard address becomes
// loopback), and whether only loopback can reach it.
std::string localAddress(int fd, bool* loopback_only) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  char host[INET6_ADDRSTRLEN] = "";
  if (addr.ss_family == AF_INET6) {
    auto& a6 = reinterpret_cast<sockaddr_in6&>(addr);
    bool any = IN6_IS_ADDR_UNSPECIFIED(&a6.sin6_addr);
    bool mapped_loopback = IN6_IS_ADDR_V4MAPPED(&a6.sin6_addr) && a6.sin6_addr.s6_addr[12] == 127;
    *loopback_only = IN6_IS_ADDR_LOOPBACK(&a6.sin6_addr) || mapped_loopback;
    if (any) a6.sin6_addr = in6addr_loopback;
    inet_ntop(AF_INET6, &a6.sin6_addr, host, sizeof host);
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(a6.sin6_port));
  }
  auto& a4 = reinterpret_cast<sockaddr_in&>(addr);
  *loopback_only = (ntohl(a4.sin_addr.s_addr) >> 24) == 127;
  if (a4.sin_addr.s_addr == htonl(INADDR_ANY)) a4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  inet_ntop(AF_INET, &a4.sin_addr, host, sizeof host);
  return std::string(host) + ":" + std::to_string(ntohs(a4.sin_port));
}

}  // namespace

// One listening socket with its own HTTP front, whose caps are its own: a flood on TCP cannot starve the
// Unix socket, or the reverse.
struct Listener {
  int fd = -1;  ///< until the front takes it over
  std::unique_ptr<HttpFront> front;
};

struct Service::Impl {
  explicit Impl(const ServiceOptions& o) : options(o) {}
  ServiceOptions options;
  std::unique_ptr<Endpoints> endpoints;  ///< made last in start(), once the run info is complete
  std::string run_dir;
  std::string socket_path;
  int tcp_port = -1;
  std::string tcp_address;
  bool tcp_loopback_only = true;
  std::vector<std::unique_ptr<Listener>> listeners;
  int wake[2] = {-1, -1};  ///< stop() writes to wake[1] to end the watcher
  std::thread watcher;
  mutable std::mutex problems_mu;
  std::vector<std::string> problems;  ///< why the front did not start, for warnings()
  std::mutex stop_mu;
  bool stopped = false;

  void problem(const std::string& what) {
    std::lock_guard lock(problems_mu);
    problems.push_back(what + "; the service refused its clients");
  }

  // Waits for the first connection on any listener (or for stop()), then starts every listener's front.
  void watch() {
    std::vector<pollfd> fds{{wake[0], POLLIN, 0}};
    for (const auto& l : listeners) fds.push_back({l->fd, POLLIN, 0});
    int n;
    while ((n = poll(fds.data(), fds.size(), -1)) < 0 && errno == EINTR) {
    }
    if (n < 0 || fds[0].revents != 0) return;
    startFronts();
  }

  void startFronts() {
    StartHttpFn start = options.start_http;
    if (!start && options.http_library.empty()) {
      problem(std::string("no ") + kHttpLibraryName + " beside mpexec or in ../lib/mpexec from it");
    } else if (!start) {
      // Never closed: nothing of it runs once stop() has joined its threads, and the process ends soon.
      void* library = dlopen(options.http_library.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (library) start = reinterpret_cast<StartHttpFn>(dlsym(library, kStartHttpSymbol));
      if (!start) {
        const char* why = dlerror();
        problem("cannot load " + options.http_library + ": " + (why ? why : "no entry point"));
      }
    }
    for (auto& l : listeners) {
      std::string error;
      HttpFront* front = nullptr;
      if (start) {
        HttpConfig config;
        config.listen_fd = l->fd;
        config.limits = options.http;
        config.handler = [this](const Request& r, WaiterLimit* waits, AnswerBudget* answers) {
          return endpoints->handle(r, waits, answers);
        };
        config.authorize = [this](std::string_view authorization) { return endpoints->unitOf(authorization); };
        front = start(config, &error);
        if (!front) problem(error);
      }
      // Without a front, the socket is closed, so that clients are refused at once instead of hanging.
      if (!front) close(l->fd);
      l->fd = -1;
      l->front.reset(front);
    }
  }

  void stop() {
    std::lock_guard lock(stop_mu);
    if (stopped) return;
    stopped = true;
    if (endpoints) endpoints->stop();  // wakes every wait first: the fronts' threads must be free to be joined
    if (watcher.joinable()) {
      (void)!write(wake[1], "x", 1);
      watcher.join();
    }
    for (auto& l : listeners) {
      if (l->front) l->front->stop();
      if (l->fd >= 0) close(l->fd);
    }
    listeners.clear();
    for (int fd : wake)
      if (fd >= 0) close(fd);
    if (!socket_path.empty()) unlink(socket_path.c_str());
    if (!run_dir.empty()) rmdir(run_dir.c_str());
  }
};

Service::Service(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Service::~Service() { stop(); }

std::unique_ptr<Service> Service::start(const ServiceOptions& options, std::string* error) {
  boost::system::error_code ec;
  boost::json::value run_info = boost::json::parse(options.run_info_json, ec);
  if (ec || !run_info.is_object()) {
    *error = "run info is not a JSON object: " + (ec ? ec.message() : options.run_info_json.substr(0, 64));
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

  auto unix_listener = std::make_unique<Listener>();
  unix_listener->fd = listenUnix(socket_path, error);
  if (unix_listener->fd < 0) return nullptr;
  s.socket_path = socket_path;
  s.listeners.push_back(std::move(unix_listener));

  if (!options.tcp_bind.empty()) {
    std::string host;
    int port = -1;
    if (!parseBind(options.tcp_bind, &host, &port, error)) return nullptr;
    auto tcp = std::make_unique<Listener>();
    tcp->fd = listenTcp(host, port, &s.tcp_port);
    if (tcp->fd < 0) {
      *error = "cannot listen on TCP " + options.tcp_bind + ": " + std::strerror(errno);
      return nullptr;
    }
    s.tcp_address = localAddress(tcp->fd, &s.tcp_loopback_only);
    s.listeners.push_back(std::move(tcp));
  }
  run_info.as_object()["sync_tcp"] = s.tcp_address.empty() ? boost::json::value(nullptr) : boost::json::value(s.tcp_address);
  s.endpoints = std::make_unique<Endpoints>(options.limits, boost::json::serialize(run_info), options.results);

  if (pipe2(s.wake, O_CLOEXEC) != 0) {
    *error = std::string("pipe2: ") + std::strerror(errno);
    return nullptr;
  }
  s.watcher = std::thread([&s] { s.watch(); });
  return service;
}

const std::string& Service::socketPath() const { return impl_->socket_path; }
const std::string& Service::runDir() const { return impl_->run_dir; }
int Service::tcpPort() const { return impl_->tcp_port; }
const std::string& Service::tcpAddress() const { return impl_->tcp_address; }
bool Service::tcpLoopbackOnly() const { return impl_->tcp_loopback_only; }
std::string Service::registerUnit(const std::string& unit) { return impl_->endpoints->registerUnit(unit); }
void Service::unitEnded(const std::string& unit) { impl_->endpoints->unitEnded(unit); }
std::vector<Operation> Service::operations() const { return impl_->endpoints->operations(); }
uint64_t Service::droppedOperations() const { return impl_->endpoints->droppedOperations(); }
std::vector<std::string> Service::warnings() const {
  std::vector<std::string> all = impl_->endpoints->warnings();
  std::lock_guard lock(impl_->problems_mu);
  all.insert(all.end(), impl_->problems.begin(), impl_->problems.end());
  return all;
}
void Service::stop() { impl_->stop(); }
Endpoints& Service::endpoints() { return *impl_->endpoints; }

}  // namespace mpexec::sync
