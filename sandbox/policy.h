#pragma once
// What a unit's sandbox allows: the manifest's "sandbox" object (DESIGN §2, §4), already validated.

#include <cstdint>
#include <string>
#include <vector>

namespace mpexec::sandbox {

enum class Network { None, Host };
enum class Identity { Self, Nobody };

struct Policy {
  Network network = Network::None;
  uint64_t memory_bytes = 0;  ///< 0: no limit
  uint64_t pids = 0;          ///< 0: no limit
  /// Absolute host paths, bound read-write at the same path. The sandbox opens them without following
  /// symlinks: the executor resolves them first (executor/bind_paths.h).
  std::vector<std::string> writable;
  Identity user = Identity::Self;
  bool seccomp = true;
  bool nested = false;  ///< allow user namespaces (and the calls they need) inside

  bool operator==(const Policy&) const = default;
};

}  // namespace mpexec::sandbox
