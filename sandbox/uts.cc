#include "sandbox/uts.h"

#include <unistd.h>

namespace mpexec::sandbox {

std::string unitHostname(const std::string& unit) {
  std::string name = "mpexec-";
  for (char c : unit) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    name += ok ? c : '-';
  }
  if (name.size() > 64) name.resize(64);  // HOST_NAME_MAX
  return name;
}

Result<void> setUnitHostname(const std::string& unit) {
  std::string name = unitHostname(unit);
  if (sethostname(name.data(), name.size()) != 0) return sysError("sethostname", name);
  return {};
}

}  // namespace mpexec::sandbox
