#include "sandbox/result.h"

#include <cstring>

namespace mpexec {

std::string Error::message() const {
  std::string m = call;
  if (err != 0) m += (m.empty() ? "" : ": ") + std::string(strerror(err));
  if (!detail.empty()) m += (m.empty() ? "" : ": ") + detail;
  return m;
}

Error sysError(std::string call, std::string detail) { return Error{std::move(call), errno, std::move(detail)}; }

}  // namespace mpexec
