// The HTTP adapter: the only translation unit that includes httplib.h (DESIGN §1, STYLE).
#include "sync-service/server.h"

#include <httplib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>

namespace mpexec::sync {

namespace {

constexpr size_t kMaxBody = 1u << 20;

// One listening socket with its own thread pool and its own waiter budget, so that a flood of waits on TCP
// cannot starve the Unix socket, or the reverse.
struct Listener {
  explicit Listener(size_t max_waiters) : waiters(max_waiters) {}
  httplib::Server server;
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
  s.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
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
  s.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    jsonError(
        res, res.status == 413 ? "body over 1 MiB" : "bad request (HTTP " + std::to_string(res.status) + ")");
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
  for (int i = 0; i < 5000 && !l.server.is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
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
    tcp->server.set_tcp_nodelay(true);  // answers are written in two parts: Nagle would delay the second
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
