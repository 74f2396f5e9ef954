#include "executor/manifest.h"

#include <sys/stat.h>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <re2/re2.h>

#include <array>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <span>
#include <unordered_map>
#include <utility>

#include "executor/batch_command.h"
#include "executor/gtest_list.h"
#include "executor/input_file.h"
#include "executor/json_location.h"
#include "executor/program_lookup.h"
#include "executor/printable.h"
#include "executor/utf8.h"

extern char** environ;

namespace mpexec {

namespace json = boost::json;
namespace fs = std::filesystem;

const char* strategyName(Strategy s) {
  switch (s) {
    case Strategy::Free: return "free";
    case Strategy::Serial: return "serial";
    case Strategy::IsolatedFree: return "isolated_free";
    case Strategy::IsolatedSerial: return "isolated_serial";
  }
  return "free";
}

std::optional<Strategy> strategyFromName(std::string_view name) {
  for (Strategy s : {Strategy::Free, Strategy::Serial, Strategy::IsolatedFree, Strategy::IsolatedSerial}) {
    if (name == strategyName(s)) return s;
  }
  return std::nullopt;
}

bool isValidTestName(std::string_view name) { return !name.empty() && isControlFree(name); }

bool isIsolated(Strategy s) { return s == Strategy::IsolatedFree || s == Strategy::IsolatedSerial; }
bool isSerial(Strategy s) { return s == Strategy::Serial || s == Strategy::IsolatedSerial; }

namespace {

constexpr double kBuiltinTimeoutS = 60;
constexpr double kMaxTimeoutS = 365.0 * 24 * 3600;  // keeps timeout_ms far from int64 overflow
constexpr std::size_t kMaxGroupName = 128;
constexpr uint64_t kMaxPids = 4194304;  // PID_MAX_LIMIT on 64-bit Linux

using Keys = std::span<const std::string_view>;
constexpr std::array<std::string_view, 5> kTopKeys{"version", "resources", "defaults", "groups", "tests"};
constexpr std::array<std::string_view, 4> kDefaultsKeys{"timeout", "env", "cwd", "sandbox"};
constexpr std::array<std::string_view, 9> kGroupKeys{"strategy", "setup", "teardown", "timeout",
                                                     "env",      "cwd",   "sandbox",  "resources", "batch"};
constexpr std::array<std::string_view, 17> kTestKeys{
    "name",    "id",     "cmd",            "group",     "strategy",   "timeout",    "env",       "cwd",
    "sandbox", "labels", "skip_exit_code", "will_fail", "pass_regex", "fail_regex", "skip_regex", "resources",
    "resource_groups"};
constexpr std::array<std::string_view, 13> kGtestKeys{"gtest",      "group",      "strategy",   "timeout",
                                                      "env",        "cwd",        "sandbox",    "labels",
                                                      "pass_regex", "fail_regex", "skip_regex", "resources",
                                                      "resource_groups"};
constexpr std::array<std::string_view, 2> kBatchKeys{"cmd", "lines"};
constexpr std::array<std::string_view, 5> kLinesKeys{"started", "pass", "fail", "skip", "error"};
// Keys a test of a batch group may not have: the tests share the group's process and its report (and
// CTest's resource groups are told to a test's own process).
constexpr std::array<std::string_view, 9> kNotInBatch{"cmd",        "env",        "cwd",        "skip_exit_code",
                                                      "will_fail",  "pass_regex", "fail_regex", "skip_regex",
                                                      "resource_groups"};
constexpr std::array<std::string_view, 7> kSandboxKeys{"network", "memory",  "pids",  "writable",
                                                       "user",    "seccomp", "nested"};

// The sandbox object of one cascade level, as written: an absent key inherits.
struct SandboxLayer {
  std::optional<sandbox::Network> network;
  std::optional<uint64_t> memory_bytes;
  std::optional<uint64_t> pids;
  std::optional<std::vector<std::string>> writable;
  std::optional<sandbox::Identity> user;
  std::optional<bool> seccomp;
  std::optional<bool> nested;
};

// One cascade level (defaults, a group or a test), as written.
struct Layer {
  std::optional<double> timeout_s;
  std::vector<std::pair<std::string, std::optional<std::string>>> env;  // nullopt: remove the key
  std::optional<std::string> cwd;                                       // absolute, checked
  SandboxLayer sandbox;
  bool has_sandbox = false;
};

void apply(Settings& s, const Layer& l) {
  if (l.timeout_s) s.timeout_s = *l.timeout_s;
  for (const auto& [k, v] : l.env) {
    if (v) {
      s.env[k] = *v;
    } else {
      s.env.erase(k);
    }
  }
  if (l.cwd) s.cwd = *l.cwd;
  const SandboxLayer& b = l.sandbox;
  sandbox::Policy& p = s.sandbox;
  if (b.network) p.network = *b.network;
  if (b.memory_bytes) p.memory_bytes = *b.memory_bytes;
  if (b.pids) p.pids = *b.pids;
  if (b.writable) p.writable = *b.writable;
  if (b.user) p.user = *b.user;
  if (b.seccomp) p.seccomp = *b.seccomp;
  if (b.nested) p.nested = *b.nested;
}

std::string joinKeys(Keys keys) {
  std::string out;
  for (std::string_view k : keys) {
    if (!out.empty()) out += ", ";
    out += k;
  }
  return out;
}

// A string for a message: JSON-quoted, and printable() for the C1 controls JSON leaves raw.
std::string jsonQuoted(std::string_view s) { return printable(json::serialize(json::string_view(s.data(), s.size()))); }

bool validGroupName(std::string_view g) {
  if (g.empty() || g.size() > kMaxGroupName || g == "." || g == "..") return false;
  for (char c : g) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// "512M", "1G", "64K", "2T" (powers of 1024, either case) or a plain byte count; 0 on a bad text.
uint64_t parseSize(std::string_view s) {
  if (s.empty()) return 0;
  uint64_t mult = 1;
  switch (s.back()) {
    case 'K': case 'k': mult = 1ull << 10; break;
    case 'M': case 'm': mult = 1ull << 20; break;
    case 'G': case 'g': mult = 1ull << 30; break;
    case 'T': case 't': mult = 1ull << 40; break;
    default: break;
  }
  if (mult != 1) s.remove_suffix(1);
  if (s.empty() || s.size() > 19) return 0;
  uint64_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return 0;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  if (n > UINT64_MAX / mult) return 0;
  return n * mult;
}

std::string fnv1a64Hex(std::string_view bytes) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return fmt::format("{:016x}", h);
}

std::string baseName(const std::string& p) {
  std::size_t slash = p.find_last_of('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

// Hash maps keyed by std::string that are searched with a string_view, without building a string.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <class V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

// Returns the entry for `key`, computing it with `make()` the first time only.
template <class V, class Make>
const V& memo(StringMap<V>& map, std::string_view key, Make make) {
  auto it = map.find(key);
  if (it == map.end()) it = map.emplace(std::string(key), make()).first;
  return it->second;
}

// File-system facts and path resolutions, each computed once per distinct text: 100k tests usually share
// a handful of cmd[0]s, cwds and writable paths.
class FileFacts {
 public:
  explicit FileFacts(std::string dir) : dir_(std::move(dir)) {}

  // `p` made absolute against the manifest directory and normalized, without a trailing '/'.
  const std::string& resolve(std::string_view p) {
    return memo(resolved_, p, [&] {
      fs::path abs = p.starts_with('/') ? fs::path(p) : fs::path(dir_) / p;
      std::string out = abs.lexically_normal().string();
      while (out.size() > 1 && out.back() == '/') out.pop_back();
      return out;
    });
  }

  // Empty when `abs` is an executable regular file, else why not.
  const std::string& executableProblem(std::string_view abs) {
    return memo(executables_, abs, [&] { return mpexec::executableProblem(std::string(abs)); });
  }

  // The executable `name` (no '/') resolves to in the search path `path_var`; empty when none.
  const std::string& lookInPath(std::string_view name, std::string_view path_var) {
    auto outer = path_lookups_.find(path_var);
    if (outer == path_lookups_.end()) outer = path_lookups_.emplace(std::string(path_var), StringMap<std::string>()).first;
    return memo(outer->second, name, [&] {
      return findInPath(name, path_var, [&](const std::string& p) { return executableProblem(p).empty(); });
    });
  }

  // Empty when `abs` is a directory, else why not.
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

// Test names → their index in Manifest::tests: an open-addressing table of (hash, index) pairs, so 100k
// names cost no allocation per name and no copy of any name.
class NameIndex {
 public:
  // The index of the test already named like tests[i], or none after recording tests[i].
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

// Where a group's strategy was declared, for conflict messages.
struct StrategyDecl {
  Strategy strategy;
  std::string where;  // JSON pointer of the "strategy" key
};

class Loader {
 public:
  Loader(std::string path, std::string dir, const ManifestOptions& opts)
      : path_(std::move(path)), dir_(std::move(dir)), opts_(opts), facts_(dir_) {}

  Result<void> load(const json::value& root, Manifest& m);

 private:
  // The place holds the manifest's keys as they are: printable(), as the values are quoted.
  Error at(std::string_view ptr, std::string what) const {
    return Error{path_, 0, fmt::format("{}: {}", ptr.empty() ? "/" : printable(ptr), what)};
  }
  Error expected(std::string_view ptr, std::string_view what, const json::value& got) const {
    return at(ptr, fmt::format("expected {}, got {}", what, jsonSnippet(got)));
  }

  Result<void> checkKeys(const json::object& o, const std::string& ptr, Keys allowed) const;
  // Every string the manifest holds is read by these two, which refuse NUL characters.
  Result<void> readString(const json::value& v, const std::string& ptr, std::string& out) const;
  Result<void> noNul(const json::string& s, const std::string& ptr) const;
  Result<void> readStringArray(const json::value& v, const std::string& ptr, std::vector<std::string>& out,
                               bool non_empty) const;
  Result<void> readStrategy(const json::value& v, const std::string& ptr, Strategy& out) const;
  Result<void> readGroupName(const json::value& v, const std::string& ptr, std::string& out) const;
  Result<void> readLayer(const json::object& o, const std::string& ptr, Layer& out);
  Result<void> readSandbox(const json::value& v, const std::string& ptr, SandboxLayer& out);
  // pass_regex, fail_regex and skip_regex of a test or a gtest entry.
  Result<void> readOutputRules(const json::object& o, const std::string& ptr, OutputRules& out);
  // The top-level "resources" (how many of each exist), then --resources over it.
  Result<void> readCapacity(const json::object& top, Manifest& m);
  // A "resources" of a group, a test or a gtest entry (what it needs), over `out`; each need must exist.
  // With `groups` (a test or a gtest entry), its "resource_groups" too, whose needs go over `out` as well.
  Result<void> readNeeds(const json::object& o, const std::string& ptr, const Manifest& m, ResourceCounts& out,
                         ResourceGroups* groups = nullptr);
  // That `count` of `name` may be asked for: the resource is declared and has that many.
  Result<void> checkNeed(const std::string& ptr, const std::string& name, int64_t count, const Manifest& m) const;
  Result<void> resolveCmd(const std::string& ptr, std::vector<std::string>& cmd, const Settings& s);
  Result<void> readBatch(const json::value& v, const std::string& ptr, const Settings& s, BatchSpec& out);
  Result<void> readLines(const json::value& v, const std::string& ptr, BatchLines& out);
  // A member of a batch group: none of kNotInBatch, and an id unique in the group.
  Result<void> joinBatch(const json::object& o, const std::string& ptr, const GroupSpec& g, TestSpec& t);
  Result<void> claimBatchId(const std::string& group, const std::string& id, const std::string& where);
  Result<void> declareStrategy(const std::string& group, Strategy s, const std::string& where);

  Result<void> readDefaults(const json::value& v);
  Result<void> readGroups(const json::value& v, Manifest& m);
  Result<void> collectTestStrategies(const json::array& tests);
  Result<void> readTest(const json::object& o, const std::string& ptr, Manifest& m);
  Result<void> expandGtest(const json::object& o, const std::string& ptr, Manifest& m);
  // Appends `t`; an error when its name is taken.
  Result<void> addTest(TestSpec t, bool from_gtest, Manifest& m);
  // The group named at `ptr` (registered in m.groups on first use) and the checks a member must pass.
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

Result<void> Loader::checkKeys(const json::object& o, const std::string& ptr, Keys allowed) const {
  for (const auto& kv : o) {
    bool known = false;
    for (std::string_view k : allowed) known = known || kv.key() == k;
    if (!known) {
      return at(ptr, fmt::format("unknown key {} (allowed: {})", jsonQuoted(kv.key()), joinKeys(allowed)));
    }
  }
  return {};
}

Result<void> Loader::readString(const json::value& v, const std::string& ptr, std::string& out) const {
  const json::string* s = v.if_string();
  if (s == nullptr || s->empty()) return expected(ptr, "a non-empty string", v);
  MPEXEC_TRY(noNul(*s, ptr));
  out.assign(s->data(), s->size());
  return {};
}

// A program, argument, path or name is a C string once it reaches the kernel: a NUL would cut it there,
// so that "tr\u0000ue" ran `tr`.
Result<void> Loader::noNul(const json::string& s, const std::string& ptr) const {
  if (std::string_view(s.data(), s.size()).find('\0') == std::string_view::npos) return {};
  return expected(ptr, "a string without NUL characters", json::value(s));
}

Result<void> Loader::readStringArray(const json::value& v, const std::string& ptr, std::vector<std::string>& out,
                                     bool non_empty) const {
  const char* what = non_empty ? "a non-empty array of strings" : "an array of strings";
  const json::array* a = v.if_array();
  if (a == nullptr || (non_empty && a->empty())) return expected(ptr, what, v);
  out.clear();
  out.reserve(a->size());
  for (std::size_t i = 0; i < a->size(); ++i) {
    const json::string* s = (*a)[i].if_string();
    if (s == nullptr) return expected(fmt::format("{}/{}", ptr, i), "a string", (*a)[i]);
    MPEXEC_TRY(noNul(*s, fmt::format("{}/{}", ptr, i)));
    out.emplace_back(s->data(), s->size());
  }
  return {};
}

Result<void> Loader::readStrategy(const json::value& v, const std::string& ptr, Strategy& out) const {
  const json::string* s = v.if_string();
  std::optional<Strategy> st = s ? strategyFromName(std::string_view(s->data(), s->size())) : std::nullopt;
  if (!st) return expected(ptr, "one of \"free\", \"serial\", \"isolated_free\", \"isolated_serial\"", v);
  out = *st;
  return {};
}

Result<void> Loader::readGroupName(const json::value& v, const std::string& ptr, std::string& out) const {
  const json::string* s = v.if_string();
  if (s == nullptr || !validGroupName(std::string_view(s->data(), s->size()))) {
    return expected(ptr, "a group name of 1 to 128 characters from [A-Za-z0-9._-]", v);
  }
  out.assign(s->data(), s->size());
  return {};
}

Result<void> Loader::readLayer(const json::object& o, const std::string& ptr, Layer& out) {
  if (const json::value* v = o.if_contains("timeout")) {
    std::optional<double> t;
    if (v->is_number()) t = v->to_number<double>();
    if (!t || !std::isfinite(*t) || *t <= 0 || *t > kMaxTimeoutS) {
      return expected(ptr + "/timeout", "a number of seconds > 0 (at most one year)", *v);
    }
    out.timeout_s = t;
  }
  if (const json::value* v = o.if_contains("env")) {
    const json::object* env = v->if_object();
    if (env == nullptr) return expected(ptr + "/env", "an object of strings", *v);
    out.env.reserve(env->size());
    for (const auto& kv : *env) {
      std::string_view key = kv.key();
      if (key.empty() || key.find('=') != std::string_view::npos || key.find('\0') != std::string_view::npos) {
        return at(ptr + "/env", fmt::format("invalid variable name {}: expected a non-empty name without '='",
                                            jsonQuoted(key)));
      }
      std::string vptr = ptr + "/env/" + jsonPointerToken(key);
      if (kv.value().is_null()) {
        out.env.emplace_back(std::string(key), std::nullopt);
        continue;
      }
      const json::string* s = kv.value().if_string();
      if (s == nullptr) return expected(vptr, "a string (or null to remove an inherited variable)", kv.value());
      MPEXEC_TRY(noNul(*s, vptr));
      out.env.emplace_back(std::string(key), std::string(s->data(), s->size()));
    }
  }
  if (const json::value* v = o.if_contains("cwd")) {
    std::string cwd;
    MPEXEC_TRY(readString(*v, ptr + "/cwd", cwd));
    cwd = facts_.resolve(cwd);
    if (const std::string& why = facts_.directoryProblem(cwd); !why.empty()) return at(ptr + "/cwd", why);
    out.cwd = std::move(cwd);
  }
  if (const json::value* v = o.if_contains("sandbox")) {
    out.has_sandbox = true;
    MPEXEC_TRY(readSandbox(*v, ptr + "/sandbox", out.sandbox));
  }
  return {};
}

Result<void> Loader::readSandbox(const json::value& v, const std::string& ptr, SandboxLayer& out) {
  const json::object* o = v.if_object();
  if (o == nullptr) return expected(ptr, "an object", v);
  MPEXEC_TRY(checkKeys(*o, ptr, kSandboxKeys));
  auto oneOf = [&](const char* key, std::string_view a, std::string_view b) -> Result<bool> {
    const json::value& x = o->at(key);
    const json::string* s = x.if_string();
    if (s != nullptr && *s == a) return true;
    if (s != nullptr && *s == b) return false;
    return expected(ptr + "/" + key, fmt::format("{} or {}", jsonQuoted(a), jsonQuoted(b)), x);
  };
  if (o->contains("network")) {
    auto r = oneOf("network", "none", "host");
    if (!r) return r.error();
    out.network = *r ? sandbox::Network::None : sandbox::Network::Host;
  }
  if (o->contains("user")) {
    auto r = oneOf("user", "self", "nobody");
    if (!r) return r.error();
    out.user = *r ? sandbox::Identity::Self : sandbox::Identity::Nobody;
  }
  if (o->contains("seccomp")) {
    auto r = oneOf("seccomp", "default", "off");
    if (!r) return r.error();
    out.seccomp = *r;
  }
  if (const json::value* x = o->if_contains("nested")) {
    if (!x->is_bool()) return expected(ptr + "/nested", "a boolean", *x);
    out.nested = x->get_bool();
  }
  if (const json::value* x = o->if_contains("memory")) {
    uint64_t bytes = 0;
    if (x->is_int64() && x->get_int64() > 0) bytes = static_cast<uint64_t>(x->get_int64());
    if (x->is_uint64()) bytes = x->get_uint64();
    if (const json::string* s = x->if_string()) bytes = parseSize(std::string_view(s->data(), s->size()));
    if (bytes == 0) {
      return expected(ptr + "/memory", "a size such as \"512M\", \"1G\", \"64K\" or a byte count > 0", *x);
    }
    out.memory_bytes = bytes;
  }
  if (const json::value* x = o->if_contains("pids")) {
    uint64_t n = 0;
    if (x->is_int64() && x->get_int64() > 0) n = static_cast<uint64_t>(x->get_int64());
    if (x->is_uint64()) n = x->get_uint64();
    // The kernel's pids controller refuses more than PID_MAX_LIMIT, which no system exceeds: a larger limit
    // would fail every unit when the run starts, so it fails here.
    if (n == 0 || n > kMaxPids) return expected(ptr + "/pids", "an integer from 1 to 4194304", *x);
    out.pids = n;
  }
  if (const json::value* x = o->if_contains("writable")) {
    std::vector<std::string> paths;
    MPEXEC_TRY(readStringArray(*x, ptr + "/writable", paths, false));
    for (std::size_t i = 0; i < paths.size(); ++i) {
      std::string wptr = fmt::format("{}/writable/{}", ptr, i);
      if (paths[i].empty()) return expected(wptr, "a non-empty path", x->as_array()[i]);
      paths[i] = facts_.resolve(paths[i]);
      if (!facts_.exists(paths[i])) return at(wptr, fmt::format("writable path {} does not exist", printable(paths[i])));
    }
    out.writable = std::move(paths);
  }
  return {};
}

Result<void> Loader::readOutputRules(const json::object& o, const std::string& ptr, OutputRules& out) {
  for (auto [key, into] : {std::pair{"pass_regex", &out.pass}, std::pair{"fail_regex", &out.fail},
                           std::pair{"skip_regex", &out.skip}}) {
    const json::value* v = o.if_contains(key);
    if (v == nullptr) continue;
    std::string kptr = ptr + "/" + key;
    std::vector<std::string> texts;
    if (const json::string* s = v->if_string()) {
      MPEXEC_TRY(noNul(*s, kptr));
      texts.emplace_back(s->data(), s->size());
    } else if (v->is_array()) {
      MPEXEC_TRY(readStringArray(*v, kptr, texts, false));
    } else {
      return expected(kptr, "a regular expression or an array of them", *v);
    }
    for (std::size_t i = 0; i < texts.size(); ++i) {
      std::string eptr = v->is_array() ? fmt::format("{}/{}", kptr, i) : kptr;
      const json::value& given = v->is_array() ? v->as_array()[i] : *v;
      if (texts[i].empty()) return expected(eptr, "a non-empty regular expression", given);
      auto it = patterns_.find(texts[i]);
      if (it == patterns_.end()) {
        auto compiled = compileOutputPattern(texts[i]);
        if (!compiled.ok()) {
          return at(eptr, fmt::format("{} is not a valid regular expression (RE2 syntax): {}", jsonSnippet(given),
                                      printable(compiled.error().detail)));
        }
        it = patterns_.emplace(texts[i], std::move(compiled.value())).first;
      }
      into->push_back(it->second);
    }
  }
  return {};
}

Result<void> Loader::readCapacity(const json::object& top, Manifest& m) {
  if (const json::value* v = top.if_contains("resources")) {
    const json::object* o = v->if_object();
    if (o == nullptr) return expected("/resources", "an object of resource names and counts", *v);
    for (const auto& kv : *o) {
      std::string ptr = "/resources/" + jsonPointerToken(kv.key());
      if (!validResourceName(kv.key())) {
        return at(ptr, fmt::format("resource name {} must be 1 to 64 characters from [a-z0-9_], not starting with a "
                                   "digit", jsonQuoted(kv.key())));
      }
      const json::value& n = kv.value();
      if (!n.is_int64() || n.get_int64() < 0 || n.get_int64() > kMaxResourceCount) {
        return expected(ptr, fmt::format("how many exist, an integer 0..{}", kMaxResourceCount), n);
      }
      m.resources[std::string(kv.key())] = int(n.get_int64());
      capacity_from_[std::string(kv.key())] = ptr;
    }
  }
  for (const auto& [name, count] : opts_.resources) {
    m.resources[name] = count;
    auto origin = opts_.resource_origins.find(name);
    capacity_from_[name] = origin == opts_.resource_origins.end() ? "--resources" : origin->second;
  }
  return {};
}

Result<void> Loader::checkNeed(const std::string& ptr, const std::string& name, int64_t count,
                               const Manifest& m) const {
  auto exists = m.resources.find(name);
  if (exists == m.resources.end()) {
    return at(ptr, fmt::format("resource {} is not declared: say how many exist in /resources, or with "
                               "--resources {}=N",
                               jsonQuoted(name), validResourceName(name) ? name : "NAME"));
  }
  if (count > exists->second) {
    return at(ptr, fmt::format("needs {} {}, but {} exist ({}), so it could never run", count, name,
                               exists->second, capacity_from_.at(name)));
  }
  return {};
}

Result<void> Loader::readNeeds(const json::object& o, const std::string& ptr, const Manifest& m, ResourceCounts& out,
                               ResourceGroups* groups) {
  if (const json::value* v = o.if_contains("resources")) {
    std::string rptr = ptr + "/resources";
    const json::object* needs = v->if_object();
    if (needs == nullptr) return expected(rptr, "an object of resource names and counts", *v);
    for (const auto& kv : *needs) {
      std::string name(kv.key());
      std::string nptr = rptr + "/" + jsonPointerToken(name);
      MPEXEC_TRY(checkNeed(nptr, name, 0, m));
      const json::value& n = kv.value();
      if (!n.is_int64() || n.get_int64() < 0) return expected(nptr, "how many it needs, an integer >= 0", n);
      MPEXEC_TRY(checkNeed(nptr, name, n.get_int64(), m));
      out[name] = int(n.get_int64());
    }
  }
  const json::value* v = groups ? o.if_contains("resource_groups") : nullptr;
  if (v == nullptr) return {};
  std::string gptr = ptr + "/resource_groups";
  if (o.contains("resources")) return at(gptr, "give \"resources\" or \"resource_groups\", not both");
  const json::array* list = v->if_array();
  if (list == nullptr || list->empty() || list->size() > std::size_t(kMaxResourceCount)) {
    return expected(gptr, fmt::format("an array of 1 to {} groups, each an object of resource names and slots",
                                      kMaxResourceCount), *v);
  }
  ResourceCounts counted;  // per resource: how many groups ask for it so far
  for (std::size_t i = 0; i < list->size(); ++i) {
    std::string iptr = fmt::format("{}/{}", gptr, i);
    const json::object* group = (*list)[i].if_object();
    if (group == nullptr || group->empty())
      return expected(iptr, "a group: an object of resource names and slots, e.g. {\"gpu\": 1}", (*list)[i]);
    ResourceCounts& slots = groups->emplace_back();
    for (const auto& kv : *group) {
      std::string name(kv.key());
      std::string nptr = iptr + "/" + jsonPointerToken(name);
      MPEXEC_TRY(checkNeed(nptr, name, 0, m));
      const json::value& n = kv.value();
      if (!n.is_int64() || n.get_int64() < 1 || n.get_int64() > kMaxResourceCount)
        return expected(nptr, fmt::format("the slots it asks of one {}, an integer 1..{}", name, kMaxResourceCount), n);
      MPEXEC_TRY(checkNeed(nptr, name, ++counted[name], m));
      slots[name] = int(n.get_int64());
    }
  }
  for (const auto& [name, count] : counted) out[name] = count;
  return {};
}

Result<void> Loader::resolveCmd(const std::string& ptr, std::vector<std::string>& cmd, const Settings& s) {
  std::string& exe = cmd[0];
  std::string exe_ptr = ptr + "/0";
  if (exe.empty()) return at(exe_ptr, "expected a program, got \"\"");
  if (exe.find('/') != std::string::npos) {
    exe = facts_.resolve(exe);
    if (const std::string& why = facts_.executableProblem(exe); !why.empty()) return at(exe_ptr, why);
    return {};
  }
  // A bare name stays bare (the test sees the argv[0] it was given); it must be found now, in the PATH
  // the test will run with.
  const std::string path_var = searchPathFor(s.env);
  if (facts_.lookInPath(exe, path_var).empty()) {
    return at(exe_ptr, fmt::format("{} is not an executable found in PATH ({})", jsonQuoted(exe), printable(path_var)));
  }
  return {};
}

Result<void> Loader::declareStrategy(const std::string& group, Strategy s, const std::string& where) {
  auto [it, fresh] = strategies_.try_emplace(group, StrategyDecl{s, where});
  if (!fresh && it->second.strategy != s) {
    return at(where, fmt::format("strategy {} for group {} conflicts with {} declared at {}",
                                 jsonQuoted(strategyName(s)), jsonQuoted(group), jsonQuoted(strategyName(it->second.strategy)),
                                 it->second.where));
  }
  return {};
}

Result<void> Loader::readBatch(const json::value& v, const std::string& ptr, const Settings& s, BatchSpec& out) {
  const json::object* o = v.if_object();
  if (o == nullptr) return expected(ptr, "an object with \"cmd\"", v);
  MPEXEC_TRY(checkKeys(*o, ptr, kBatchKeys));
  const json::value* cmd = o->if_contains("cmd");
  if (cmd == nullptr) return at(ptr, "missing required key \"cmd\"");
  MPEXEC_TRY(readStringArray(*cmd, ptr + "/cmd", out.cmd, true));
  for (std::size_t i = 0; i < out.cmd.size(); ++i) {
    if (std::string why = batchPlaceholderProblem(out.cmd[i]); !why.empty())
      return at(fmt::format("{}/cmd/{}", ptr, i), fmt::format("{}, got {}", why, jsonQuoted(out.cmd[i])));
  }
  MPEXEC_TRY(resolveCmd(ptr + "/cmd", out.cmd, s));
  if (const json::value* l = o->if_contains("lines")) MPEXEC_TRY(readLines(*l, ptr + "/lines", out.lines));
  return {};
}

Result<void> Loader::readLines(const json::value& v, const std::string& ptr, BatchLines& out) {
  const json::object* o = v.if_object();
  if (o == nullptr || o->empty())
    return expected(ptr, "an object with at least one of started, pass, fail, skip, error", v);
  MPEXEC_TRY(checkKeys(*o, ptr, kLinesKeys));
  std::optional<LinePattern>* slots[] = {&out.started, &out.pass, &out.fail, &out.skip, &out.error};
  for (std::size_t k = 0; k < kLinesKeys.size(); ++k) {
    const json::value* x = o->if_contains(kLinesKeys[k]);
    if (x == nullptr) continue;
    std::string kptr = ptr + "/" + std::string(kLinesKeys[k]);
    std::string text;
    MPEXEC_TRY(readString(*x, kptr, text));
    Result<OutputPattern> p = compileOutputPattern(text);
    if (!p.ok())
      return at(kptr, fmt::format("not a valid regular expression (RE2 syntax: {}): {}", printable(p.error().detail),
                                  jsonQuoted(text)));
    if (p.value().re->NumberOfCapturingGroups() < 1)
      return at(kptr, fmt::format("needs a capture group for the id, such as \"^ok (.+)$\", got {}", jsonQuoted(text)));
    *slots[k] = std::move(p.value());
  }
  return {};
}

Result<void> Loader::joinBatch(const json::object& o, const std::string& ptr, const GroupSpec& g, TestSpec& t) {
  for (std::string_view key : kNotInBatch) {
    if (!o.contains(key)) continue;
    std::string kptr = ptr + "/" + std::string(key);
    if (key == "cmd")
      return at(kptr, fmt::format("a test of batch group {} has no \"cmd\": the group's batch command runs it "
                                  "(give its \"id\" instead)", jsonQuoted(g.name)));
    if (key == "resource_groups")
      return at(kptr, fmt::format("a test of batch group {} shares the group's process, which cannot be told "
                                  "each test's groups: give \"resources\" instead", jsonQuoted(g.name)));
    if (key == "env" || key == "cwd")
      return at(kptr, fmt::format("a test of batch group {} runs in the group's batch command: set {} on /groups/{}",
                                  jsonQuoted(g.name), jsonQuoted(key), jsonPointerToken(g.name)));
    return at(kptr, fmt::format("a test of batch group {} has the outcome its batch command reports, not one "
                                "judged by an exit code or output", jsonQuoted(g.name)));
  }
  t.id = t.name;
  if (const json::value* id = o.if_contains("id")) {
    MPEXEC_TRY(readString(*id, ptr + "/id", t.id));
    if (!isControlFree(t.id)) return expected(ptr + "/id", "an id without control characters", *id);
  }
  return claimBatchId(g.name, t.id, ptr + (o.contains("id") ? "/id" : "/name"));
}

Result<void> Loader::claimBatchId(const std::string& group, const std::string& id, const std::string& where) {
  auto& ids = batch_ids_[group];
  auto [it, fresh] = ids.try_emplace(id, where);
  if (!fresh) {
    return at(where, fmt::format("duplicate id {} in batch group {} (already at {})", jsonQuoted(id),
                                 jsonQuoted(group), it->second));
  }
  return {};
}

Result<void> Loader::readDefaults(const json::value& v) {
  defaults_.timeout_s = opts_.default_timeout_s.value_or(kBuiltinTimeoutS);
  defaults_.cwd = dir_;
  const json::object* o = v.if_object();
  if (o == nullptr) return expected("/defaults", "an object", v);
  MPEXEC_TRY(checkKeys(*o, "/defaults", kDefaultsKeys));
  Layer l;
  MPEXEC_TRY(readLayer(*o, "/defaults", l));
  apply(defaults_, l);
  return {};
}

Result<void> Loader::readGroups(const json::value& v, Manifest& m) {
  const json::object* groups = v.if_object();
  if (groups == nullptr) return expected("/groups", "an object of groups", v);
  for (const auto& kv : *groups) {
    std::string name(kv.key());
    std::string ptr = "/groups/" + jsonPointerToken(name);
    if (!validGroupName(name)) {
      return at(ptr, fmt::format("group name {} must be 1 to 128 characters from [A-Za-z0-9._-]", jsonQuoted(name)));
    }
    const json::object* o = kv.value().if_object();
    if (o == nullptr) return expected(ptr, "an object", kv.value());
    MPEXEC_TRY(checkKeys(*o, ptr, kGroupKeys));
    GroupSpec g;
    g.name = name;
    if (const json::value* s = o->if_contains("strategy")) {
      MPEXEC_TRY(readStrategy(*s, ptr + "/strategy", g.strategy));
      MPEXEC_TRY(declareStrategy(name, g.strategy, ptr + "/strategy"));
    }
    Layer l;
    MPEXEC_TRY(readLayer(*o, ptr, l));
    g.settings = defaults_;
    apply(g.settings, l);
    MPEXEC_TRY(readNeeds(*o, ptr, m, g.resources));
    for (auto [key, cmd] : {std::pair{"setup", &g.setup}, std::pair{"teardown", &g.teardown}}) {
      if (const json::value* c = o->if_contains(key)) {
        std::string cptr = ptr + "/" + key;
        MPEXEC_TRY(readStringArray(*c, cptr, *cmd, true));
        MPEXEC_TRY(resolveCmd(cptr, *cmd, g.settings));
      }
    }
    if (const json::value* b = o->if_contains("batch")) {
      g.batch.emplace();
      MPEXEC_TRY(readBatch(*b, ptr + "/batch", g.settings, *g.batch));
    }
    m.groups.emplace(name, std::move(g));
  }
  return {};
}

// The strategy of a group may be declared on any test that names it, so every declaration is known
// before the first test is resolved (a serial group's members may not set "sandbox").
Result<void> Loader::collectTestStrategies(const json::array& tests) {
  for (std::size_t i = 0; i < tests.size(); ++i) {
    const json::object* o = tests[i].if_object();
    if (o == nullptr) continue;  // reported with the test itself
    const json::value* s = o->if_contains("strategy");
    if (s == nullptr) continue;
    std::string ptr = fmt::format("/tests/{}", i);
    Strategy st;
    MPEXEC_TRY(readStrategy(*s, ptr + "/strategy", st));
    const json::value* g = o->if_contains("group");
    if (g == nullptr) {
      if (st == Strategy::Free) continue;
      return at(ptr + "/strategy",
                fmt::format("strategy {} needs a \"group\" (a test without a group is free)", jsonQuoted(strategyName(st))));
    }
    std::string group;
    MPEXEC_TRY(readGroupName(*g, ptr + "/group", group));
    MPEXEC_TRY(declareStrategy(group, st, ptr + "/strategy"));
  }
  return {};
}

Result<const GroupSpec*> Loader::joinGroup(const std::string& group, const std::string& ptr, bool has_sandbox,
                                           Manifest& m) {
  auto it = m.groups.find(group);
  if (it == m.groups.end()) {
    GroupSpec g;
    g.name = group;
    g.settings = defaults_;
    auto decl = strategies_.find(group);
    if (decl != strategies_.end()) g.strategy = decl->second.strategy;
    it = m.groups.emplace(group, std::move(g)).first;
  } else if (auto decl = strategies_.find(group); decl != strategies_.end()) {
    it->second.strategy = decl->second.strategy;  // declared on a test, not in "groups"
  }
  if (has_sandbox && isSerial(it->second.strategy)) {
    return at(ptr + "/sandbox",
              fmt::format("group {} is {}: its tests share one sandbox, so set \"sandbox\" on the group "
                          "(/groups/{}/sandbox), not on a test",
                          jsonQuoted(group), strategyName(it->second.strategy), jsonPointerToken(group)));
  }
  return &it->second;
}

Result<void> Loader::addTest(TestSpec t, bool from_gtest, Manifest& m) {
  m.tests.push_back(std::move(t));
  from_gtest_.push_back(from_gtest);
  std::size_t i = m.tests.size() - 1;
  if (auto first = names_.insert(m.tests, i)) {
    auto namePointer = [&](std::size_t k) { return m.tests[k].json_pointer + (from_gtest_[k] ? "/gtest" : "/name"); };
    return at(namePointer(i), fmt::format("duplicate test name {} (already declared at {})",
                                          jsonQuoted(m.tests[i].name), namePointer(*first)));
  }
  return {};
}

Result<void> Loader::readTest(const json::object& o, const std::string& ptr, Manifest& m) {
  MPEXEC_TRY(checkKeys(o, ptr, kTestKeys));
  TestSpec t;
  t.json_pointer = ptr;
  const json::value* name = o.if_contains("name");
  if (name == nullptr) return at(ptr, "missing required key \"name\"");
  MPEXEC_TRY(readString(*name, ptr + "/name", t.name));
  if (!isValidTestName(t.name)) return expected(ptr + "/name", "a name without control characters", *name);

  Layer l;
  MPEXEC_TRY(readLayer(o, ptr, l));
  const Settings* base = &defaults_;
  const GroupSpec* group = nullptr;
  if (const json::value* g = o.if_contains("group")) {
    MPEXEC_TRY(readGroupName(*g, ptr + "/group", t.group));
    auto joined = joinGroup(t.group, ptr, l.has_sandbox, m);
    if (!joined) return joined.error();
    group = *joined;
    t.strategy = group->strategy;
    base = &group->settings;
    t.resources = group->resources;
  }
  const bool batch = group != nullptr && group->batch;
  if (batch) {
    MPEXEC_TRY(joinBatch(o, ptr, *group, t));
  } else if (o.contains("id")) {
    return at(ptr + "/id", "\"id\" is only for a test of a batch group (a group with \"batch\")");
  }
  t.settings = *base;
  apply(t.settings, l);
  MPEXEC_TRY(readNeeds(o, ptr, m, t.resources, &t.resource_groups));
  if (!batch) {
    const json::value* cmd = o.if_contains("cmd");
    if (cmd == nullptr) return at(ptr, "missing required key \"cmd\"");
    MPEXEC_TRY(readStringArray(*cmd, ptr + "/cmd", t.cmd, true));
    MPEXEC_TRY(resolveCmd(ptr + "/cmd", t.cmd, t.settings));
  }

  if (const json::value* v = o.if_contains("skip_exit_code")) {
    if (v->is_null()) {
      t.skip_exit_code.reset();
    } else if (!v->is_int64() || v->get_int64() < 0 || v->get_int64() > 255) {
      return expected(ptr + "/skip_exit_code", "an integer 0..255 (or null: no exit code means skip)", *v);
    } else {
      t.skip_exit_code = static_cast<int>(v->get_int64());
    }
  }
  if (const json::value* v = o.if_contains("will_fail")) {
    if (!v->is_bool()) return expected(ptr + "/will_fail", "a boolean", *v);
    t.will_fail = v->get_bool();
  }
  if (const json::value* v = o.if_contains("labels")) {
    MPEXEC_TRY(readStringArray(*v, ptr + "/labels", t.labels, false));
  }
  MPEXEC_TRY(readOutputRules(o, ptr, t.output_rules));
  t.gtest_suite = gtestSuiteOf(t.cmd);
  return addTest(std::move(t), false, m);
}

Result<void> Loader::expandGtest(const json::object& o, const std::string& ptr, Manifest& m) {
  MPEXEC_TRY(checkKeys(o, ptr, kGtestKeys));
  std::string bin;
  MPEXEC_TRY(readString(o.at("gtest"), ptr + "/gtest", bin));
  Layer l;
  MPEXEC_TRY(readLayer(o, ptr, l));
  TestSpec proto;
  proto.json_pointer = ptr;
  const Settings* base = &defaults_;
  const GroupSpec* group = nullptr;
  if (const json::value* g = o.if_contains("group")) {
    MPEXEC_TRY(readGroupName(*g, ptr + "/group", proto.group));
    auto joined = joinGroup(proto.group, ptr, l.has_sandbox, m);
    if (!joined) return joined.error();
    group = *joined;
    proto.strategy = group->strategy;
    base = &group->settings;
    proto.resources = group->resources;
  }
  const bool batch = group != nullptr && group->batch;
  if (batch) {
    for (std::string_view key : {"env", "cwd", "pass_regex", "fail_regex", "skip_regex"}) {
      if (!o.contains(key)) continue;
      if (key == "env" || key == "cwd")
        return at(ptr + "/" + std::string(key),
                  fmt::format("a test of batch group {} runs in the group's batch command: set {} on /groups/{}",
                              jsonQuoted(group->name), jsonQuoted(key), jsonPointerToken(group->name)));
      return at(ptr + "/" + std::string(key),
                fmt::format("a test of batch group {} has the outcome its batch command reports, not one judged "
                            "by an exit code or output", jsonQuoted(group->name)));
    }
  }
  proto.settings = *base;
  apply(proto.settings, l);
  MPEXEC_TRY(readNeeds(o, ptr, m, proto.resources, &proto.resource_groups));
  if (const json::value* v = o.if_contains("labels")) {
    MPEXEC_TRY(readStringArray(*v, ptr + "/labels", proto.labels, false));
  }
  MPEXEC_TRY(readOutputRules(o, ptr, proto.output_rules));

  // A binary that is missing or not yet built is not a manifest error: it becomes a failing test below.
  std::string resolved = bin;
  if (bin.find('/') != std::string::npos) {
    resolved = facts_.resolve(bin);
  } else {
    const std::string& found = facts_.lookInPath(bin, searchPathFor(proto.settings.env));
    if (!found.empty()) resolved = found;
  }
  // The binary's file name starts every name it gives, and names reach terminals and reports.
  const std::string base_name = baseName(resolved);
  if (!isValidTestName(base_name)) {
    return expected(ptr + "/gtest", "a binary whose file name is not empty and has no control characters", o.at("gtest"));
  }
  auto listed = gtest_listings_.find(resolved);
  if (listed == gtest_listings_.end()) {
    GtestListOptions lo;
    lo.cwd = proto.settings.cwd;
    lo.timeout = opts_.gtest_list_timeout;
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      std::string_view kv(*e);
      if (!proto.settings.env.contains(std::string(kv.substr(0, kv.find('='))))) env.emplace_back(kv);
    }
    for (const auto& [k, v] : proto.settings.env) env.push_back(k + "=" + v);
    lo.env = std::move(env);
    auto cases = opts_.list_gtest ? opts_.list_gtest(resolved, lo, proto.settings) : listGtestCases(resolved, lo);
    listed = gtest_listings_.emplace(resolved, std::move(cases)).first;
  }

  if (!listed->second.ok() && batch) {
    // The batch command gets the binary's name as an id: it fails to start, or does not report it.
    TestSpec t = proto;
    t.name = t.id = base_name;
    MPEXEC_TRY(claimBatchId(proto.group, t.id, ptr + "/gtest"));
    return addTest(std::move(t), true, m);
  }
  if (!listed->second.ok()) {
    TestSpec t = proto;
    t.name = base_name;
    std::string why =
        fmt::format("mpexec: {}: cannot list gtest {}: {}", ptr, resolved, listed->second.error().message());
    // The message travels as an argument, so no quoting of `why` is needed.
    t.cmd = {"/bin/sh", "-c", "printf '%s\\n' \"$1\" >&2; exit 1", "mpexec", std::move(why)};
    return addTest(std::move(t), true, m);
  }
  for (const std::string& c : listed->second.value()) {
    TestSpec t = proto;
    t.name = base_name + "." + c;
    t.gtest_suite = c.substr(0, c.find('.'));
    if (batch) {
      t.id = c;
      MPEXEC_TRY(claimBatchId(proto.group, t.id, ptr + "/gtest"));
    } else {
      t.cmd = {resolved, "--gtest_filter=" + c};
    }
    MPEXEC_TRY(addTest(std::move(t), true, m));
  }
  return {};
}

Result<void> Loader::load(const json::value& root, Manifest& m) {
  if (auto t = opts_.default_timeout_s; t && (!std::isfinite(*t) || *t <= 0 || *t > kMaxTimeoutS)) {
    return Error{"--timeout", 0, fmt::format("expected a number of seconds > 0 (at most one year), got {}", *t)};
  }
  const json::object* top = root.if_object();
  if (top == nullptr) return expected("/", "an object", root);
  MPEXEC_TRY(checkKeys(*top, "/", kTopKeys));

  const json::value* version = top->if_contains("version");
  if (version == nullptr) return at("/", "missing required key \"version\" (this mpexec reads version 1)");
  if (!version->is_number() || version->to_number<double>() != 1 || version->is_double()) {
    return expected("/version", "1 (the only schema version this mpexec reads)", *version);
  }

  MPEXEC_TRY(readCapacity(*top, m));
  MPEXEC_TRY(readDefaults(top->contains("defaults") ? top->at("defaults") : json::value(json::object())));
  if (const json::value* g = top->if_contains("groups")) MPEXEC_TRY(readGroups(*g, m));

  const json::value* tests_v = top->if_contains("tests");
  if (tests_v == nullptr) return at("/", "missing required key \"tests\"");
  const json::array* tests = tests_v->if_array();
  if (tests == nullptr) return expected("/tests", "an array of tests", *tests_v);
  MPEXEC_TRY(collectTestStrategies(*tests));

  m.tests.reserve(tests->size());
  from_gtest_.reserve(tests->size());
  for (std::size_t i = 0; i < tests->size(); ++i) {
    std::string ptr = fmt::format("/tests/{}", i);
    const json::object* o = (*tests)[i].if_object();
    if (o == nullptr) return expected(ptr, "a test object", (*tests)[i]);
    if (o->contains("gtest")) {
      MPEXEC_TRY(expandGtest(*o, ptr, m));
    } else {
      MPEXEC_TRY(readTest(*o, ptr, m));
    }
  }
  return {};
}

std::string manifestDir(const std::string& path) {
  std::error_code ec;
  fs::path abs = fs::absolute(path.empty() ? fs::path(".") / "manifest.json" : fs::path(path), ec);
  std::string dir = abs.parent_path().lexically_normal().string();
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

}  // namespace

Result<Manifest> parseManifest(const std::string& text, const std::string& path, const ManifestOptions& opts) {
  auto root = parseJsonText(text, path);
  if (!root) return root.error();
  Manifest m;
  m.path = path;
  m.dir = manifestDir(path);
  m.digest = fnv1a64Hex(text);
  Loader loader(path, m.dir, opts);
  MPEXEC_TRY(loader.load(*root, m));
  return m;
}

Result<Manifest> loadManifest(const std::string& path, const ManifestOptions& opts) {
  auto text = readInputFile(path);
  if (!text.ok()) return text.error();
  return parseManifest(*text, path, opts);
}

}  // namespace mpexec
