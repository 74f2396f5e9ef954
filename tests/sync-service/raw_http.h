#pragma once
// A client that sends whatever bytes a test gives it, for what a well-behaved client never sends: raw
// requests over the Unix socket or TCP, with a receive timeout so that a service that never answers fails
// the test instead of hanging it.

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "sandbox/unique_fd.h"

namespace mpexec::sync {

struct RawAnswer {
  bool ok = false;  ///< a whole answer arrived
  int status = 0;
  std::string head;  ///< status line and fields
  std::string body;
};

class RawConnection {
 public:
  /// Connects to a Unix socket path, or to 127.0.0.1:port when `port` > 0.
  explicit RawConnection(const std::string& socket_path, int port = 0, double timeout_s = 10) {
    if (port > 0) {
      fd_.reset(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(static_cast<uint16_t>(port));
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) fd_.reset();
      int one = 1;
      if (fd_) setsockopt(fd_.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    } else {
      fd_.reset(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::strncpy(addr.sun_path, socket_path.c_str(), sizeof addr.sun_path - 1);
      if (connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) fd_.reset();
    }
    setTimeout(timeout_s);
  }

  bool connected() const { return fd_.valid(); }
  int fd() const { return fd_.get(); }

  void setTimeout(double seconds) {
    if (!fd_) return;
    timeval t{static_cast<time_t>(seconds), static_cast<suseconds_t>((seconds - double(time_t(seconds))) * 1e6)};
    setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &t, sizeof t);
    setsockopt(fd_.get(), SOL_SOCKET, SO_SNDTIMEO, &t, sizeof t);
  }

  /// False when the service closed the connection (or the timeout ran out) before all was sent.
  bool send(const std::string& bytes) {
    size_t done = 0;
    while (fd_ && done < bytes.size()) {
      ssize_t n = ::send(fd_.get(), bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return fd_.valid();
  }

  /// The next answer (a 100 Continue is one), with a Content-Length body unless it answers a HEAD.
  RawAnswer read(bool head_only = false) {
    RawAnswer a;
    size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill()) return a;
    }
    a.head = buffer_.substr(0, end + 2);
    a.status = a.head.size() > 12 ? std::atoi(a.head.c_str() + 9) : 0;
    size_t length = 0;
    for (size_t at = 0; (at = a.head.find("\r\n", at)) != std::string::npos; at += 2) {
      if (strncasecmp(a.head.c_str() + at + 2, "Content-Length:", 15) == 0)
        length = std::strtoul(a.head.c_str() + at + 17, nullptr, 10);
    }
    if (head_only) length = 0;
    while (buffer_.size() < end + 4 + length) {
      if (!fill()) return a;
    }
    a.body = buffer_.substr(end + 4, length);
    buffer_.erase(0, end + 4 + length);
    a.ok = true;
    return a;
  }

  /// Sends `bytes` and reads one answer.
  RawAnswer exchange(const std::string& bytes) {
    send(bytes);
    return read();
  }

  /// Whether the service closed the connection: nothing more arrives and the stream ends.
  bool closedByService() {
    while (buffer_.empty()) {
      char c[4096];
      ssize_t n = recv(fd_.get(), c, sizeof c, 0);
      if (n == 0) return true;
      if (n < 0) return errno == ECONNRESET;
      buffer_.append(c, static_cast<size_t>(n));
    }
    return false;
  }

  /// Bytes received beyond the answers read.
  const std::string& pending() const { return buffer_; }

 private:
  bool fill() {
    char chunk[65536];
    ssize_t n = recv(fd_.get(), chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  UniqueFd fd_;
  std::string buffer_;
};

/// A request with the usual head: Host, the token when given, Content-Length when there is a body.
inline std::string rawRequest(const std::string& method, const std::string& target, const std::string& token,
                              const std::string& body = "", const std::string& extra_fields = "") {
  std::string r = method + " " + target + " HTTP/1.1\r\nHost: mpexec\r\n" + extra_fields;
  if (!token.empty()) r += "Authorization: Bearer " + token + "\r\n";
  if (!body.empty() || method == "PUT") r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return r + "\r\n" + body;
}

}  // namespace mpexec::sync
