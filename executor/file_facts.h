#pragma once
// File-system facts and path resolutions for reading a manifest, each computed once per distinct text.

#include <sys/stat.h>

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "executor/program_lookup.h"

namespace mpexec {

/// Hash maps keyed by std::string that are searched with a string_view, without building a string.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <class V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

/// Returns the entry for `key`, computing it with `make()` the first time only.
template <class V, class Make>
const V& memo(StringMap<V>& map, std::string_view key, Make make) {
  auto it = map.find(key);
  if (it == map.end()) it = map.emplace(std::string(key), make()).first;
  return it->second;
}

/// File-system facts and path resolutions, each computed once per distinct text: 100k tests usually share
/// a handful of cmd[0]s, cwds and writable paths.
class FileFacts {
 public:
  explicit FileFacts(std::string dir) : dir_(std::move(dir)) {}

  /// `p` made absolute against the manifest directory and normalized, without a trailing '/'.
  const std::string& resolve(std::string_view p) {
    return memo(resolved_, p, [&] {
      std::filesystem::path abs = p.starts_with('/') ? std::filesystem::path(p) : std::filesystem::path(dir_) / p;
      std::string out = abs.lexically_normal().string();
      while (out.size() > 1 && out.back() == '/') out.pop_back();
      return out;
    });
  }

  /// Empty when `abs` is an executable regular file, else why not.
  const std::string& executableProblem(std::string_view abs) {
    return memo(executables_, abs, [&] { return mpexec::executableProblem(std::string(abs)); });
  }

  /// The executable `name` (no '/') resolves to in the search path `path_var`; empty when none.
  const std::string& lookInPath(std::string_view name, std::string_view path_var) {
    auto outer = path_lookups_.find(path_var);
    if (outer == path_lookups_.end()) outer = path_lookups_.emplace(std::string(path_var), StringMap<std::string>()).first;
    return memo(outer->second, name, [&] {
      return findInPath(name, path_var, [&](const std::string& p) { return executableProblem(p).empty(); });
    });
  }

  /// Empty when `abs` is a directory, else why not.
  const std::string& directoryProblem(std::string_view abs) {
    return memo(directories_, abs, [&] { return mpexec::directoryProblem(std::string(abs)); });
  }

  bool exists(std::string_view abs) {
    return memo(existing_, abs, [&] {
      struct stat st;
      return stat(std::string(abs).c_str(), &st) == 0;
    });
  }

 private:
  std::string dir_;
  StringMap<std::string> resolved_;
  StringMap<std::string> executables_;
  StringMap<StringMap<std::string>> path_lookups_;  // PATH value → program name → where found
  StringMap<std::string> directories_;
  StringMap<bool> existing_;
};

}  // namespace mpexec
