#include "sync-service/http_answer.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <string>

namespace mpexec::sync {

namespace {

constexpr size_t kKeptBuffer = 4096;
constexpr int kIovecs = 64;

}  // namespace

const char* reasonPhrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 417: return "Expectation Failed";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Status";
  }
}

std::string errorBody(std::string_view message) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string body = "{\"error\":\"";
  for (char c : message) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) {
      body += {'%', kHex[u >> 4], kHex[u & 15]};
      continue;
    }
    if (c == '"' || c == '\\') body += '\\';
    body += c;
  }
  return body + "\"}";
}

std::string answerHead(const Reply& reply, Connection connection) {
  size_t length = reply.shared ? reply.shared->size() : reply.body.size();
  std::string head = "HTTP/1.1 " + std::to_string(reply.status) + " " + reasonPhrase(reply.status) + "\r\n";
  head += "Content-Type: application/json\r\nContent-Length: " + std::to_string(length) + "\r\n";
  if (!reply.allow.empty()) head += "Allow: " + reply.allow + "\r\n";
  if (reply.retry_after > 0) head += "Retry-After: " + std::to_string(reply.retry_after) + "\r\n";
  if (connection == Connection::Close) head += "Connection: close\r\n";
  if (connection == Connection::KeepAliveHttp10) head += "Connection: keep-alive\r\n";
  return head + "\r\n";
}

void OutgoingAnswer::start(std::string head, std::string body, std::shared_ptr<const SharedBody> shared) {
  head_ = std::move(head);
  body_ = std::move(body);
  shared_ = std::move(shared);
  item_ = 0;
  offset_ = 0;
  sent_ = 0;
  skip();
}

std::string_view OutgoingAnswer::item(size_t i) const {
  if (i == 0) return head_;
  if (i == 1) return body_;
  return shared_->piece(i - 2);
}

void OutgoingAnswer::skip() {
  while (item_ < items() && offset_ >= item(item_).size()) {
    ++item_;
    offset_ = 0;
  }
}

bool OutgoingAnswer::send(int fd) {
  while (!done()) {
    iovec iov[kIovecs];
    int n = 0;
    for (size_t i = item_, offset = offset_; n < kIovecs && i < items(); ++i, offset = 0) {
      std::string_view s = item(i);
      if (s.size() > offset) iov[n++] = {const_cast<char*>(s.data() + offset), s.size() - offset};
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = size_t(n);
    ssize_t w = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
    sent_ += size_t(w);
    for (size_t left = size_t(w); left > 0;) {
      size_t here = std::min(left, item(item_).size() - offset_);
      offset_ += here;
      left -= here;
      skip();
    }
  }
  return true;
}

void OutgoingAnswer::clear() {
  if (head_.capacity() > kKeptBuffer) std::string().swap(head_);
  head_.clear();
  std::string().swap(body_);
  shared_.reset();
  item_ = 2;
  offset_ = 0;
  sent_ = 0;
}

}  // namespace mpexec::sync
