#include "sync-service/tokens.h"

#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace mpexec::sync {
namespace {

bool fillRandom(unsigned char* buf, size_t len) {
  size_t got = 0;
  while (got < len) {
    ssize_t n = getrandom(buf + got, len - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    got += static_cast<size_t>(n);
  }
  if (got == len) return true;
  // Kernels before 3.17 have no getrandom; /dev/urandom gives the same quality once seeded.
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  got = 0;
  while (got < len) {
    ssize_t n = read(fd, buf + got, len - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  close(fd);
  return got == len;
}

}  // namespace

std::string randomToken() {
  unsigned char bytes[16];
  if (!fillRandom(bytes, sizeof bytes)) {
    // Without randomness no token can be trusted; there is nothing sensible to continue with.
    std::fputs("mpexec: no source of random bytes for sync tokens\n", stderr);
    std::abort();
  }
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

std::string Tokens::issue(const std::string& unit) {
  std::string token = randomToken();
  std::lock_guard lock(mu_);
  if (auto it = token_by_unit_.find(unit); it != token_by_unit_.end()) unit_by_token_.erase(it->second);
  token_by_unit_[unit] = token;
  unit_by_token_[token] = unit;
  return token;
}

std::optional<std::string> Tokens::unitOf(std::string_view token) const {
  std::lock_guard lock(mu_);
  auto it = unit_by_token_.find(token);
  if (it == unit_by_token_.end()) return std::nullopt;
  return it->second;
}

void Tokens::revoke(const std::string& unit) {
  std::lock_guard lock(mu_);
  auto it = token_by_unit_.find(unit);
  if (it == token_by_unit_.end()) return;
  unit_by_token_.erase(it->second);
  token_by_unit_.erase(it);
}

}  // namespace mpexec::sync
