#include "executor/input_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "sandbox/unique_fd.h"

namespace mpexec {

namespace {

// Why a file of this type is not read; empty when it is.
const char* refusal(mode_t mode) {
  if (S_ISDIR(mode)) return "is a directory, expected a file";
  if (S_ISREG(mode) || S_ISFIFO(mode)) return "";
  return "is a device or a socket, expected a file";
}

}  // namespace

Result<std::string> readInputFile(const std::string& path, std::size_t max_bytes) {
  // Checked before open too: opening some devices acts on them.
  struct stat st;
  if (stat(path.c_str(), &st) < 0) return sysError(path + ": cannot read");
  if (const char* why = refusal(st.st_mode); *why != 0) return Error{path, 0, why};
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_NOCTTY | O_CLOEXEC));
  if (!fd) return sysError(path + ": cannot read");
  if (fstat(fd.get(), &st) < 0) return sysError(path + ": fstat");
  if (const char* why = refusal(st.st_mode); *why != 0) return Error{path, 0, why};
  std::string text;
  if (S_ISREG(st.st_mode)) text.reserve(std::min(std::size_t(st.st_size), max_bytes));
  char buf[65536];
  while (true) {
    ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sysError(path + ": cannot read");
    if (n == 0) break;
    if (text.size() + std::size_t(n) > max_bytes)
      return Error{path, 0, fmt::format("is larger than {} MiB, more than any manifest or report", max_bytes >> 20)};
    text.append(buf, std::size_t(n));
  }
  return text;
}

}  // namespace mpexec
