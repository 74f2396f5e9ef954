#include "executor/import/import_ctest.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "executor/import/ctest_groups.h"
#include "executor/import/ctest_program.h"
#include "executor/import/ctest_regex.h"
#include "executor/import/ctest_test.h"
#include "executor/manifest.h"
#include "executor/printable.h"
#include "executor/program_lookup.h"
#include "executor/utf8.h"

namespace mpexec {

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

constexpr double kNoTimeoutS = 365.0 * 24 * 3600;  // the manifest's largest timeout: CTest's TIMEOUT 0

// Properties that need no counterpart: reporting extras, and COST, an ordering hint that mpexec replaces
// with the durations it records itself.
const std::set<std::string, std::less<>> kIgnored = {"ATTACHED_FILES", "ATTACHED_FILES_ON_FAIL", "COST",
                                                     "MEASUREMENT", "_BACKTRACE_TRIPLES"};

// Why a property cannot be honoured; anything not here and not handled is "not understood".
const std::map<std::string, std::string, std::less<>> kUnhonoured = {
    {"REQUIRED_FILES", "not checked before the test runs"},
    {"ENVIRONMENT_MODIFICATION", "not applied; use ENVIRONMENT"},
    {"PROCESSORS", "every test takes one slot"},
    {"PROCESSOR_AFFINITY", "not applied"},
    {"TIMEOUT_AFTER_MATCH", "output is not matched"},
    {"TIMEOUT_SIGNAL_NAME", "a timeout sends SIGTERM, then SIGKILL after --kill-grace"},
    {"TIMEOUT_SIGNAL_GRACE_PERIOD", "a timeout sends SIGTERM, then SIGKILL after --kill-grace"},
    {"GENERATED_RESOURCE_SPEC_FILE", "not scheduled by resource spec"},
    {"DEPENDS", "order is kept only inside a serial group (a lock or a fixture), not across units"},
};

bool truthy(const json::value& v) {
  if (v.is_bool()) return v.get_bool();
  if (v.is_number()) return v.to_number<double>() != 0;
  if (const json::string* s = v.if_string()) {
    std::string u(s->begin(), s->end());
    std::transform(u.begin(), u.end(), u.begin(), [](unsigned char c) { return char(toupper(c)); });
    return u == "1" || u == "ON" || u == "YES" || u == "TRUE" || u == "Y";
  }
  return false;
}

std::string text(const json::string& s) { return std::string(s.data(), s.size()); }

// A list property arrives as an array of strings, or as one string.
std::vector<std::string> strings(const json::value& v) {
  std::vector<std::string> out;
  if (const json::string* s = v.if_string()) {
    out.push_back(text(*s));
  } else if (const json::array* a = v.if_array()) {
    for (const json::value& e : *a)
      if (const json::string* s = e.if_string()) out.push_back(text(*s));
  }
  return out;
}

// RESOURCE_GROUPS as json-v1 lists it: [{"requirements": [{".type": "gpus", "slots": 1}, ...]}, ...], a
// group per element ("2,gpus:1" comes as two). Two requirements of one resource in a group are one.
Result<ResourceGroups> resourceGroups(const json::value& v) {
  ResourceGroups out;
  const json::array* groups = v.if_array();
  if (groups == nullptr) return Error{{}, 0, "is not a list of groups"};
  for (const json::value& g : *groups) {
    const json::object* go = g.if_object();
    const json::value* reqs = go ? go->if_contains("requirements") : nullptr;
    if (reqs == nullptr || !reqs->is_array()) return Error{{}, 0, "has a group without \"requirements\""};
    ResourceCounts& group = out.emplace_back();
    for (const json::value& r : reqs->as_array()) {
      const json::object* ro = r.if_object();
      const json::value* type = ro ? ro->if_contains(".type") : nullptr;
      const json::value* slots = ro ? ro->if_contains("slots") : nullptr;
      if (type == nullptr || !type->is_string() || slots == nullptr || !slots->is_int64())
        return Error{{}, 0, "has a requirement without \".type\" and \"slots\""};
      std::string name = text(type->as_string());
      if (!validResourceName(name)) return Error{{}, 0, fmt::format("names a resource mpexec cannot ({})", printable(name))};
      if (slots->get_int64() < 1 || slots->get_int64() > kMaxResourceCount)
        return Error{{}, 0, fmt::format("asks for {} slots of {}", slots->get_int64(), name)};
      int& mine = group[name];
      mine = std::max(mine, int(slots->get_int64()));
    }
    if (group.empty()) out.pop_back();
  }
  return out;
}

bool hasNul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

// A name with its control characters shown, tabs too ("\t"), so that the result is a valid test name.
std::string visibleName(std::string_view name) {
  std::string out;
  for (char c : printable(name)) c == '\t' ? out += "\\t" : out += c;
  return out;
}

std::string joinNames(const std::vector<std::string>& names) {
  constexpr std::size_t kShown = 10;
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < kShown; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > kShown) out += fmt::format(" and {} more", names.size() - kShown);
  return out;
}

