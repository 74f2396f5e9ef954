#include "executor/manifest.h"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <array>
#include <cmath>
#include <filesystem>
#include <utility>

#include "executor/gtest_list.h"
#include "executor/input_file.h"
#include "executor/json_location.h"
#include "executor/manifest_loader.h"
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

namespace manifest_loader {

namespace {

std::string joinKeys(Keys keys) {
  std::string out;
  for (std::string_view k : keys) {
    if (!out.empty()) out += ", ";
    out += k;
  }
  return out;
}

constexpr double kBuiltinTimeoutS = 60;
constexpr std::size_t kMaxGroupName = 128;

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

bool validGroupName(std::string_view g) {
  if (g.empty() || g.size() > kMaxGroupName || g == "." || g == "..") return false;
  for (char c : g) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
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

std::string manifestDir(const std::string& path) {
  std::error_code ec;
  fs::path abs = fs::absolute(path.empty() ? fs::path(".") / "manifest.json" : fs::path(path), ec);
  std::string dir = abs.parent_path().lexically_normal().string();
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

}  // namespace

std::string jsonQuoted(std::string_view s) { return printable(json::serialize(json::string_view(s.data(), s.size()))); }

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

}  // namespace manifest_loader

using manifest_loader::fnv1a64Hex;
using manifest_loader::Loader;
using manifest_loader::manifestDir;

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
