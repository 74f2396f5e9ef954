#pragma once
// One manifest and its checks, shared by the tests that run the same attacks under another identity than
// the default sandbox of root (a user, uid 0 of a user namespace): a serial test reaches for its init, the
// next test and the group's teardown must still pass; another leaves setuid and setgid files in its
// writable path; another looks into the state directory.

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "tests/sandbox/escape_hostile_attacks.h"
#include "tests/support/mpexec_process.h"
#include "tests/support/temp_dir.h"

namespace mpexec::test {

/// Compiles the init probe and the setid attack into `dir` and writes `dir`/m.json (writable path
/// `dir`/w, the state directory beside the manifest); returns the manifest's path, or "" when cc failed.
inline std::string writeInitAndSetidManifest(const TempDir& dir) {
  std::string probe = dir.path() + "/init_probe", setid = dir.path() + "/setid_attack";
  for (auto [bin, source] : {std::pair{probe, escape::kInitProbe}, std::pair{setid, escape::kSetidAttack}}) {
    std::string src = dir.write(std::filesystem::path(bin).filename().string() + ".c", source);
    if (system(("cc -O1 -o '" + bin + "' '" + src + "'").c_str()) != 0) return "";
  }
  std::filesystem::create_directories(dir.path() + "/w");
  // The state directory (.mpexec beside the manifest) shows only the way to the unit's own output directory.
  std::string state_check = "find " + dir.path() + "/.mpexec; test $(find " + dir.path() +
                            "/.mpexec -name '*.log' -o -name state.json | wc -l) = 0";
  return dir.write("m.json", R"({"version": 1,
    "groups": {"g": {"teardown": ["/bin/echo", "bye"]}},
    "defaults": {"sandbox": {"writable": [")" + dir.path() + R"(/w"]}},
    "tests": [
      {"name": "probe", "cmd": [")" + probe + R"("], "group": "g", "strategy": "serial"},
      {"name": "after", "cmd": ["/bin/echo", "after"], "group": "g"},
      {"name": "setid", "cmd": [")" + setid + R"(", ")" + dir.path() + R"(/w"]},
      {"name": "state", "cmd": ["/bin/sh", "-c", ")" + state_check + R"("]}
    ]})");
}

/// What the run of that manifest must show: every test passed, nothing reached the init, no setuid or
/// setgid file was left.
inline void expectInitAndSetidContained(const boost::json::object& rep, const TempDir& dir) {
  auto logOf = [&](const char* t) {
    return readFile(dir.path() + "/" + std::string(testEntry(rep, t).at("log").as_string()));
  };
  for (const char* t : {"probe", "after", "setid", "state"})
    EXPECT_EQ(testEntry(rep, t).at("outcome").as_string(), "PASS") << t << ":\n" << logOf(t);
  std::string l = logOf("probe");
  for (const char* attempt : {"prlimit(1, NOFILE, 3): ok", "prlimit(1, NPROC, 1): ok", "ptrace(ATTACH, 1): ok",
                              "open /proc/1/oom_score_adj: ok"})
    EXPECT_EQ(l.find(attempt), std::string::npos) << l;
  EXPECT_NE(l.find("still here"), std::string::npos) << l;
  for (const auto& e : std::filesystem::directory_iterator(dir.path() + "/w")) {
    struct stat st;
    ASSERT_EQ(lstat(e.path().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & (S_ISUID | S_ISGID), 0u) << e.path() << " mode " << std::oct << st.st_mode;
  }
}

}  // namespace mpexec::test