Result<CtestTest> readTest(const json::object& o, std::size_t index, CtestImport& out) {
  CtestTest t;
  const json::string* name = o.contains("name") ? o.at("name").if_string() : nullptr;
  if (name == nullptr) return Error{{}, 0, fmt::format("/tests/{}: expected a \"name\" string", index)};
  t.name = t.ctest_name = text(*name);
  const std::string shown = printable(t.name);  // for warnings, which go to a terminal
  if (const json::value* c = o.if_contains("command")) t.cmd = strings(*c);
  const json::array* props = o.contains("properties") ? o.at("properties").if_array() : nullptr;
  if (props == nullptr) return t;
  for (const json::value& pv : *props) {
    const json::object* p = pv.if_object();
    if (p == nullptr || !p->contains("name") || !p->at("name").is_string() || !p->contains("value")) continue;
    std::string key = text(p->at("name").as_string());
    const json::value& v = p->at("value");
    if (key == "WORKING_DIRECTORY") {
      if (v.is_string()) t.cwd = text(v.as_string());
    } else if (key == "ENVIRONMENT") {
      for (const std::string& kv : strings(v)) {
        std::size_t eq = kv.find('=');
        if (eq == std::string::npos || eq == 0 || hasNul(kv)) {
          out.warnings.push_back(fmt::format("warning: {}: ENVIRONMENT entry '{}' is not NAME=VALUE without NUL; left out",
                                             shown, printable(kv)));
          continue;
        }
        t.env[kv.substr(0, eq)] = kv.substr(eq + 1);
      }
    } else if (key == "TIMEOUT") {
      if (v.is_number()) {
        double s = v.to_number<double>();
        t.timeout_s = s > 0 && s < kNoTimeoutS ? s : kNoTimeoutS;
      }
    } else if (key == "LABELS") {
      for (std::string& l : strings(v)) {
        if (hasNul(l)) {
          out.warnings.push_back(fmt::format("warning: {}: label '{}' holds a NUL character; left out", shown, printable(l)));
        } else {
          t.labels.push_back(std::move(l));
        }
      }
    } else if (key == "DISABLED") {
      t.disabled = truthy(v);
    } else if (key == "WILL_FAIL") {
      t.will_fail = truthy(v);
    } else if (key == "RUN_SERIAL") {
      t.run_serial = truthy(v);
    } else if (key == "SKIP_RETURN_CODE") {
      if (v.is_int64() && v.get_int64() >= 0 && v.get_int64() <= 255) {
        t.skip_exit_code = int(v.get_int64());
      } else {
        out.warnings.push_back(fmt::format("warning: {}: SKIP_RETURN_CODE {} is not 0..255; left out", shown, printable(json::serialize(v))));
      }
    } else if (key == "PASS_REGULAR_EXPRESSION") {
      t.pass_re = strings(v);
    } else if (key == "FAIL_REGULAR_EXPRESSION") {
      t.fail_re = strings(v);
    } else if (key == "SKIP_REGULAR_EXPRESSION") {
      t.skip_re = strings(v);
    } else if (key == "RESOURCE_GROUPS") {
      if (auto groups = resourceGroups(v); groups.ok()) {
        t.resource_groups = std::move(groups.value());
      } else {
        out.warnings.push_back(fmt::format("warning: {}: RESOURCE_GROUPS {} {}; left out", shown,
                                           printable(json::serialize(v)), groups.error().detail));
      }
    } else if (key == "RESOURCE_LOCK") {
      t.locks = strings(v);
    } else if (key == "FIXTURES_SETUP") {
      t.fixtures_setup = strings(v);
    } else if (key == "FIXTURES_REQUIRED") {
      t.fixtures_required = strings(v);
    } else if (key == "FIXTURES_CLEANUP") {
      t.fixtures_cleanup = strings(v);
    } else if (key == "DEPENDS") {
      t.depends = strings(v);
    } else if (key == "PROCESSORS") {
      if (!(v.is_number() && v.to_number<double>() <= 1)) t.unhandled.emplace(key, v);
    } else if (!kIgnored.contains(key)) {
      t.unhandled.emplace(key, v);
    }
  }
  return t;
}

