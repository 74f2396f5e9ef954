#include "sync-service/client.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace mpexec::sync {
namespace {

// A listing of a full board (64 MiB of values, 10,000 keys) is the largest answer; a little more is room.
constexpr size_t kMaxResponse = 80u << 20;

std::string errnoText(const std::string& what) { return what + ": " + std::strerror(errno); }

int connectUnix(const std::string& path, std::string* error) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    *error = "socket path too long: " + path;
    return -1;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = errnoText("socket");
    return -1;
  }
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    *error = errnoText("connect " + path);
    close(fd);
    return -1;
  }
  return fd;
}

int connectTcp(const std::string& host, int port, std::string* error) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  std::string service = std::to_string(port);
  if (int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &list); rc != 0) {
    *error = "getaddrinfo " + host + ": " + gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  for (addrinfo* ai = list; ai != nullptr && fd < 0; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      *error = errnoText("connect " + host + ":" + service);
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(list);
  if (fd >= 0) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // requests are small and latency-bound
  }
  return fd;
}

bool sendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

}  // namespace

Endpoint Endpoint::fromEnvironment() {
  Endpoint e;
  if (const char* token = std::getenv("MPEXEC_SYNC_TOKEN")) e.token = token;
  if (const char* tcp = std::getenv("MPEXEC_SYNC_TCP"); tcp != nullptr && *tcp != '\0') {
    std::string addr = tcp;
    size_t colon = addr.rfind(':');
    if (colon != std::string::npos) {
      e.tcp_host = addr.substr(0, colon);
      if (e.tcp_host.size() >= 2 && e.tcp_host.front() == '[')
        e.tcp_host = e.tcp_host.substr(1, e.tcp_host.size() - 2);
      e.tcp_port = std::atoi(addr.c_str() + colon + 1);
      return e;
    }
  }
  const char* socket = std::getenv("MPEXEC_SYNC_SOCKET");
  e.socket_path = socket != nullptr && *socket != '\0' ? socket : "/run/mpexec/sync.sock";
  return e;
}

SyncClient::SyncClient(Endpoint endpoint) : endpoint_(std::move(endpoint)) {}

SyncClient::~SyncClient() {
  if (fd_ >= 0) close(fd_);
}

SyncClient::SyncClient(SyncClient&& o) noexcept
    : endpoint_(std::move(o.endpoint_)), fd_(std::exchange(o.fd_, -1)), buffer_(std::move(o.buffer_)) {}

SyncClient& SyncClient::operator=(SyncClient&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) close(fd_);
    endpoint_ = std::move(o.endpoint_);
    fd_ = std::exchange(o.fd_, -1);
    buffer_ = std::move(o.buffer_);
  }
  return *this;
}

ClientResult SyncClient::request(std::string_view method, std::string_view target, std::string_view body) {
  std::string req;
  req.reserve(160 + body.size());
  req.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: mpexec\r\n");
  if (!endpoint_.token.empty()) req.append("Authorization: Bearer ").append(endpoint_.token).append("\r\n");
  if (!body.empty() || method == "PUT") {
    req.append("Content-Type: application/json\r\nContent-Length: ").append(std::to_string(body.size()));
    req.append("\r\n");
  }
  req.append("\r\n").append(body);

  for (int attempt = 0; attempt < 2; ++attempt) {
    bool reused = fd_ >= 0;
    std::string error;
    if (!reused) {
      buffer_.clear();
      fd_ = endpoint_.tcp_host.empty() ? connectUnix(endpoint_.socket_path, &error)
                                       : connectTcp(endpoint_.tcp_host, endpoint_.tcp_port, &error);
      if (fd_ < 0) return {{}, error};
    }
    auto fail = [&](std::string message) {
      close(fd_);
      fd_ = -1;
      return ClientResult{{}, std::move(message)};
    };
    // A failed send is not yet an error: the server may have answered early (413) and closed.
    std::string send_error = sendAll(fd_, req) ? "" : errnoText("send");

    // Read the head, then Content-Length bytes of body.
    size_t head_end = std::string::npos;
    bool got_any = !buffer_.empty();
    bool eof = false;
    char chunk[16384];
    while ((head_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        eof = true;
        break;
      }
      got_any = true;
      buffer_.append(chunk, static_cast<size_t>(n));
      if (buffer_.size() > kMaxResponse) return fail("response head too large");
    }
    if (eof) {
      // A kept-alive connection the server had closed: it never saw this request, so send it again.
      if (reused && !got_any) {
        close(fd_);
        fd_ = -1;
        continue;
      }
      if (got_any) return fail("connection closed in the middle of a response");
      return fail(!send_error.empty() ? send_error : "connection closed before a response");
    }
    std::string_view head(buffer_.data(), head_end);
    HttpResponse response;
    if (head.substr(0, 5) != "HTTP/" || head.size() < 12) return fail("malformed response status line");
    response.status = std::atoi(std::string(head.substr(9, 3)).c_str());
    size_t content_length = 0;
    bool close_after = head.substr(0, 8) == "HTTP/1.0";
    size_t pos = head.find("\r\n");
    while (pos != std::string_view::npos && pos < head.size()) {
      size_t next = head.find("\r\n", pos + 2);
      std::string_view line =
          head.substr(pos + 2, (next == std::string_view::npos ? head.size() : next) - pos - 2);
      size_t colon = line.find(':');
      if (colon != std::string_view::npos) {
        std::string_view name = line.substr(0, colon);
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        if (iequals(name, "Content-Length"))
          content_length = std::strtoull(std::string(value).c_str(), nullptr, 10);
        if (iequals(name, "Connection") && iequals(value, "close")) close_after = true;
        if (iequals(name, "Retry-After")) response.retry_after = std::atoi(std::string(value).c_str());
        if (iequals(name, "Transfer-Encoding")) return fail("chunked responses are not supported");
      }
      pos = next;
    }
    if (content_length > kMaxResponse) return fail("response body too large");
    size_t body_start = head_end + 4;
    while (buffer_.size() < body_start + content_length) {
      ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return fail("connection closed in the middle of a response body");
      buffer_.append(chunk, static_cast<size_t>(n));
    }
    response.body = buffer_.substr(body_start, content_length);
    buffer_.erase(0, body_start + content_length);
    if (close_after) {
      close(fd_);
      fd_ = -1;
    }
    return {std::move(response), ""};
  }
  return {{}, "the server closed the connection twice"};
}

}  // namespace mpexec::sync
