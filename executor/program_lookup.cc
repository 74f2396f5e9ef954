#include "executor/program_lookup.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include <fmt/format.h>

#include "executor/printable.h"

namespace mpexec {

std::string executableProblem(const std::string& abs) {
  struct stat st;
  if (stat(abs.c_str(), &st) < 0) return fmt::format("{} does not exist", printable(abs));
  if (!S_ISREG(st.st_mode)) return fmt::format("{} is not a regular file", printable(abs));
  if (access(abs.c_str(), X_OK) < 0) return fmt::format("{} is not executable", printable(abs));
  return {};
}

std::string directoryProblem(const std::string& abs) {
  struct stat st;
  if (stat(abs.c_str(), &st) < 0) return fmt::format("directory {} does not exist", printable(abs));
  if (!S_ISDIR(st.st_mode)) return fmt::format("{} is not a directory", printable(abs));
  return {};
}

std::string searchPathFor(const std::map<std::string, std::string>& env) {
  if (auto it = env.find("PATH"); it != env.end()) return it->second;
  const char* host = std::getenv("PATH");
  return host != nullptr ? host : "/usr/local/bin:/usr/bin:/bin";
}

std::string findInPath(std::string_view name, std::string_view path_var,
                       const std::function<bool(const std::string&)>& is_executable) {
  std::string_view rest = path_var;
  while (true) {
    std::size_t colon = rest.find(':');
    std::string_view entry = rest.substr(0, colon);
    if (!entry.empty()) {
      std::string candidate = fmt::format("{}/{}", entry, name);
      if (is_executable ? is_executable(candidate) : executableProblem(candidate).empty()) return candidate;
    }
    if (colon == std::string_view::npos) return {};
    rest.remove_prefix(colon + 1);
  }
}

}  // namespace mpexec