// What the manifest checks of a test's working directory and command (program_lookup.h), checked now:
// a test that would fail them becomes a test that fails saying why, as CTest would fail it.
void checkRunnable(CtestTest& t, const CtestImportOptions& opts) {
  std::error_code ec;
  const fs::path base = opts.build_dir.empty() ? fs::current_path(ec) : fs::path(opts.build_dir);
  // The manifest resolves relative paths against its own directory, which is not known here.
  auto absolute = [&](const std::string& p) {
    std::string abs = (p.starts_with('/') ? fs::path(p) : base / p).lexically_normal().string();
    while (abs.size() > 1 && abs.back() == '/') abs.pop_back();
    return abs;
  };
  if (!t.cwd.empty()) {
    std::string why = hasNul(t.cwd) ? "its WORKING_DIRECTORY holds a NUL character" : "";
    if (why.empty()) {
      t.cwd = absolute(t.cwd);
      if (std::string problem = directoryProblem(t.cwd); !problem.empty()) why = "WORKING_DIRECTORY: " + problem;
    }
    if (!why.empty()) {
      t.missing_cmd = why;
      t.cwd.clear();
      return;
    }
  }
  if (t.cmd.empty()) {
    t.missing_cmd = "ctest lists no command for it (not available in this configuration? try -C CONFIG)";
    return;
  }
  for (std::size_t i = 0; i < t.cmd.size(); ++i) {
    if (hasNul(t.cmd[i])) {
      t.missing_cmd = fmt::format("argument {} of its command holds a NUL character", i);
      return;
    }
  }
  std::string& exe = t.cmd[0];
  if (exe.empty()) {
    t.missing_cmd = "its command's program is an empty string";
  } else if (exe.find('/') != std::string::npos) {
    // CTest starts a relative program from the test's working directory.
    if (!exe.starts_with('/')) exe = (fs::path(t.cwd.empty() ? base.string() : t.cwd) / exe).lexically_normal().string();
    if (std::string why = executableProblem(exe); !why.empty()) t.missing_cmd = why + " (not built yet?)";
  } else if (std::string path = searchPathFor(t.env); findInPath(exe, path).empty()) {
    t.missing_cmd = fmt::format("{} is not an executable found in PATH ({})", printable(exe), printable(path));
  }
}

