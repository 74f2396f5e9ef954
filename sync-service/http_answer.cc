#include "sync-service/http_answer.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>

namespace mpexec::sync {

namespace {

constexpr size_t kKeptBuffer = 4096;
constexpr int kIovecs = 64;

}  // namespace

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
