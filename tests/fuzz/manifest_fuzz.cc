// The manifest parser and validator (executor/manifest*.cc) on arbitrary text. A manifest that loads holds
// only what mpexec can run: named tests with unique names free of NUL and control characters, strings
// without NUL, timeouts in range, resources declared and never needed beyond what exists, and it repeated
// no key. One that does not gives a message that starts with the file and that a terminal can show as it is.

#include <cmath>
#include <set>

#include "executor/manifest.h"
#include "executor/printable.h"
#include "executor/utf8.h"
#include "tests/fuzz/fuzz_target.h"
#include "tests/fuzz/oracle.h"
#include "tests/support/temp_dir.h"

namespace mpexec::fuzz {
namespace {

// The project the manifests point into (the paths that seeds and the dictionary use).
const test::TempDir& project() {
  static const test::TempDir dir;
  static const bool filled = [] {
    dir.write("t.sh", "#!/bin/sh\nexit 0\n", true);
    dir.write("bin/tool", "#!/bin/sh\nexit 0\n", true);
    dir.write("bin/unit_tests", "#!/bin/sh\nexit 0\n", true);
    dir.write("plain.txt", "not a program\n");
    dir.write("sub/keep", "");
    dir.write("out/keep", "");
    return true;
  }();
  (void)filled;
  return dir;
}

// {"gtest": BIN} without running anything: BIN's text after its last '#' is its listing (so inputs can
// reach any listing), a BIN with "missing" in it cannot be listed, any other lists a fixed set of cases.
Result<std::vector<std::string>> fakeLister(const std::string& bin, const GtestListOptions&, const Settings&) {
  if (bin.find("missing") != std::string::npos) return Error{{}, 0, "cannot start it: No such file or directory"};
  std::size_t hash = bin.rfind('#');
  if (hash != std::string::npos) return parseGtestListing(std::string_view(bin).substr(hash + 1));
  return parseGtestListing("Suite.\n  a\n  b/0  # GetParam() = 0\nDISABLED_Off.\n  c\n");
}

bool hasNul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

// C0, DEL, or C1 (U+0080..U+009F, C2 80..C2 9F in UTF-8).
bool hasControl(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7F) return true;
    if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) <= 0x9F) return true;
  }
  return false;
}

void checkStrings(const std::vector<std::string>& v, const char* what) {
  for (const std::string& s : v) FUZZ_CHECK(!hasNul(s), "NUL in {}: {}", what, printable(s));
}

void checkSettings(const Settings& s, const std::string& who) {
  FUZZ_CHECK(std::isfinite(s.timeout_s) && s.timeout_s > 0 && s.timeout_s <= 365.0 * 24 * 3600, "{}: timeout {}",
             who, s.timeout_s);
  FUZZ_CHECK(s.cwd.starts_with('/') && !hasNul(s.cwd), "{}: cwd {}", who, printable(s.cwd));
  for (const auto& [k, v] : s.env) {
    FUZZ_CHECK(!k.empty() && k.find('=') == std::string::npos && !hasNul(k) && !hasNul(v), "{}: env {}={}", who,
               printable(k), printable(v));
  }
  checkStrings(s.sandbox.writable, "writable");
  FUZZ_CHECK(s.sandbox.pids <= 4194304, "{}: pids {}, more than the kernel takes", who, s.sandbox.pids);
}

// What a test or a group needs: declared resources, never more than exist (docs/manifest.md, "Resources").
void checkNeeds(const ResourceCounts& need, const ResourceCounts& exist, const std::string& who) {
  for (const auto& [name, n] : need) {
    auto e = exist.find(name);
    FUZZ_CHECK(e != exist.end(), "{} needs {}, which is not declared", printable(who), printable(name));
    FUZZ_CHECK(n >= 0 && n <= e->second, "{} needs {} {}, {} exist", printable(who), n, printable(name), e->second);
  }
}

}  // namespace
}  // namespace mpexec::fuzz

using namespace mpexec;
using namespace mpexec::fuzz;

MPEXEC_FUZZ_TARGET(manifest) {
  const std::string path = project().path() + "/m.json";
  ManifestOptions opts;
  opts.list_gtest = fakeLister;
  auto loaded = parseManifest(std::string(input), path, opts);
  if (!loaded.ok()) {
    const std::string msg = loaded.error().message();
    FUZZ_CHECK(msg.starts_with(path + ":"), "message without the file: {}", printable(msg));
    FUZZ_CHECK(isPrintable(msg), "message not printable as it is: {}", printable(msg));
    return;
  }
  const Manifest& m = *loaded;
  for (const auto& [name, n] : m.resources)
    FUZZ_CHECK(validResourceName(name) && n >= 0 && n <= kMaxResourceCount, "resource {}: {}", printable(name), n);
  std::string_view text = input.starts_with("\xEF\xBB\xBF") ? input.substr(3) : input;
  if (auto key = repeatedKey(text)) FUZZ_CHECK(false, "loaded with the key {} twice in one object", printable(*key));
  std::set<std::string_view> names;
  for (const TestSpec& t : m.tests) {
    FUZZ_CHECK(!t.name.empty() && !hasControl(t.name) && isValidUtf8(t.name), "test name {}", printable(t.name));
    FUZZ_CHECK(names.insert(t.name).second, "duplicate test name {}", printable(t.name));
    // A test of a batch group has no command of its own: its group's batch command runs it.
    auto bg = m.groups.find(t.group);
    const bool batched = bg != m.groups.end() && bg->second.batch.has_value();
    FUZZ_CHECK(batched ? t.cmd.empty() && !t.id.empty() : !t.cmd.empty() && !t.cmd[0].empty(), "{}: cmd or id", t.name);
    checkStrings(t.cmd, "cmd");
    checkStrings(t.labels, "labels");
    for (const auto* rules : {&t.output_rules.pass, &t.output_rules.fail, &t.output_rules.skip})
      for (const OutputPattern& p : *rules) FUZZ_CHECK(!p.text.empty() && !hasNul(p.text), "pattern {}", printable(p.text));
    checkSettings(t.settings, t.name);
    checkNeeds(t.resources, m.resources, t.name);
    FUZZ_CHECK(!t.skip_exit_code || (*t.skip_exit_code >= 0 && *t.skip_exit_code <= 255), "{}: skip_exit_code {}",
               t.name, t.skip_exit_code.value_or(-1));
    if (!t.group.empty()) {
      auto g = m.groups.find(t.group);
      FUZZ_CHECK(g != m.groups.end(), "{}: group {} not in groups", t.name, t.group);
      FUZZ_CHECK(g->second.strategy == t.strategy, "{}: strategy differs from its group's", t.name);
    } else {
      FUZZ_CHECK(t.strategy == Strategy::Free, "{}: a test without a group is not free", t.name);
    }
  }
  for (const auto& [name, g] : m.groups) {
    FUZZ_CHECK(!name.empty() && name.size() <= 128 && !hasControl(name) && name == g.name, "group name {}",
               printable(name));
    checkStrings(g.setup, "setup");
    checkStrings(g.teardown, "teardown");
    if (g.batch) {
      FUZZ_CHECK(!g.batch->cmd.empty() && !g.batch->cmd[0].empty(), "group {}: empty batch command", name);
      checkStrings(g.batch->cmd, "batch.cmd");
    }
    FUZZ_CHECK(g.setup.empty() || !g.setup[0].empty(), "group {}: empty setup program", name);
    FUZZ_CHECK(g.teardown.empty() || !g.teardown[0].empty(), "group {}: empty teardown program", name);
    checkSettings(g.settings, name);
    checkNeeds(g.resources, m.resources, name);
  }
}