// Gives every test a name the manifest accepts, unique: CTest allows one name in two directories, control
// characters (policy CMP0110) and, from json-v1, an empty name. A name that must change is kept where
// it can be (its first use), else made visible ("\xNN") and given the first free suffix "#2", "#3"...,
// never a name another test has as it is; each change is a warning.
void nameTests(std::vector<CtestTest>& tests, CtestImport& out) {
  std::set<std::string, std::less<>> reserved, used;
  std::map<std::string, int, std::less<>> next_suffix;  // per base: where the search for a free one resumes
  for (const CtestTest& t : tests)
    if (isValidTestName(t.name)) reserved.insert(t.name);
  for (CtestTest& t : tests) {
    if (isValidTestName(t.name) && used.insert(t.name).second) continue;
    const char* why = t.name.empty()               ? "it is empty"
                      : !isValidTestName(t.name)   ? "it holds control characters"
                                                   : "CTest lists another test of that name (in another directory?)";
    std::string base = t.name.empty() ? "ctest.unnamed" : visibleName(t.name);
    std::string name = base;
    for (int& k = next_suffix.try_emplace(base, 2).first->second; used.contains(name) || reserved.contains(name); ++k)
      name = fmt::format("{}#{}", base, k);
    used.insert(name);
    out.warnings.push_back(fmt::format("warning: test {} is renamed {}: {}", printable(json::serialize(json::string_view(t.name))),
                                       printable(json::serialize(json::string_view(name))), why));
    t.name = std::move(name);
  }
}

}  // namespace

