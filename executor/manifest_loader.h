#pragma once
// The reader of one manifest (executor/manifest.h), shared by the files that parse its parts:
// manifest.cc (the top level, groups, tests and gtest entries), manifest_settings.cc (the cascade: timeout,
// env, cwd, sandbox, output rules), manifest_resources.cc and manifest_batch.cc.

#include <boost/json.hpp>
#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "executor/file_facts.h"
#include "executor/json_location.h"
#include "executor/manifest.h"
#include "executor/printable.h"

namespace mpexec::manifest_loader {

namespace json = boost::json;

constexpr double kMaxTimeoutS = 365.0 * 24 * 3600;  // keeps timeout_ms far from int64 overflow

using Keys = std::span<const std::string_view>;

/// The sandbox object of one cascade level, as written: an absent key inherits.
struct SandboxLayer {
  std::optional<sandbox::Network> network;
  std::optional<uint64_t> memory_bytes;
  std::optional<uint64_t> pids;
  std::optional<std::vector<std::string>> writable;
  std::optional<sandbox::Identity> user;
  std::optional<bool> seccomp;
  std::optional<bool> nested;
};

/// One cascade level (defaults, a group or a test), as written.
struct Layer {
  std::optional<double> timeout_s;
  std::vector<std::pair<std::string, std::optional<std::string>>> env;  // nullopt: remove the key
  std::optional<std::string> cwd;                                       // absolute, checked
  SandboxLayer sandbox;
  bool has_sandbox = false;
};

/// Applies one cascade level over the values it inherits: what `l` gives replaces, an env null removes.
void apply(Settings& s, const Layer& l);

/// A string for a message: JSON-quoted, and printable() for the C1 controls JSON leaves raw.
std::string jsonQuoted(std::string_view s);

/// Test names → their index in Manifest::tests: an open-addressing table of (hash, index) pairs, so 100k
/// names cost no allocation per name and no copy of any name.
class NameIndex {
 public:
  /// The index of the test already named like tests[i], or none after recording tests[i].
  std::optional<std::size_t> insert(const std::vector<TestSpec>& tests, std::size_t i) {
    if ((used_ + 1) * 2 > slots_.size()) grow();
    uint32_t h = hashOf(tests[i].name);
    for (std::size_t s = h & mask(); ; s = (s + 1) & mask()) {
      Slot& slot = slots_[s];
      if (slot.index == kEmpty) {
        slot = {h, static_cast<uint32_t>(i)};
        ++used_;
        return std::nullopt;
      }
      if (slot.hash == h && tests[slot.index].name == tests[i].name) return slot.index;
    }
  }

 private:
  static constexpr uint32_t kEmpty = UINT32_MAX;
  struct Slot {
    uint32_t hash = 0;
    uint32_t index = kEmpty;
  };
  static uint32_t hashOf(std::string_view s) { return static_cast<uint32_t>(std::hash<std::string_view>{}(s)); }
  std::size_t mask() const { return slots_.size() - 1; }
  void grow() {
    std::vector<Slot> old = std::exchange(slots_, std::vector<Slot>(std::max<std::size_t>(64, slots_.size() * 2)));
    for (const Slot& o : old) {
      if (o.index == kEmpty) continue;
      std::size_t s = o.hash & mask();
      while (slots_[s].index != kEmpty) s = (s + 1) & mask();
      slots_[s] = o;
    }
  }
  std::vector<Slot> slots_;
  std::size_t used_ = 0;
};

/// Where a group's strategy was declared, for conflict messages.
struct StrategyDecl {
  Strategy strategy;
  std::string where;  // JSON pointer of the "strategy" key
};

/// Reads one manifest: load() fills a Manifest, or returns the first error, which names the file and
/// the JSON pointer. One Loader per manifest; it remembers what it has resolved and listed.
class Loader {
 public:
  Loader(std::string path, std::string dir, const ManifestOptions& opts)
      : path_(std::move(path)), dir_(std::move(dir)), opts_(opts), facts_(dir_) {}

  Result<void> load(const json::value& root, Manifest& m);