Result<CtestImport> importCtestJson(std::string_view json_text, const CtestImportOptions& opts) {
  // ctest prints the message of every regular expression it cannot compile on stdout, before the JSON.
  while (!json_text.empty() && json_text.front() != '{') {
    std::size_t eol = json_text.find('\n');
    json_text.remove_prefix(eol == std::string_view::npos ? json_text.size() : eol + 1);
  }
  boost::system::error_code ec;
  json::value root = json::parse(json_text, ec);
  const json::object* top = ec ? nullptr : root.if_object();
  if (top == nullptr || !top->contains("kind") || top->at("kind") != "ctestInfo")
    return Error{{}, 0, "not ctest's json-v1 output (expected an object with \"kind\": \"ctestInfo\")"};
  const json::array* listed = top->contains("tests") ? top->at("tests").if_array() : nullptr;
  if (listed == nullptr) return Error{{}, 0, "ctest's json-v1 output has no \"tests\" array"};

  CtestImport out;
  std::vector<CtestTest> tests;
  for (std::size_t i = 0; i < listed->size(); ++i) {
    const json::object* o = (*listed)[i].if_object();
    if (o == nullptr) return Error{{}, 0, fmt::format("/tests/{}: expected an object", i)};
    auto t = readTest(*o, i, out);
    if (!t.ok()) return t.error();
    if (t->disabled) {
      out.disabled.push_back(printable(t->name));
      continue;
    }
    checkRunnable(*t, opts);
    tests.push_back(std::move(t.value()));
  }
  nameTests(tests, out);

  // Tests that must not overlap, or must run in order, share a unit: one serial group per component.
  std::map<std::string, std::size_t> by_name;
  for (std::size_t i = 0; i < tests.size(); ++i) by_name.emplace(tests[i].ctest_name, i);
  const CtestGroups grouped = groupCtestTests(tests);
  for (const CtestGroup& g : grouped.groups) {
    if (!g.cycle) continue;
    std::vector<std::string> names;
    for (std::size_t i : g.members) names.push_back(tests[i].name);
    out.warnings.push_back(fmt::format("warning: group {}: fixtures or DEPENDS form a cycle; CTest's order kept: {}",
                                       g.name, joinNames(names)));
  }

  // Warnings per property, each naming its tests. DEPENDS is honoured when both tests share a group and
  // the dependency comes first there.
  std::map<std::string, std::vector<std::string>> unhonoured;
  for (std::size_t i = 0; i < tests.size(); ++i) {
    const CtestTest& t = tests[i];
    for (const auto& [key, value] : t.unhandled) unhonoured[key].push_back(t.name);
    for (const std::string& d : t.depends) {
      auto it = by_name.find(d);
      bool kept = it != by_name.end() && grouped.of_test[i] && grouped.of_test[i] == grouped.of_test[it->second];
      if (!kept && it != by_name.end()) unhonoured["DEPENDS"].push_back(t.name + " (on " + tests[it->second].name + ")");
    }
  }
  for (const auto& [key, names] : unhonoured) {
    auto why = kUnhonoured.find(key);
    out.warnings.push_back(fmt::format("warning: {} is not honoured ({}): {}", printable(key),
                                       why == kUnhonoured.end() ? "not understood by mpexec import" : why->second,
                                       joinNames(names)));
  }

  // ctest learns how many of each resource exist from --resource-spec-file when it runs; so does mpexec.
  std::set<std::string> needed;
  for (const CtestTest& t : tests)
    for (const ResourceCounts& g : t.resource_groups)
      for (const auto& [name, slots] : g) needed.insert(name);
  if (!needed.empty()) {
    std::string names, example;
    for (const std::string& n : needed) {
      names += (names.empty() ? "" : ", ") + n;
      example += (example.empty() ? "" : ",") + n + "=N";
    }
    out.warnings.push_back(fmt::format("warning: RESOURCE_GROUPS need {}: say how many exist when you run it, "
                                       "mpexec --resource-spec-file FILE (ctest's) or --resources {}",
                                       names, example));
  }

  auto toJson = [&](const CtestTest& t, const std::string& group) {
    json::object o;
    o["name"] = t.name;
    if (t.missing_cmd.empty()) {
      o["cmd"] = json::value_from(t.cmd);
    } else {
      out.warnings.push_back(fmt::format("warning: {}: {}; it will fail", t.name, t.missing_cmd));
      // The message travels as an argument, so it needs no quoting.
      o["cmd"] = json::array{"/bin/sh", "-c", "printf '%s\\n' \"$1\" >&2; exit 1", "mpexec",
                             "mpexec import ctest: " + t.missing_cmd};
    }
    if (!group.empty()) o["group"] = group;
    if (!t.cwd.empty()) o["cwd"] = t.cwd;
    if (!t.env.empty()) {
      json::object env;
      for (const auto& [k, v] : t.env) env[k] = v;
      o["env"] = std::move(env);
    }
    if (t.timeout_s) o["timeout"] = *t.timeout_s;
    if (!t.labels.empty()) o["labels"] = json::value_from(t.labels);
    // Without SKIP_RETURN_CODE no exit code means skip in CTest, 77 included.
    o["skip_exit_code"] = t.skip_exit_code ? json::value(*t.skip_exit_code) : json::value(nullptr);
    if (t.will_fail) o["will_fail"] = true;
    if (!t.resource_groups.empty()) {
      json::array groups;
      for (const ResourceCounts& g : t.resource_groups) {
        json::object slots;
        for (const auto& [name, n] : g) slots[name] = n;
        groups.push_back(std::move(slots));
      }
      o["resource_groups"] = std::move(groups);
    }
    for (auto [key, property, given] : {std::tuple{"pass_regex", "PASS_REGULAR_EXPRESSION", &t.pass_re},
                                        std::tuple{"fail_regex", "FAIL_REGULAR_EXPRESSION", &t.fail_re},
                                        std::tuple{"skip_regex", "SKIP_REGULAR_EXPRESSION", &t.skip_re}}) {
      json::array patterns;
      for (const std::string& re : *given) {
        if (re.empty()) continue;  // CTest's lists drop empty elements
        auto translated = ctestRegexToRe2(re, opts.max_regex_groups);
        if (translated.ok()) {
          patterns.emplace_back(translated.value());
          continue;
        }
        out.warnings.push_back(fmt::format("warning: {}: {} {} is not a regular expression ctest can compile ({}), "
                                           "so it never matches",
                                           t.name, property, json::serialize(json::string_view(re)),
                                           translated.error().detail));
      }
      // A test whose every PASS_REGULAR_EXPRESSION is broken still needs one, which nothing matches: CTest
      // fails it for finding none. Broken FAIL and SKIP ones match nothing and can go.
      if (patterns.empty() && std::string_view(key) == "pass_regex" && !given->empty()) patterns.emplace_back(kNeverMatches);
      if (!patterns.empty()) o[key] = std::move(patterns);
    }
    return o;
  };

  json::array out_tests;
  json::object groups;
  std::vector<bool> emitted(grouped.groups.size(), false);
  for (std::size_t i = 0; i < tests.size(); ++i) {
    if (!grouped.of_test[i]) {
      out_tests.push_back(toJson(tests[i], {}));
      continue;
    }
    std::size_t k = *grouped.of_test[i];
    if (emitted[k]) continue;
    emitted[k] = true;
    const CtestGroup& g = grouped.groups[k];
    groups[g.name] = json::object{{"strategy", g.isolated ? "isolated_serial" : "serial"}};
    for (std::size_t m : g.members) out_tests.push_back(toJson(tests[m], g.name));
  }

  json::object defaults{{"timeout", opts.default_timeout_s}};
  // CTest tests write into the build tree (their working directory, fixtures' files): keep it writable.
  if (!opts.build_dir.empty()) defaults["sandbox"] = json::object{{"writable", json::array{opts.build_dir}}};
  json::object manifest{{"version", 1}, {"defaults", std::move(defaults)}};
  if (!groups.empty()) manifest["groups"] = std::move(groups);
  manifest["tests"] = std::move(out_tests);
  out.manifest = json::serialize(manifest) + "\n";
  // Warnings quote names, commands and patterns, which CTest takes as they are: shown as the console shows
  // names, so that none rearranges a terminal's line (U+202B) or carries a control character.
  for (std::string& w : out.warnings) w = printable(w);
  return out;
}

int importCtestMain(int argc, char** argv) {
  const char* usage = "usage: mpexec import ctest BUILD_DIR [-C CONFIG] [--timeout S]\n";
  std::string dir, config;
  CtestImportOptions opts;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      fmt::print("{}  writes a manifest of the tests `ctest --show-only=json-v1` lists to stdout;\n"
                 "  --timeout S is the timeout of tests without TIMEOUT (1500, as CTest's default)\n", usage);
      return 0;
    }
    if ((a == "-C" || a == "--build-config" || a == "--timeout") && i + 1 < argc) {
      std::string v = argv[++i];
      if (a == "--timeout") {
        char* end = nullptr;
        double s = strtod(v.c_str(), &end);
        if (end == v.c_str() || *end != 0 || !(s > 0) || s > kNoTimeoutS) {
          fmt::print(stderr, "mpexec import ctest: --timeout: expected a positive number of seconds, got '{}'\n", v);
          return 2;
        }
        opts.default_timeout_s = s;
      } else {
        config = v;
      }
    } else if (a.starts_with("-") || !dir.empty()) {
      fmt::print(stderr, "mpexec import ctest: unexpected argument '{}'\n{}", a, usage);
      return 2;
    } else {
      dir = a;
    }
  }
  if (dir.empty()) {
    fmt::print(stderr, "{}", usage);
    return 2;
  }
  std::error_code ec;
  fs::path abs = fs::canonical(dir, ec);
  if (ec || !fs::is_directory(abs)) {
    fmt::print(stderr, "mpexec import ctest: {}: not a directory\n", dir);
    return 2;
  }
  opts.build_dir = abs.string();
  if (!isValidUtf8(opts.build_dir)) {
    fmt::print(stderr, "mpexec import ctest: {}: a manifest is UTF-8 and cannot name this directory\n", printable(opts.build_dir));
    return 2;
  }
  auto text = ctestShowOnly(opts.build_dir, config);
  opts.max_regex_groups = ctestMaxRegexGroups(opts.build_dir);
  if (!text.ok()) {
    fmt::print(stderr, "mpexec import ctest: {}\n", text.error().message());
    return 2;
  }
  auto imported = importCtestJson(*text, opts);
  if (!imported.ok()) {
    fmt::print(stderr, "mpexec import ctest: {}\n", printable(imported.error().message()));
    return 2;
  }
  if (!imported->disabled.empty())
    fmt::print(stderr, "mpexec import ctest: left out {} DISABLED test(s): {}\n", imported->disabled.size(),
               printable(joinNames(imported->disabled)));
  for (const auto& w : imported->warnings) fmt::print(stderr, "mpexec import ctest: {}\n", printable(w));
  fmt::print("{}", imported->manifest);
  return 0;
}

}  // namespace mpexec