 private:
  /// The place holds the manifest's keys as they are: printable(), as the values are quoted.
  Error at(std::string_view ptr, std::string what) const {
    return Error{path_, 0, fmt::format("{}: {}", ptr.empty() ? "/" : printable(ptr), what)};
  }
  Error expected(std::string_view ptr, std::string_view what, const json::value& got) const {
    return at(ptr, fmt::format("expected {}, got {}", what, jsonSnippet(got)));
  }

  Result<void> checkKeys(const json::object& o, const std::string& ptr, Keys allowed) const;
  /// Every string the manifest holds is read by these two, which refuse NUL characters.
  Result<void> readString(const json::value& v, const std::string& ptr, std::string& out) const;
  Result<void> noNul(const json::string& s, const std::string& ptr) const;
  Result<void> readStringArray(const json::value& v, const std::string& ptr, std::vector<std::string>& out,
                               bool non_empty) const;
  Result<void> readStrategy(const json::value& v, const std::string& ptr, Strategy& out) const;
  Result<void> readGroupName(const json::value& v, const std::string& ptr, std::string& out) const;
  Result<void> readLayer(const json::object& o, const std::string& ptr, Layer& out);
  Result<void> readSandbox(const json::value& v, const std::string& ptr, SandboxLayer& out);
  /// pass_regex, fail_regex and skip_regex of a test or a gtest entry.
  Result<void> readOutputRules(const json::object& o, const std::string& ptr, OutputRules& out);
  /// The top-level "resources" (how many of each exist), then --resources over it.
  Result<void> readCapacity(const json::object& top, Manifest& m);
  /// A "resources" of a group, a test or a gtest entry (what it needs), over `out`; each need must exist.
  /// With `groups` (a test or a gtest entry), its "resource_groups" too, whose needs go over `out` as well.
  Result<void> readNeeds(const json::object& o, const std::string& ptr, const Manifest& m, ResourceCounts& out,
                         ResourceGroups* groups = nullptr);
  /// That `count` of `name` may be asked for: the resource is declared and has that many.
  Result<void> checkNeed(const std::string& ptr, const std::string& name, int64_t count, const Manifest& m) const;
  Result<void> resolveCmd(const std::string& ptr, std::vector<std::string>& cmd, const Settings& s);
  Result<void> readBatch(const json::value& v, const std::string& ptr, const Settings& s, BatchSpec& out);
  Result<void> readLines(const json::value& v, const std::string& ptr, BatchLines& out);
  /// A member of a batch group: none of kNotInBatch, and an id unique in the group.
  Result<void> joinBatch(const json::object& o, const std::string& ptr, const GroupSpec& g, TestSpec& t);
  Result<void> claimBatchId(const std::string& group, const std::string& id, const std::string& where);
  Result<void> declareStrategy(const std::string& group, Strategy s, const std::string& where);

  Result<void> readDefaults(const json::value& v);
  Result<void> readGroups(const json::value& v, Manifest& m);
  Result<void> collectTestStrategies(const json::array& tests);
  Result<void> readTest(const json::object& o, const std::string& ptr, Manifest& m);
  Result<void> expandGtest(const json::object& o, const std::string& ptr, Manifest& m);
  /// Appends `t`; an error when its name is taken.
  Result<void> addTest(TestSpec t, bool from_gtest, Manifest& m);
  /// The group named at `ptr` (registered in m.groups on first use) and the checks a member must pass.
  Result<const GroupSpec*> joinGroup(const std::string& group, const std::string& ptr, bool has_sandbox,
                                     Manifest& m);

  std::string path_;
  std::string dir_;
  const ManifestOptions& opts_;
  FileFacts facts_;
  Settings defaults_;
  StringMap<StrategyDecl> strategies_;
  NameIndex names_;
  std::vector<bool> from_gtest_;             // per Manifest::tests entry: expanded from a gtest entry
  StringMap<Result<std::vector<std::string>>> gtest_listings_;
  StringMap<OutputPattern> patterns_;  // each distinct pattern compiled once
  std::map<std::string, std::string> capacity_from_;  // resource → where its count was declared
  StringMap<StringMap<std::string>> batch_ids_;  // batch group → id → where it was declared
};

}  // namespace mpexec::manifest_loader
